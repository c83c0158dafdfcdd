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
from pytorch_lightning.callbacks import Callback, Checkpoint
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only
from torch import Tensor
from typing_extensions import override

from predrnn import checks
from predrnn.cli.entry import STOP_SIGNALS
from predrnn.errors import TrainingStopped
from predrnn.files import write_json
from predrnn.training import media
from predrnn.training.console import end_progress_bar, lead_times_minutes, metric_names, print_metrics_table


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
                if not self.recent:  # the first loss, computed before any update: not the learning rate's doing
                    self.before_update = True
                    return (
                        f"training loss is {value} at its first step {step}, before any update: the weights it starts "
                        "from (a ckpt_path that overflows on this data?) or the data give it, not optim.lr; check that "
                        "the checkpoint and the model/data overrides belong together"
                    )
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
        if bad and getattr(self, "before_update", False):
            raise TrainingStopped(f"{problem}; nothing was saved")
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
                trainer._signal_connector.received_sigterm = True
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
        checkpoint = trainer._checkpoint_connector.dump_checkpoint(cb.save_weights_only)
        _validation_not_started(checkpoint)
        trainer.strategy.save_checkpoint(checkpoint, path)
        cb.last_model_path = str(path)


def _validation_not_started(checkpoint: dict) -> None:
    """Rewrite the validation loop's progress in `checkpoint` (saved during a validation that
    was cut short) as "restarted at its first batch", so that Lightning runs the validation
    again from the start on resume instead of skipping it."""
    loops = checkpoint.get("loops", {}).get("fit_loop", {})
    progress = loops.get("epoch_loop.val_loop.batch_progress")
    if not progress:
        return
    done = progress["total"]["completed"] - progress["current"]["completed"]  # before this validation
    progress["total"] = {"ready": done + 1, "started": done + 1, "processed": done, "completed": done}
    progress["current"] = {"ready": 1, "started": 1, "processed": 0, "completed": 0}
    progress["is_last_batch"] = False


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
        if _validates_now(trainer):
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


def _validates_now(trainer: pl.Trainer) -> bool:
    """Whether a validation follows the step that just ended."""
    loop = trainer.fit_loop.epoch_loop
    try:
        return bool(loop._should_check_val_fx(trainer.fit_loop._data_fetcher))
    except Exception:  # Lightning's private API moved: saving before the validation is the safe side
        return False


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


class PredictionMedia(Callback):
    """Image strips and GIFs of the first `num_sequences` sequences at validation and test,
    written under `<run>/media/` and logged to wandb / TensorBoard, from rank zero only: in
    colour for three channels, otherwise `channel` (default 0) in grey."""

    def __init__(
        self, num_sequences: int = 2, dirpath: str | None = None, channel: int | None = None, step: int | None = None
    ) -> None:
        self.num_sequences = num_sequences
        self.dirpath = dirpath
        self.channel = None if channel is None else checks.integer("channel", channel, 0, minimum=0)
        self.step = step  # the step the files are named after (predrnn-eval: the checkpoint's); None: the trainer's

    def _folder(self, trainer: pl.Trainer) -> Path:
        return Path(self.dirpath or trainer.default_root_dir) / "media"

    @rank_zero_only
    def _emit(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Tensor, preds: Tensor, stage: str
    ) -> None:
        if trainer.sanity_checking or self.num_sequences <= 0:
            return
        valid = pl_module.valid_of(batch)  # where the data has coverage (masked data), or None
        batch = pl_module.split_batch(batch)[0]  # the frames (a batch with actions is a dict)
        if valid is not None:  # no-coverage pixels drawn at the fill value in every row (media.to_uint8)
            batch = batch.masked_fill(~valid, float("nan"))
            preds = preds.masked_fill(~valid[:, pl_module.input_length :], float("nan"))
        j = pl_module.input_length  # `preds`: the K future frames (the module's step output)
        step = trainer.global_step if self.step is None else self.step
        tag = f"{stage}_step{step:07d}"
        images, gifs = [], []
        scaled = pl_module.normalization.to_metric_scale
        channel = self.channel
        for i in range(min(self.num_sequences, batch.shape[0])):
            seq, pred = scaled(batch[i]).cpu(), scaled(preds[i]).cpu()
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


def _add_lead_times(results: dict[str, Any], datamodule) -> None:
    """Data with times (a data module whose `time_step` is a np.timedelta64): each future
    frame's lead time in minutes, `lead_times_minutes`, beside the per-frame values."""
    step = getattr(datamodule, "time_step", None)
    if step is not None:
        names = metric_names(results)
        future = datamodule.eval_total_length - datamodule.input_length
        frames = len(results[f"{names[0]}_per_frame"]) if names else future
        results["lead_times_minutes"] = lead_times_minutes(step, frames)


def _directions(pl_module: pl.LightningModule) -> dict[str, bool]:
    """{metric name: higher_is_better} for each test metric that reports one value under its own
    key and declares a direction (torchmetrics' `higher_is_better`)."""
    metrics = getattr(getattr(pl_module, "test_metrics", None), "metrics", None) or {}
    results = getattr(pl_module, "test_results", {}) or {}
    return {
        key: bool(metric.higher_is_better)
        for key, metric in metrics.items()
        if getattr(metric, "higher_is_better", None) is not None and key in results
    }


class TestReport(Callback):
    """At test end: `metrics.json`, the per-frame plot and a per-frame table on the terminal."""

    def __init__(self, dirpath: str | None = None, extra: dict[str, Any] | None = None) -> None:
        self.dirpath = dirpath
        self.extra = extra or {}
        self.path: Path | None = None

    @override
    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        directions = _directions(pl_module)
        if directions and pl_module.test_results:  # the run summary judges the model against the baselines
            pl_module.test_results["higher_is_better"] = directions
        results = dict(pl_module.test_results)
        if not results or not trainer.is_global_zero:
            return
        folder = Path(self.dirpath or trainer.default_root_dir)
        folder.mkdir(parents=True, exist_ok=True)
        results.update(self.extra)
        _add_lead_times(results, getattr(trainer, "datamodule", None))
        results["convention"] = (
            "docs/metrics.md: <name> is the whole-forecast value (or the mean over the frames where it is defined), "
            "<name>_per_frame the value per future frame; null where a value is undefined"
        )
        self.path = folder / "metrics.json"
        write_json(self.path, results)
        baselines = results.get("baselines", {})
        media.plot_per_frame(folder / "metrics_per_frame.png", {"model": results, **baselines}, dashed=list(baselines))
        end_progress_bar(trainer)  # the table and its title after the test bar, not through it
        print_metrics_table(results)
        rank_zero_info(f"metrics written to {self.path}")
