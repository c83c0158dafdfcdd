"""An official PredRNN or OpenSTL checkpoint as a predrnn checkpoint (its settings saved with
it), so that eval, predict, export and fine-tuning take it like any other: the library side of
`predrnn-convert` (`cli/convert.py`). It sits outside `predrnn.checkpoints`, which imports
nothing of `predrnn.training` (tests/test_imports.py): the conversion builds the module."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from predrnn import checks
from predrnn.build import build_data, build_network
from predrnn.checkpoints import open_checkpoint
from predrnn.checkpoints.io import check_finite_weights
from predrnn.errors import CheckpointError
from predrnn.files import atomic_path, check_output


def convert(cfg: DictConfig, overrides: Sequence[str] = ()) -> Path:
    """Write `cfg.ckpt_path` (an official checkpoint) as a predrnn checkpoint at `cfg.output`,
    described by `cfg` and the command line's `overrides`; the path written."""
    import pytorch_lightning as pl
    import torch

    from predrnn.training.module import PredRNNModule

    checks.boolean("overwrite", cfg.overwrite)
    if cfg.ckpt_path == "last":
        raise CheckpointError("ckpt_path=last: give the official checkpoint's path")
    if not Path(str(cfg.ckpt_path)).expanduser().exists():  # io's message offers `last`, which convert takes not
        raise CheckpointError(f"ckpt_path={cfg.ckpt_path} not found: give the path of the official checkpoint file")
    out = check_output(cfg.output, ".ckpt", "output", inputs=[cfg.ckpt_path], overwrite=cfg.overwrite)
    datamodule = build_data(cfg)
    opened = open_checkpoint(
        cfg.ckpt_path, cfg, module_class=PredRNNModule, describe=lambda: build_network(cfg, datamodule),
        overrides=tuple(overrides),
    )  # fmt: skip
    if opened.kind == "predrnn":
        raise CheckpointError(
            f"ckpt_path={cfg.ckpt_path} is not an official PredRNN checkpoint (nor OpenSTL's): it is a predrnn "
            "checkpoint already, nothing to convert (use it as it is)"
        )
    module = opened.module
    native = {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "datamodule_hyper_parameters": dict(datamodule.hparams),
        "pytorch-lightning_version": pl.__version__,
        "epoch": 0,
        "global_step": 0,
        "converted_from": str(Path(cfg.ckpt_path).expanduser().resolve()),
    }
    check_finite_weights(native["state_dict"], cfg.ckpt_path, own=module.state_dict())  # never writes inf weights
    with atomic_path(out) as tmp:
        torch.save(native, tmp)
    print(f"converted {cfg.ckpt_path} -> {out.resolve()}")
    return out
