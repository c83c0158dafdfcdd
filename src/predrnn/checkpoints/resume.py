"""Which checkpoint a command means, and whether training resumes it or fine-tunes from it
(docs/checkpoints.md, "Resume or fine-tune"); whether the checkpoint fits this run is
`predrnn.compatibility`'s answer."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from predrnn.checkpoints.io import check_finite_weights, load_weights, read_checkpoint
from predrnn.checkpoints.native import legacy_weights, native_hparams
from predrnn.checkpoints.official import is_official
from predrnn.checkpoints.openstl import never_called, openstl_weights
from predrnn.checkpoints.reference import reference_weights
from predrnn.compatibility import (
    check_resume_data,
    check_same_network,
    normalization_change,
    optimiser_settings_dropped,
)
from predrnn.errors import CheckpointError


def resolve_checkpoint(path: str | None, candidates: list[Path] | None = None, where: str = "") -> str | None:
    """The checkpoint path to read (`read_checkpoint` checks that it exists); `last` means the
    newest of `candidates` (last.ckpt files that the caller found, e.g. of the same experiment)."""
    if path in (None, ""):
        return None
    if str(path) == "last":
        found = sorted(candidates or [], key=lambda p: p.stat().st_mtime)
        if not found:
            raise CheckpointError(f"ckpt_path=last but no last.ckpt {where}: train first or give a path")
        return str(found[-1].resolve())
    return str(Path(path).expanduser().resolve())


def last_checkpoints(log_dir: str | Path) -> list[Path]:
    """Every `last.ckpt` of the training runs under `log_dir`."""
    return list(Path(log_dir).glob("train/**/checkpoints/last.ckpt"))


def single_run_checkpoints(log_dir: str | Path) -> list[Path]:
    """What `ckpt_path=last` of eval, predict and export chooses from: the `last.ckpt` of the
    single training runs (`logs/train/runs/`), so that a later sweep's jobs never stand in for
    the run just trained; the sweep jobs' only where there is no single run."""
    single = list(Path(log_dir).glob("train/runs/*/checkpoints/last.ckpt"))
    return single or last_checkpoints(log_dir)


def _experiment(run: Path) -> str | None:
    try:
        hydra = yaml.safe_load((run / ".hydra" / "hydra.yaml").read_text())
        return hydra["hydra"]["runtime"]["choices"].get("experiment")
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return "?"


def same_experiment(log_dir: str | Path, output_dir: str | Path, experiment: str | None) -> list[Path]:
    """The `last.ckpt` files of earlier training runs of `experiment` (`ckpt_path=last` of
    predrnn-train), the run in `output_dir` excluded."""
    here = Path(output_dir).resolve()
    return [
        c for c in last_checkpoints(log_dir)
        if c.parents[1].resolve() != here and _experiment(c.parents[1]) == experiment
    ]  # fmt: skip


def note(message: str) -> None:
    from pytorch_lightning.utilities import rank_zero_only

    rank_zero_only(print)(f"predrnn-train: note: {message}", file=sys.stderr)


def start_from(ckpt_path: str, module) -> str | None:
    """Check `ckpt_path` before anything is written (read weights-only, tensors mapped) and
    return what `Trainer.fit` resumes from: a predrnn-train checkpoint with its optimiser state
    resumes (the path); an official, OpenSTL or converted checkpoint fine-tunes: its weights are
    loaded here, the optimiser is fresh and training starts at step 0 (None)."""
    state = read_checkpoint(ckpt_path, mmap=True)
    reference = state["net_param"] if is_official(state) else openstl_weights(state)
    if reference is not None:
        kind = "official" if is_official(state) else "OpenSTL"
        network = module.network
        weights, _ = reference_weights(reference, network, ckpt_path, "ckpt_path", kind.lower(), never_called(network))
        check_finite_weights(weights, ckpt_path, own=network.state_dict())
        network.load_state_dict(weights)
        note(f"fine-tuning from the {kind} checkpoint {ckpt_path}: its weights, a fresh optimiser, step 0")
        return None
    hparams = native_hparams(state, ckpt_path)
    check_same_network(ckpt_path, hparams["network"], module)
    changed = normalization_change(hparams.get("normalization"), module.normalization.as_dict())
    weights = state["state_dict"]
    if "_target_" not in state["hyper_parameters"]["network"]:
        weights = legacy_weights(weights, module)
    check_finite_weights(weights, ckpt_path, own=module.state_dict())
    if "optimizer_states" not in state or "loops" not in state:
        load_weights(module, weights, ckpt_path)
        note(f"fine-tuning from {ckpt_path} (weights only): a fresh optimiser, step 0")
        if changed:
            note(f"{ckpt_path} was trained on {changed}: its weights are fine-tuned in this data's units")
        return None
    check_resume_data(ckpt_path, changed)  # a resume continues a run on its own data
    dropped = optimiser_settings_dropped(hparams.get("optim") or {}, module.optim.as_dict())
    if dropped:  # the optimiser state carries the learning rate and weight decay
        note(f"resuming {ckpt_path} restores its optimiser state, so {', '.join(dropped)} does not take effect")
    return ckpt_path
