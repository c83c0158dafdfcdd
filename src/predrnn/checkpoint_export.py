"""A checkpoint's inference rollout exported as a self-contained artefact (ONNX, TorchScript or
an ExportedProgram, `predrnn.export`): the library side of `predrnn-export` (`cli/export.py`),
which opens the checkpoint, bounds the predicted frames by the memory the unrolled graph takes
and writes the artefact with its .json."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from predrnn import checks
from predrnn.build import described_network
from predrnn.checkpoints import open_checkpoint, resolve_checkpoint, single_run_checkpoints
from predrnn.export import FORMATS, Forecaster, export
from predrnn.files import check_output
from predrnn.threads import share_cpus

EXAMPLE_BATCH = 2  # the example batch `export` traces with
# the share of one step's allocations an exporter keeps per unrolled step: measured 1.5 MB of
# 5.0 MB for TorchScript (the smoke model, 64x64, widths [8, 8]); a quarter stays below that
TRACE_KEEPS = 0.25


def traced_step_bytes(network, normalization) -> int:
    """Bytes an export's graph grows by per predicted frame, from one real step: the rollout of
    1 and of 2 frames (the example batch) is run with every operation's output counted, and a
    share of the difference (TRACE_KEEPS) is what the tracer keeps. 0 where it can't be run."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    from predrnn.export import example_inputs

    class Allocated(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            self.total += sum(t.nbytes for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor))
            return out

    counted = []
    try:
        for k in (1, 2):
            rollout = Forecaster(network, k, normalization).eval()
            inputs = example_inputs(rollout, EXAMPLE_BATCH)
            with torch.no_grad(), Allocated() as mode:
                rollout(*inputs)
            counted.append(mode.total)
    except Exception:  # a network that can't be run this way: no estimate of its graph
        return 0
    return int(max(0, counted[1] - counted[0]) * TRACE_KEEPS)


def export_checkpoint(cfg: DictConfig, overrides: Sequence[str] = ()) -> Path:
    """Export the checkpoint `cfg.ckpt_path` (described by `cfg` and the command line's
    `overrides`) as `cfg.format` to `cfg.output` (+ .json); the path written."""
    from predrnn.training.module import PredRNNModule

    share_cpus(1)
    fmt = checks.choice("format", cfg.format, FORMATS, "onnx")
    checks.boolean("overwrite", cfg.overwrite)
    if cfg.num_predictions is not None:
        checks.integer("num_predictions", cfg.num_predictions, 10, minimum=1)
    ckpt = resolve_checkpoint(cfg.ckpt_path, single_run_checkpoints(cfg.paths.log_dir), "under logs/train")
    out = check_output(cfg.output, FORMATS[fmt], "output", inputs=[ckpt], overwrite=cfg.overwrite)
    check_output(
        out.with_name(out.name + ".json"), ".json", "output (its .json)", inputs=[ckpt], overwrite=cfg.overwrite
    )
    opened = open_checkpoint(
        ckpt, cfg, module_class=PredRNNModule, describe=lambda: described_network(cfg), overrides=tuple(overrides)
    )
    print(f"predrnn-export: checkpoint {opened.describe()}")
    module = opened.module
    per_step = traced_step_bytes(module.network, module.normalization)
    k = opened.future_frames(cfg.num_predictions, cfg.data, clips=EXAMPLE_BATCH, accelerator="cpu",
                             per_step=per_step, what="exporting them (the graph unrolls one step per frame)")  # fmt: skip
    info = export(
        Forecaster(module.network, k, module.normalization), fmt, out, source=str(ckpt), overwrite=cfg.overwrite
    )
    print(f"exported {fmt}: {info['input_length']} frames in, {k} out -> {out.resolve()} (+ .json)")
    return out
