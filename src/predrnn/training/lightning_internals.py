"""Every use of a private part of Lightning, in one place.

predrnn relies on a handful of Lightning internals that have no public equivalent: the signal
connector, the checkpoint connector's `dump_checkpoint`, the layout of the loops' progress in a
checkpoint, the epoch loop's "does a validation follow this step" test, the training batch
counter, a few methods of `RichProgressBar` and the arguments WandbLogger keeps for
`wandb.init`. Each is wrapped here in one small function whose docstring says why predrnn needs
it and what breaks if Lightning changes it, so that a Lightning upgrade is checked in this file,
and `pyproject.toml` pins the range the suite passed on. No other module of predrnn touches a
private Lightning name (tests/training/test_lightning_internals.py checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar


def cut_validation_short(trainer: pl.Trainer) -> None:
    """Make the validation that is running stop after its current batch.

    Why: a stop signal (GracefulStop) during a validation must not wait for the whole
    validation, which may not fit a scheduler's grace period. Lightning raises its
    `SIGTERMException` at the next batch when its signal connector says a SIGTERM came, so the
    flag is set as Lightning's own SIGTERM handler sets it.
    If Lightning changes it: the attribute is missing (AttributeError at the signal) or the
    flag is ignored, and the validation runs to its end before the run stops and saves.
    """
    trainer._signal_connector.received_sigterm = True


def dump_checkpoint(trainer: pl.Trainer, weights_only: bool = False) -> dict[str, Any]:
    """The checkpoint Lightning would save now, as a dict (not written).

    Why: a validation cut short (GracefulStop) saves `last.ckpt` with its loop progress
    rewritten (`mark_validation_not_started`) before writing it; `trainer.save_checkpoint`
    dumps and writes in one go, so the dict must be built by the checkpoint connector.
    If Lightning changes it: a signal during a validation saves no `last.ckpt` at the step
    reached (the exception from here stops the run as a failure).
    """
    return trainer._checkpoint_connector.dump_checkpoint(weights_only)


def mark_validation_not_started(checkpoint: dict) -> None:
    """Rewrite the validation loop's progress in `checkpoint` (saved during a validation that was
    cut short) as "restarted at its first batch", so that on resume Lightning runs that
    validation again from its start instead of skipping it.

    Why: Lightning resumes a loop from the counters in `checkpoint["loops"]["fit_loop"]`
    (`epoch_loop.val_loop.batch_progress`: `total` and `current` ready/started/processed/
    completed counts, `is_last_batch`); a half-done validation would otherwise be resumed half.
    If Lightning changes the layout: the key is not found and nothing is rewritten (the
    resumed run skips or shortens that one validation; its training is unaffected), or the
    counters mean something else and the resumed validation starts at another batch.
    """
    loops = checkpoint.get("loops", {}).get("fit_loop", {})
    progress = loops.get("epoch_loop.val_loop.batch_progress")
    if not progress:
        return
    done = progress["total"]["completed"] - progress["current"]["completed"]  # before this validation
    progress["total"] = {"ready": done + 1, "started": done + 1, "processed": done, "completed": done}
    progress["current"] = {"ready": 1, "started": 1, "processed": 0, "completed": 0}
    progress["is_last_batch"] = False


def validation_follows(trainer: pl.Trainer) -> bool:
    """Whether a validation follows the training step that just ended.

    Why: LastCheckpoint saves after that validation (where the checkpoint callback saves), so
    that a resumed run validates exactly where an uninterrupted one does; Lightning decides it
    in its epoch loop's `_should_check_val_fx(data_fetcher)`.
    If Lightning changes it: this answers False (any error), and LastCheckpoint saves before
    the validation instead of after it: still a resumable checkpoint, but a resume from it runs
    that validation again.
    """
    loop = trainer.fit_loop.epoch_loop
    try:
        return bool(loop._should_check_val_fx(trainer.fit_loop._data_fetcher))
    except Exception:  # Lightning's private API moved: saving before the validation is the safe side
        return False


def batches_drawn(trainer: pl.Trainer) -> Callable[[], int]:
    """A function giving how many training batches the run has drawn so far (restored from a
    checkpoint on resume).

    Why: the training stream numbers its batches by their place in the stream, so a resumed run
    draws exactly the batches an uninterrupted one would; the count that survives a checkpoint
    is the epoch loop's `batch_progress.total.ready`.
    If Lightning changes it: an AttributeError when the training loader is built (the run does
    not start), or a count that is not restored, and a resumed run draws its batches from the
    stream's start (no longer an exact resume).
    """
    progress = trainer.fit_loop.epoch_loop.batch_progress
    return lambda: progress.total.ready


# --- RichProgressBar: StepProgressBar (training/progress.py) counts optimiser steps in one bar ---


def close_rich_bar(bar: RichProgressBar) -> None:
    """Stop a live rich bar now, so that what is printed next comes after it, not through it.

    Why: the test report's table follows the test bar, which Lightning closes only at teardown.
    If Lightning changes it: an AttributeError at the end of a test (the table is not printed).
    """
    bar._stop_progress()


def start_rich_train_bar(bar: RichProgressBar) -> None:
    """Create the training bar's task (once per run, not per epoch).

    Why: Lightning creates and resets it at each epoch start; a run of `max_steps` has one bar.
    If Lightning changes it: an AttributeError at the first training step (the run stops).
    """
    bar._initialize_train_progress_bar_id()


def advance_rich_bar(bar: RichProgressBar, task_id: Any, completed: int) -> None:
    """Set a rich bar's task to `completed` (the optimiser step, not the batch of the epoch).

    If Lightning changes it: an AttributeError at the first training step (the run stops).
    """
    bar._update(task_id, completed)


def show_rich_bar_metrics(bar: RichProgressBar, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
    """Refresh the fields shown beside the bar (loss, p_true, val_mse).

    If Lightning changes it: an AttributeError at the first training step (the run stops).
    """
    bar._update_metrics(trainer, pl_module)


def name_rich_train_bar(bar_class: type[RichProgressBar], name: str) -> None:
    """Make `bar_class` call its training bar `name` instead of "Epoch N/M".

    Why: Lightning builds the description in the private `_get_train_description(epoch)`; a
    run counted in steps has no epoch to show.
    If Lightning changes it: the bar is called "Epoch 0/-2" again (nothing else breaks).
    """
    bar_class._get_train_description = lambda self, current_epoch: name


def drop_wandb_init_argument(logger: pl.loggers.WandbLogger, name: str) -> None:
    """Leave argument `name` out of the `wandb.init` call a WandbLogger makes at its first use.

    Why: Lightning's WandbLogger always passes `anonymous` (None by default) to `wandb.init`,
    and wandb warns on every run that the setting has no effect (training/loggers.py); the
    arguments wait in the logger's private `_wandb_init` dict until then.
    If Lightning changes it: an AttributeError when the logger is built (logger=wandb fails), or
    wandb's warning comes back (nothing else changes).
    """
    logger._wandb_init.pop(name, None)
