"""The checkpoints that make a run resumable: `last.ckpt` at the end of training or at a stop
signal (FinalCheckpoint), on a cadence of steps and seconds (LastCheckpoint), and the best
checkpoint's record carried over from the run a resume starts from (`keep_best_record`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback, Checkpoint
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities import rank_zero_only
from typing_extensions import override

from predrnn import checks
from predrnn.training.lightning_internals import dump_checkpoint, mark_validation_not_started, validation_follows
from predrnn.training.stopping import GracefulStop


class FinalCheckpoint(Callback):
    """Writes `last.ckpt` with the final state when training ends normally or is stopped by a
    signal (GracefulStop).

    Lightning's ModelCheckpoint saves at epoch ends and can skip the save when `max_steps`
    stops the run on an epoch's last batch, leaving `last.ckpt` one epoch behind.
    """

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        cb = trainer.checkpoint_callback
        if cb is None or not getattr(cb, "save_last", False) or cb.dirpath is None or trainer.interrupted:
            return
        path = Path(cb.dirpath) / f"{cb.CHECKPOINT_NAME_LAST}{cb.FILE_EXTENSION}"
        trainer.save_checkpoint(path, cb.save_weights_only)  # as the checkpoint callback saves (full: resumable)
        cb.last_model_path = str(path)

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """A signal during a validation (GracefulStop) stops it after the current batch: save
        the step reached, marked so that a resume runs that whole validation again."""
        from pytorch_lightning.utilities.exceptions import SIGTERMException

        stop = next((c for c in trainer.callbacks if isinstance(c, GracefulStop)), None)
        cb = trainer.checkpoint_callback
        if stop is None or not stop.in_validation or not isinstance(exception, SIGTERMException):
            return
        if cb is None or cb.dirpath is None or not getattr(cb, "save_last", False):
            return
        path = Path(cb.dirpath) / f"{cb.CHECKPOINT_NAME_LAST}{cb.FILE_EXTENSION}"
        checkpoint = dump_checkpoint(trainer, cb.save_weights_only)
        mark_validation_not_started(checkpoint)
        trainer.strategy.save_checkpoint(checkpoint, path)
        cb.last_model_path = str(path)


class LastCheckpoint(Checkpoint):
    """Writes `last.ckpt` every `every_n_steps` optimiser steps and every `every_seconds` of
    training, whatever the validation results (null: that cadence is off), so that after a
    `kill -9`, an out-of-memory kill or a lost machine it is never further behind than that;
    atomically, through the trainer's checkpoint IO (a temporary file, then a rename).

    A step followed by a validation saves after it (where the checkpoint callback saves), so a
    resumed run validates exactly where an uninterrupted one does. At the start of a resume
    the temporary files of a killed write in the resumed run's folder are removed, and the
    best-checkpoint record of the resumed run is kept: its best checkpoint is copied into this
    run's folder and its score restored, so `best_val_mse` and the best checkpoint are those of
    an uninterrupted run.

    A `Checkpoint` callback, so Lightning runs it after the checkpoint callback (which records
    the validation's score first)."""

    def __init__(self, every_n_steps: int | None = 100, every_seconds: float | None = 600.0) -> None:
        self.every_n_steps = None if every_n_steps is None else checks.integer(
            "every_n_steps", every_n_steps, 100, minimum=1
        )  # fmt: skip
        self.every_seconds = None if every_seconds is None else checks.number(
            "every_seconds", every_seconds, 600.0, minimum=1.0
        )  # fmt: skip
        self._last_time = 0.0
        self._last_step = -1
        self._pending = False
        self.saves = 0

    def _path(self, trainer: pl.Trainer) -> Path | None:
        cb = trainer.checkpoint_callback
        if cb is None or cb.dirpath is None:
            return None
        return Path(cb.dirpath) / f"{cb.CHECKPOINT_NAME_LAST}{cb.FILE_EXTENSION}"

    def _due(self, trainer: pl.Trainer) -> bool:
        import time

        step = trainer.global_step
        due = self.every_n_steps is not None and step % self.every_n_steps == 0
        if self.every_seconds is not None:
            late = time.monotonic() - self._last_time >= self.every_seconds
            if trainer.world_size > 1:  # every rank must take the same decision (the save is collective)
                late = bool(trainer.strategy.broadcast(late, src=0))
            due = due or late
        return due and step != self._last_step

    def save(self, trainer: pl.Trainer) -> None:
        import time

        path = self._path(trainer)
        if path is None or trainer.global_step == self._last_step:
            return
        trainer.save_checkpoint(path)  # the whole state (optimiser, loops): a resume continues from it
        trainer.checkpoint_callback.last_model_path = str(path)
        self._last_time, self._last_step, self._pending = time.monotonic(), trainer.global_step, False
        self.saves += 1

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import time

        self._last_time = time.monotonic()
        self._last_step = trainer.global_step  # a resumed run's step is in its checkpoint already

    @override
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self._due(trainer):
            return
        if validation_follows(trainer):
            self._pending = True  # after the validation, as the checkpoint callback saves
        else:
            self.save(trainer)

    @override
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending and trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
            self.save(trainer)

    @override
    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        if trainer.state.fn != TrainerFn.FITTING or trainer.ckpt_path is None:
            return
        from predrnn.files import remove_stale_temporaries_in

        remove_stale_temporaries_in(Path(trainer.ckpt_path).parent)
        keep_best_record(trainer, checkpoint)
        rank_zero_only(print)(
            f"predrnn-train: resuming at step {checkpoint.get('global_step', '?')}: the run continues exactly as an "
            "uninterrupted one (training batches are numbered by their place in the stream, the teacher mask is a "
            'function of the step; README, "Resume")',
            file=sys.stderr,
        )


def keep_best_record(trainer: pl.Trainer, checkpoint: dict) -> None:
    """Make the checkpoint callback's record in `checkpoint` (a run in another folder) this
    run's: its best checkpoints copied into this run's folder, its paths rewritten, so Lightning
    restores the score instead of starting the record afresh (and never deletes a file of the
    resumed run when a better one comes)."""
    import shutil

    cb = trainer.checkpoint_callback
    states = checkpoint.get("callbacks") or {}
    key = getattr(cb, "state_key", None)
    if cb is None or cb.dirpath is None or key not in states:
        return
    state = dict(states[key])
    old, new = state.get("dirpath"), str(cb.dirpath)
    if old is None or old == new:
        return
    Path(new).mkdir(parents=True, exist_ok=True)

    def moved(path: str | None) -> str | None:
        if not path:
            return path
        source = Path(path)
        if source.parent != Path(old):
            return path
        target = Path(new) / source.name
        if source.name != f"{cb.CHECKPOINT_NAME_LAST}{cb.FILE_EXTENSION}" and source.is_file() and not target.exists():
            from predrnn.files import atomic_path

            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
        return str(target)

    best_k = state.get("best_k_models") or {}
    state["best_k_models"] = {moved(p): v for p, v in best_k.items()}
    for name in ("best_model_path", "kth_best_model_path"):
        state[name] = moved(state.get(name))
    state["last_model_path"] = ""
    state["dirpath"] = new
    states[key] = state
