"""Reading and writing checkpoint files safely (docs/checkpoints.md).

- Every checkpoint is read with `torch.load(weights_only=True)`: tensors and plain data only, so
  a crafted file can't run code (a pickle that asks for any other object is refused). The
  explicit argument also wins over `TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`.
- Every checkpoint is written atomically (a temporary file in its own folder, then a rename),
  and only when all its weights are finite: a NaN never reaches a file.
"""

from __future__ import annotations

import math
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from predrnn.errors import CheckpointError, TrainingStopped
from predrnn.files import atomic_path


def read_checkpoint(path: str | Path, key: str = "ckpt_path", mmap: bool = False) -> dict[str, Any]:
    """The dict stored at `path`, read weights-only on the CPU, or a one-line CheckpointError.
    `mmap`: tensors are mapped, not read (for a look at the metadata)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{key}={path} not found: give a .ckpt file (or `last`)")
    with open(path, "rb") as f:
        zipped = f.read(4) == b"PK\x03\x04"  # torch.save writes a zip archive
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap and zipped)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found:
            raise CheckpointError(
                f"{key}={path} holds a Python object ({found.group(1)}), not just tensors: predrnn never unpickles code; "
                "use a checkpoint written by predrnn-train or predrnn-convert"
            )
        raise CheckpointError(f"{key}={path} is not a torch checkpoint (no pickle data): give a .ckpt file")
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        reason = "truncated or corrupt" if "zip" in str(err).lower() or isinstance(err, EOFError) else str(err)
        raise CheckpointError(
            f"{key}={path} is not a readable checkpoint ({reason.splitlines()[0]}): train again or copy it again"
        )
    if not isinstance(state, dict):
        raise CheckpointError(f"{key}={path} holds a {type(state).__name__}, not a checkpoint dict: give a .ckpt file")
    return state


def nonfinite_weights(state_dict: dict[str, Any]) -> list[str]:
    """Names of the floating-point tensors of `state_dict` that hold NaN or inf."""
    bad = []
    for name, value in state_dict.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            bad.append(name)
    return bad


def check_finite(weights: dict[str, Any], path: str | Path, key: str = "ckpt_path") -> None:
    """NaN or inf weights are never used: one line naming the first bad tensor."""
    bad = nonfinite_weights(dict(weights))
    if bad:
        raise CheckpointError(
            f"{key}={path} holds NaN/inf weights ({len(bad)} tensors, first {bad[0]}): use an earlier checkpoint"
        )


def check_normalization(hparams: dict[str, Any], path: str | Path, key: str = "ckpt_path") -> None:
    """A normalisation whose statistics are not finite, whose scale is 0 or whose metric range
    is empty would turn every prediction into NaN/inf: one line naming the first bad entry."""
    norm = hparams.get("normalization") if isinstance(hparams, dict) else None
    if not isinstance(norm, dict):
        return
    problem = None
    for name in ("shift", "scale", "low", "high"):
        values = norm.get(name)
        if values is None:
            continue
        for i, v in enumerate(values if isinstance(values, (list, tuple)) else [values]):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                problem = f"normalization.{name}[{i}] is {v}"
            elif name == "scale" and v == 0:
                problem = f"normalization.scale[{i}] is 0"
            if problem:
                break
        if problem:
            break
    low, high = norm.get("low"), norm.get("high")
    if problem is None and isinstance(low, list) and isinstance(high, list):
        same = next((i for i, (a, b) in enumerate(zip(low, high)) if a == b), None)
        if same is not None:
            problem = f"normalization.low[{same}] equals normalization.high[{same}] ({low[same]})"
    if problem:
        raise CheckpointError(
            f"{key}={path} holds an unusable normalisation ({problem}): its predictions would be NaN/inf; "
            "use an earlier checkpoint"
        )


def load_weights(module: torch.nn.Module, weights: dict[str, Any], path: str | Path, key: str = "ckpt_path") -> None:
    """`module.load_state_dict(weights)`, with a short error naming the first mismatches."""
    own = module.state_dict()
    problems = [f"{k} missing" for k in own if k not in weights]
    problems += [f"{k} unexpected" for k in weights if k not in own]
    problems += [
        f"{k} is {tuple(weights[k].shape)} here {tuple(own[k].shape)}"
        for k in own
        if k in weights and tuple(weights[k].shape) != tuple(own[k].shape)
    ]
    if problems:
        more = f" and {len(problems) - 2} more" if len(problems) > 2 else ""
        raise CheckpointError(
            f"{key}={path} does not fit the model ({'; '.join(problems[:2])}{more}): "
            "give the model overrides it was trained with, or another checkpoint"
        )
    module.load_state_dict(weights)


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with three guarantees: loads are weights-only, saves are atomic
    (temporary file + rename in the same folder), and a checkpoint with non-finite weights is
    never written (training stops instead, naming the last checkpoint that was verified)."""

    def __init__(self) -> None:
        self.last_verified: str | None = None

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        bad = nonfinite_weights(checkpoint.get("state_dict", {}))
        if bad:
            raise TrainingStopped(
                f"weights became NaN/inf ({len(bad)} tensors, e.g. {bad[0]}) by step {checkpoint.get('global_step')}; "
                f"nothing was saved: lower optim.lr or set trainer.gradient_clip_val=1.0; last good checkpoint: "
                f"{self.last_verified or 'none yet'}"
            )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)
        self.last_verified = str(path)

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict:
        return read_checkpoint(path)
