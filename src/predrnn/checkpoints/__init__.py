"""Checkpoints, in one place (docs/checkpoints.md): safe reading and writing (`io`), predrnn's
own format (`native`), the reference codes' formats (`official`, `openstl`, mapped by
`reference`), the one call that opens any of them (`open`) and the resume / fine-tune decision
(`resume`)."""

from predrnn.checkpoints.io import SafeCheckpointIO, load_weights, nonfinite_weights, read_checkpoint
from predrnn.checkpoints.open import OpenedCheckpoint, open_checkpoint
from predrnn.checkpoints.resume import (
    last_checkpoints,
    resolve_checkpoint,
    same_experiment,
    single_run_checkpoints,
    start_from,
)  # fmt: skip

__all__ = [
    "OpenedCheckpoint",
    "SafeCheckpointIO",
    "last_checkpoints",
    "load_weights",
    "nonfinite_weights",
    "open_checkpoint",
    "read_checkpoint",
    "resolve_checkpoint",
    "same_experiment",
    "single_run_checkpoints",
    "start_from",
]
