"""Callbacks of the training system: the training guard, the final checkpoint, media, the test report."""

from __future__ import annotations

import math
import signal
import statistics
import sys
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only
from torch import Tensor
from typing_extensions import override

from predrnn import checks
from predrnn.errors import TrainingStopped
from predrnn.files import write_json
from predrnn.training import media
from predrnn.training.console import print_metrics_table


class TrainingGuard(Callback):
    """Stops training when it goes wrong, before a checkpoint is written after it.

    The loss of every step is kept on its device (no host sync per step) and read every
    `check_every_n_steps` and before every checkpoint save. Training stops with one line when a
    loss is NaN/inf, or when it diverges: the median of the last `median_window` losses exceeds
    `divergence_factor` × the lowest such running median so far (null: no divergence check).
    The checkpoint IO (`predrnn.checkpoints.SafeCheckpointIO`) refuses non-finite weights too,
    so every checkpoint written is one whose weights were verified finite.
    """

    def __init__(
        self, check_every_n_steps: int = 50, divergence_factor: float | None = 100.0, median_window: int = 20
    ) -> None:
        self.every = checks.integer("check_every_n_steps", check_every_n_steps, 50, minimum=1)
        if divergence_factor is not None:
            checks.number("divergence_factor", divergence_factor, 100.0, minimum=1.0)
        self.factor = divergence_factor
        self.window = checks.integer("median_window", median_window, 20, minimum=1)
        self.pending: list[tuple[int, Tensor]] = []
        self.recent: deque[float] = deque(maxlen=self.window)
        self.best_median = math.inf

    def _problem(self) -> str | None:
        """Reads the pending losses (one sync) and says what is wrong, if anything."""
        if not self.pending:
            return None
        steps = [s for s, _ in self.pending]
        values = torch.stack([v.float() for _, v in self.pending]).tolist()
        self.pending.clear()
        for step, value in zip(steps, values):
            if not math.isfinite(value):
                return f"training loss became {value} at step {step}"
            self.recent.append(value)
            median = statistics.median(self.recent)
            self.best_median = min(self.best_median, median)
            if self.factor is not None and median > self.factor * self.best_median:
                return (
                    f"training diverged at step {step}: the median loss {median:.3g} is over "
                    f"{self.factor:g}× its lowest running median {self.best_median:.3g}"
                )
        return None

    def check(self, trainer: pl.Trainer) -> None:
        problem = self._problem()
        bad = problem is not None
        if trainer.world_size > 1:
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        if bad:
            last = getattr(trainer.strategy.checkpoint_io, "last_verified", None)
            raise TrainingStopped(
                f"{problem or 'another rank stopped'}; nothing was saved after it: lower optim.lr "
                f"(or set trainer.gradient_clip_val=1.0); last good checkpoint: {last or 'none yet'}"
            )

    @override
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, Tensor):
            self.pending.append((trainer.global_step - 1, loss.detach()))
        if trainer.global_step % self.every == 0:
            self.check(trainer)

    @override
    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            self.check(trainer)


class GracefulStop(Callback):
    """Ctrl-C (SIGINT) or SIGTERM (from `timeout`, a scheduler, a preempted machine) finishes
    the current step, saves `last.ckpt` at the step reached (FinalCheckpoint) and ends the run
    as "interrupted", so it can be resumed exactly. A second Ctrl-C stops at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._trainer: pl.Trainer | None = None

    def _handle(self, signum: int, frame) -> None:
        if self.received is not None and signum == signal.SIGINT:
            self._restore()
            raise KeyboardInterrupt
        self.received = signum
        if self._trainer is not None:
            self._trainer.should_stop = True
        name = signal.Signals(signum).name
        rank_zero_only(print)(
            f"predrnn-train: {name} received: stopping after this step and saving last.ckpt (Ctrl-C again: stop at once)",
            file=sys.stderr,
            flush=True,
        )

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
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore()

    @override
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore()


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


class PredictionMedia(Callback):
    """Image strips and GIFs of the first `num_sequences` sequences at validation and test,
    written under `<run>/media/` and logged to wandb / TensorBoard, from rank zero only: in
    colour for three channels, otherwise `channel` (default 0) in grey."""

    def __init__(self, num_sequences: int = 2, dirpath: str | None = None, channel: int | None = None) -> None:
        self.num_sequences = num_sequences
        self.dirpath = dirpath
        self.channel = None if channel is None else checks.integer("channel", channel, 0, minimum=0)

    def _folder(self, trainer: pl.Trainer) -> Path:
        return Path(self.dirpath or trainer.default_root_dir) / "media"

    @rank_zero_only
    def _emit(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Tensor, preds: Tensor, stage: str
    ) -> None:
        if trainer.sanity_checking or self.num_sequences <= 0:
            return
        batch = pl_module.split_batch(batch)[0]  # the frames (a batch with actions is a dict)
        j = pl_module.input_length
        tag = f"{stage}_step{trainer.global_step:07d}"
        images, gifs = [], []
        scaled = pl_module.normalization.to_metric_scale
        channel = self.channel
        for i in range(min(self.num_sequences, batch.shape[0])):
            seq, pred = scaled(batch[i]).cpu(), scaled(preds[i, j - 1 :]).cpu()
            inputs, truth = seq[:j], seq[j:]
            image = media.strip(inputs, truth, pred, channel=channel)
            png = media.write_png(self._folder(trainer) / f"{tag}_seq{i}.png", image)
            images.append(image)
            gifs.append(media.write_gif(png.with_suffix(".gif"), inputs, truth, pred, channel=channel))
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                logger.log_image(f"{stage}/strip", images=list(images), step=trainer.global_step)
                logger.experiment.log({f"{stage}/gif": [wandb.Video(str(g), format="gif") for g in gifs]}, commit=False)
            elif isinstance(logger, TensorBoardLogger):
                for i, image in enumerate(images):
                    form = "HWC" if image.ndim == 3 else "HW"
                    logger.experiment.add_image(f"{stage}/strip_{i}", image, trainer.global_step, dataformats=form)

    @override
    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0:
            self._emit(trainer, pl_module, batch, outputs["predictions"], "val")

    @override
    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0:
            self._emit(trainer, pl_module, batch, outputs["predictions"], "test")


class TestReport(Callback):
    """At test end: `metrics.json`, the per-frame plot and a per-frame table on the terminal."""

    def __init__(self, dirpath: str | None = None, extra: dict[str, Any] | None = None) -> None:
        self.dirpath = dirpath
        self.extra = extra or {}
        self.path: Path | None = None

    @override
    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        results = dict(pl_module.test_results)
        if not results or not trainer.is_global_zero:
            return
        folder = Path(self.dirpath or trainer.default_root_dir)
        folder.mkdir(parents=True, exist_ok=True)
        results.update(self.extra)
        results["convention"] = (
            "docs/metrics.md: <name> is the whole-forecast value (or the mean over the frames where it is defined), "
            "<name>_per_frame the value per future frame; null where a value is undefined"
        )
        self.path = folder / "metrics.json"
        write_json(self.path, results)
        baselines = results.get("baselines", {})
        media.plot_per_frame(folder / "metrics_per_frame.png", {"model": results, **baselines}, dashed=list(baselines))
        print_metrics_table(results)
        rank_zero_info(f"metrics written to {self.path}")
