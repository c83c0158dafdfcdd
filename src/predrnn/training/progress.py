"""The progress of a run in optimiser steps: one rich bar on a terminal (StepProgressBar), plain
periodic lines where the output is a file or a pipe (PlainProgress)."""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar, RichProgressBar
from rich.console import Console
from typing_extensions import override

from predrnn.training.lightning_internals import (
    advance_rich_bar,
    close_rich_bar,
    name_rich_train_bar,
    show_rich_bar_metrics,
    start_rich_train_bar,
)


def end_progress_bar(trainer: pl.Trainer) -> None:
    """Close a live rich bar (the test bar), so that what is printed next (the test table and
    its title) comes after it, not through it."""
    bar = getattr(trainer, "progress_bar_callback", None)
    if isinstance(bar, RichProgressBar) and bar.progress is not None:
        close_rich_bar(bar)


# the progress bar's fields under short names, so that the bar fits an 80-column terminal
BAR_FIELDS = {"train/loss": "loss", "sampling/decoder_p": "p_true", "val/mse": "val_mse"}


def _shown(items: dict[str, Any]) -> dict[str, str]:
    """The bar's fields (BAR_FIELDS) of Lightning's progress-bar metrics, under their short names."""
    shown = {}
    for key, short in BAR_FIELDS.items():
        if key in items:
            value = items[key]
            shown[short] = f"{float(value):.3g}" if isinstance(value, (int, float)) else str(value)
    return shown


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def interactive() -> bool:
    """Whether the console shows a live bar: a terminal (FORCE_COLOR=1 counts as one) or a notebook."""
    console = Console()
    return console.is_terminal or console.is_jupyter


class PlainProgress(ProgressBar):
    """The progress of a run whose output is not a terminal (a log file, a pipe, a scheduler's
    output file): one plain line at most every `every_seconds` and at every tenth of
    `trainer.max_steps`, and one at the end of training, each with the step, the time spent and
    left, and the bar's fields (loss, p_true, val_mse). StepProgressBar turns into this where
    there is no terminal, so `predrnn-train … > run.log` shows progress as it goes."""

    def __init__(self, every_seconds: float = 30.0, every_fraction: float = 0.1) -> None:
        super().__init__()
        self.every_seconds, self.every_fraction = every_seconds, every_fraction
        self._enabled = True
        self._start = self._last = 0.0
        self._first_step = 0
        self._next_step = 0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def _stride(self, total: int) -> int:
        return max(1, int(total * self.every_fraction)) if total > 0 else 100

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = self._last = time.monotonic()
        self._first_step = trainer.global_step  # a resumed run counts its time from here
        stride = self._stride(trainer.max_steps)
        self._next_step = (trainer.global_step // stride + 1) * stride

    def line(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> str:
        step, total = trainer.global_step, trainer.max_steps
        spent = time.monotonic() - self._start
        parts = [f"train {step}/{total}" if total > 0 else f"train {step}"]
        if total > 0:
            parts[0] += f" ({100 * step / total:.0f} %)"
        parts.append(f"{_clock(spent)} spent")
        done = step - self._first_step
        if total > 0 and done > 0 and step < total:
            parts.append(f"about {_clock(spent / done * (total - step))} left")
        fields = _shown(self.get_metrics(trainer, pl_module))
        parts += [f"{k} {v}" for k, v in fields.items()]
        return ", ".join(parts)

    @override
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self._enabled:
            return
        now, step = time.monotonic(), trainer.global_step
        if 0 < trainer.max_steps <= step:  # the last step: on_train_end prints it, after the last validation
            return
        if step >= self._next_step or now - self._last >= self.every_seconds:
            print(self.line(trainer, pl_module), flush=True)
            self._last = now
            stride = self._stride(trainer.max_steps)
            self._next_step = (step // stride + 1) * stride

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._enabled and trainer.global_step != self._first_step:
            print(self.line(trainer, pl_module), flush=True)


class StepProgressBar(RichProgressBar):
    """One bar for the whole run, counting optimiser steps towards `trainer.max_steps` with the
    time left, instead of an epoch bar of an endless epoch loop. It shows the training loss
    (`loss`), the sampling probability of a true frame (`p_true`, sampling/decoder_p) and the
    last validation MSE (`val_mse`), in one line of at most 80 columns. Where the output is not
    a terminal, it is `PlainProgress` instead (periodic plain lines)."""

    def __new__(cls, *args: Any, **kwargs: Any):
        if cls is StepProgressBar and not interactive():
            return PlainProgress()  # not a StepProgressBar: Python leaves its __init__ alone
        return super().__new__(cls)

    @property
    def validation_description(self) -> str:
        return "val"

    @override
    def configure_columns(self, trainer: pl.Trainer) -> list:
        from rich.progress import BarColumn, TextColumn, TimeRemainingColumn

        return [
            TextColumn("[progress.description]{task.description}"),
            BarColumn(bar_width=16),
            TextColumn("{task.completed}/{task.total}", style=self.theme.batch_progress),
            TimeRemainingColumn(elapsed_when_finished=True),
        ]

    @property
    def total_train_batches(self) -> int | float:
        max_steps = self.trainer.max_steps
        return max_steps if max_steps > 0 else super().total_train_batches

    @override
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.is_disabled or self.progress is None:
            return
        if self.train_progress_bar_id is None:  # once per run, not per epoch
            start_rich_train_bar(self)
            advance_rich_bar(self, self.train_progress_bar_id, trainer.global_step)
        self.refresh()

    @override
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.is_disabled and self.train_progress_bar_id is None:
            start_rich_train_bar(self)
        advance_rich_bar(self, self.train_progress_bar_id, trainer.global_step)
        show_rich_bar_metrics(self, trainer, pl_module)
        self.refresh()

    @override
    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        return _shown(super().get_metrics(trainer, pl_module))


name_rich_train_bar(StepProgressBar, "train")  # a run counted in steps has no epoch to name
