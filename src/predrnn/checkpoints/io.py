"""Reading and writing checkpoint files safely (docs/checkpoints.md).

- Every checkpoint is read with `torch.load(weights_only=True)`: tensors and plain data only, so
  a crafted file can't run code (a pickle that asks for any other object is refused). The
  explicit argument also wins over `TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`.
- Every checkpoint is written atomically (a temporary file in its own folder, then a rename),
  and only when all its weights are finite: a NaN never reaches a file.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from predrnn.compatibility import check_weights_fit
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


def _flat_storage(value: torch.Tensor) -> torch.Tensor:
    """The elements a tensor can read, without materialising it: the tensor itself, or, for a
    view larger than its storage (a zero-stride `expand` of a 330 KB file claiming 400 GB), its
    storage as one flat tensor (every element the view reads is one of them)."""
    storage = value.untyped_storage()
    if value.numel() * value.element_size() <= storage.nbytes():
        return value
    return torch.empty(0, dtype=value.dtype).set_(storage)


def weight_problem(value: Any, dtype: torch.dtype = torch.float32) -> str | None:
    """What makes `value` unusable as a weight that runs in `dtype` (None: nothing): a weight is
    a real floating tensor (not integer, bool or complex) whose values are finite once cast to
    `dtype` (a float64 1e300 is inf in float32). A view larger than its storage is checked
    through the storage, so the check never allocates more than the file holds."""
    if not isinstance(value, torch.Tensor):
        return f"is a {type(value).__name__}, not a tensor"
    if not value.dtype.is_floating_point:
        return f"is {str(value.dtype).removeprefix('torch.')}, not a floating-point tensor"
    flat = _flat_storage(value)
    if not torch.isfinite(flat).all():
        return "holds NaN/inf"
    if torch.finfo(value.dtype).max > torch.finfo(dtype).max and not torch.isfinite(flat.to(dtype)).all():
        return f"holds values beyond {str(dtype).removeprefix('torch.')}'s range (±{torch.finfo(dtype).max:.3g}), inf once cast"
    return None


def nonfinite_weights(state_dict: dict[str, Any]) -> list[str]:
    """Names of the floating-point tensors of `state_dict` that hold NaN or inf (the save-time
    check of training, whose weights are the module's own, of its own dtype)."""
    bad = []
    for name, value in state_dict.items():
        if (
            isinstance(value, torch.Tensor)
            and value.is_floating_point()
            and not torch.isfinite(_flat_storage(value)).all()
        ):
            bad.append(name)
    return bad


def check_finite_weights(
    weights: dict[str, Any], path: str | Path, key: str = "ckpt_path", own: dict[str, Any] | None = None
) -> None:
    """Weights that are not what they seem are never used (docs/checkpoints.md): each must be a
    real floating tensor, finite in the dtype it will run in (the module's tensor of that name in
    `own`, float32 where not known). A tensor the module holds as an integer (a counter) must be
    an integer tensor. One line naming the first bad tensor."""
    nonfinite, other = [], None
    for name, value in dict(weights).items():
        mine = None if own is None else own.get(name)
        if isinstance(mine, torch.Tensor) and not mine.dtype.is_floating_point:
            if not isinstance(value, torch.Tensor) or value.dtype.is_floating_point or value.dtype.is_complex:
                other = other or (name, f"is {getattr(value, 'dtype', type(value).__name__)}, the model's {mine.dtype}")
            continue
        problem = weight_problem(value, mine.dtype if isinstance(mine, torch.Tensor) else torch.float32)
        if problem == "holds NaN/inf":
            nonfinite.append(name)
        elif problem is not None:
            other = other or (name, problem)
    if nonfinite:
        raise CheckpointError(
            f"{key}={path} holds NaN/inf weights ({len(nonfinite)} tensors, first {nonfinite[0]}): use an earlier checkpoint"
        )
    if other is not None:
        raise CheckpointError(
            f"{key}={path}: weight {other[0]} {other[1]}: a checkpoint holds real floating-point weights, finite in "
            "float32; use another checkpoint"
        )


def check_normalization(hparams: dict[str, Any], path: str | Path, key: str = "ckpt_path") -> None:
    """A normalisation whose statistics are not finite, whose scale is not positive or too small
    for the data's range, or whose metric range is empty would turn predictions into NaN/inf or
    noise (`normalization.statistics_problem`): one line naming the first bad entry."""
    from predrnn.data.normalization import statistics_problem

    norm = hparams.get("normalization") if isinstance(hparams, dict) else None
    if not isinstance(norm, dict):
        return
    problem = statistics_problem(norm)
    if problem:
        raise CheckpointError(
            f"{key}={path} holds an unusable normalisation ({problem}): its predictions would be NaN/inf; "
            "use an earlier checkpoint"
        )


def load_weights(module: torch.nn.Module, weights: dict[str, Any], path: str | Path, key: str = "ckpt_path") -> None:
    """`module.load_state_dict(weights)`, with a short error naming the first mismatches
    (`compatibility.check_weights_fit`)."""
    check_weights_fit(module.state_dict(), weights, path, key)
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
