"""GracefulStop: a stop signal finishes the step, saves `last.ckpt` and ends the run as
"interrupted", resumable exactly (docs/resume.md)."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities import rank_zero_only
from typing_extensions import override

from predrnn.training.lightning_internals import cut_validation_short
from predrnn.training.signals import STOP_SIGNALS


class GracefulStop(Callback):
    """Ctrl-C (SIGINT), SIGTERM (from `timeout`, a scheduler, a preempted machine), SIGHUP (a
    closed terminal) or SIGUSR1 (a scheduler's notice before a job's end) finishes
    the current step, saves `last.ckpt` at the step reached (FinalCheckpoint) and ends the run
    as "interrupted", so it can be resumed exactly. A second Ctrl-C stops at once.

    Under DDP every rank must stop at the same step, or the others wait for it forever in the
    next collective: the ranks agree at the end of each training step (the largest signal any
    of them received, one all-reduce of one number), and the first rank passes a signal on to
    the ranks it launched, so that a signal sent to it alone (`kill PID`, a container's SIGTERM
    to its first process) also cuts their validation short. A validation being cut short
    stops each rank after its current batch."""

    SIGNALS = STOP_SIGNALS  # also SIGHUP (a closed terminal) and SIGUSR1 (a scheduler's warning)

    def __init__(self) -> None:
        self.received: int | None = None
        self.in_validation = False  # the signal came during a validation, which was cut short
        self._previous: dict[int, Any] = {}
        self._trainer: pl.Trainer | None = None

    def _handle(self, signum: int, frame) -> None:
        if self.received is not None and signum == signal.SIGINT:
            self._restore()
            raise KeyboardInterrupt
        first = self.received is None
        self.received = signum
        trainer = self._trainer
        if trainer is not None:
            if not _distributed(trainer):  # under DDP the ranks agree at the step's end
                self._stop_training(trainer)
            if trainer.validating and not trainer.sanity_checking:  # stop the one running after this batch
                self.in_validation = True
                trainer.limit_val_batches = 0
                cut_validation_short(trainer)
            if first:
                _pass_on_to_launched_ranks(trainer)
        name = signal.Signals(signum).name
        rank_zero_only(print)(
            f"predrnn-train: {name} received: stopping after this step and saving last.ckpt (Ctrl-C again: stop at once)",
            file=sys.stderr,
            flush=True,
        )

    @staticmethod
    def _stop_training(trainer: pl.Trainer) -> None:
        trainer.should_stop = True
        trainer.limit_val_batches = 0  # no validation pass before the save (it may not fit a grace period)

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # here, not at fit start: Lightning installs its own SIGTERM handler in between
        if threading.current_thread() is threading.main_thread():
            self._trainer = trainer
            self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}

    @override
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        """Under DDP: every rank learns whether any received a signal, at the same step."""
        if not _distributed(trainer):
            return
        flag = torch.tensor([self.received or 0], device=trainer.strategy.root_device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if int(flag.item()):
            self.received = self.received or int(flag.item())
            self._stop_training(trainer)

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore()

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore()


def _distributed(trainer: pl.Trainer) -> bool:
    return trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()


def _pass_on_to_launched_ranks(trainer: pl.Trainer) -> None:
    """SIGTERM to the rank processes this one launched (Lightning's script launcher starts ranks
    1.. as its children); a rank that got the signal already just notes it again."""
    for proc in getattr(trainer.strategy.launcher, "procs", None) or []:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
