"""What a run shows on the terminal: a progress bar in steps, a model summary with the
network's FLOPs, no third-party noise, and a closing summary that says what was made and what
to run next."""

from __future__ import annotations

import functools
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar, RichModelSummary, RichProgressBar
from pytorch_lightning.utilities import rank_zero_only
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typing_extensions import override

from predrnn.command_line import network_overrides, override_text, script_command
from predrnn.models import api

# Third-party lines a normal run doesn't need, matched precisely (verbose=true shows them all).
NOISE_WARNINGS = (
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),  # Lightning's _pytree on torch >= 2.10
    # an epoch shorter than trainer.log_every_n_steps: the steps are logged all the same
    (Warning, r"The number of training batches \(\d+\) is smaller than the logging interval"),
    # a run that ends before its first validation: last.ckpt is still written (FinalCheckpoint)
    (Warning, r"`ModelCheckpoint\(monitor=.*could not find the monitored key"),
    # the test after fit uses the best checkpoint of the one callback that keeps a best (the other saves last.ckpt)
    (Warning, r"`\.test\(ckpt_path=\"best\"\)` is called with Trainer configured with multiple `ModelCheckpoint`"),
    # predrnn's resume is exact (batches numbered by position in the stream, the teacher mask a function of
    # the step): LastCheckpoint says so in one true line instead
    (Warning, r"You're resuming from a checkpoint that ended before the epoch ended and your dataloader is"),
    # predrnn's metrics are torchmetrics states reduced over DDP; the logged means are rank zero's (docs/metrics.md)
    (Warning, r"It is recommended to use `self\.log\(.*sync_dist=True\)`"),
    # the ONNX exporter on constant folding (predrnn exports the network in eval mode, its weights as constants)
    (Warning, r"It is recommended that constant folding be turned off"),
    (Warning, r".*[Cc]onstant folding"),
)
NOISE_LOGS = {
    # advertisements (litlogger, litmodels), the accelerator inventory (the run's device is in
    # summary.json), a note that our own summary replaces Lightning's
    "pytorch_lightning.utilities.rank_zero": (
        "💡 tip:", "litlogger", "litmodels", "gpu available:", "tpu available:", "hpu available:",
        "skipping setting a default `modelsummary`",
    ),
    "lightning_fabric.utilities.rank_zero": ("gpu available:", "tpu available:"),
    # every checkpoint predrnn reads is read with weights_only=True (SafeCheckpointIO) whatever this default says
    "pytorch_lightning.trainer.connectors.checkpoint_connector": ("`weights_only` was not set",),
    # the ONNX exporter, once per torchvision operator it would have registered
    "torch.onnx._internal.exporter._registration": ("torchvision is not installed",),
    "onnxscript.optimizer._constant_folding": ("constant folding",),
}  # fmt: skip


class _DropMessages(logging.Filter):
    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = tuple(f.lower() for f in fragments)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage().lower()
        return not any(f in message for f in self.fragments)


def quiet_console() -> None:
    """Drop the known third-party noise (and nothing else) from warnings and logs."""
    for category, pattern in NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    for name, fragments in NOISE_LOGS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in logger.filters):
            logger.addFilter(_DropMessages(fragments))


def end_progress_bar(trainer: pl.Trainer) -> None:
    """Close a live rich bar (the test bar), so that what is printed next (the test table and
    its title) comes after it, not through it."""
    bar = getattr(trainer, "progress_bar_callback", None)
    if isinstance(bar, RichProgressBar) and bar.progress is not None:
        bar._stop_progress()


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

    def _get_train_description(self, current_epoch: int) -> str:
        return "train"

    @override
    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.is_disabled or self.progress is None:
            return
        if self.train_progress_bar_id is None:  # once per run, not per epoch
            self._initialize_train_progress_bar_id()
            self._update(self.train_progress_bar_id, trainer.global_step)
        self.refresh()

    @override
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.is_disabled and self.train_progress_bar_id is None:
            self._initialize_train_progress_bar_id()
        self._update(self.train_progress_bar_id, trainer.global_step)
        self._update_metrics(trainer, pl_module)
        self.refresh()

    @override
    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        return _shown(super().get_metrics(trainer, pl_module))


class ModelSummary(RichModelSummary):
    """Lightning's summary table, with the network's analytic forward FLOPs per sequence (from
    its convolution shapes) where Lightning would need an example batch and print 0."""

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        total = getattr(trainer.datamodule, "total_length", None)
        self.flops = api.forward_flops(pl_module.network, 1, total) if total else None
        self.how = "analytic" if hasattr(pl_module.network, "forward_flops") else "counted"
        super().on_fit_start(trainer, pl_module)

    @override
    def summarize(self, summary_data, total_parameters, trainable_parameters, model_size, total_training_modes,
                  total_flops: int = 0, **kwargs) -> None:  # fmt: skip
        from pytorch_lightning.utilities.model_summary import get_human_readable_count

        columns = [c for c in summary_data if c[0] != "FLOPs"]  # per-layer FLOPs need an example batch
        table = Table(header_style="bold magenta")
        for name, _ in columns:
            table.add_column(name, justify="right" if name == "Params" else "left")
        for row in zip(*(values for _, values in columns), strict=True):
            table.add_row(*row)
        console = Console()
        console.print(table)
        console.print(
            f"[bold]Params[/]: {get_human_readable_count(total_parameters)} "
            f"({get_human_readable_count(trainable_parameters)} trainable, {model_size:0.2f} MB)  "
            f"[bold]FLOPs per sequence[/] (forward, {self.how}): "
            + ("unknown" if self.flops is None else get_human_readable_count(self.flops)),
            soft_wrap=True,
        )


def metric_names(results: dict[str, Any]) -> list[str]:
    """The metrics in `results`, in the order they came (each has a `<name>_per_frame`)."""
    return [k.removesuffix("_per_frame") for k in results if k.endswith("_per_frame")]


def fmt(value: float | None) -> str:
    """A metric value: 4 decimals below 10 (SSIM, CSI), 2 above (MSE, PSNR); – if undefined."""
    if value is None:
        return "–"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


COLUMNS_PER_TABLE = 6  # value columns that fit an 80-column terminal beside the frame number
TABLE_WIDTH = 80


def _packed(columns: list, first_width: int) -> list[list]:
    """`columns` (heading, …) in consecutive tables of at most COLUMNS_PER_TABLE columns whose
    width (heading or value, plus rich's borders) fits TABLE_WIDTH, so that no heading is cut."""
    tables, current, width = [], [], first_width + 4
    for column in columns:
        need = max(len(column[0]), 9) + 3
        if current and (len(current) == COLUMNS_PER_TABLE or width + need > TABLE_WIDTH):
            tables.append(current)
            current, width = [], first_width + 4
        current.append(column)
        width += need
    return [*tables, current] if current else tables


def undefined_metrics(results: dict[str, Any]) -> list[str]:
    """The metrics whose whole-forecast value is undefined (null, shown as –) on this test set."""
    return [n for n in metric_names(results) if n in results and results.get(n) is None]


def lead_times_minutes(time_step, frames: int) -> list[int | float] | None:
    """The lead time of each of `frames` future frames in minutes (1, 2, … steps of `time_step`,
    a np.timedelta64), for data with times; None without a step."""
    if time_step is None:
        return None
    import numpy as np

    minutes = float(np.timedelta64(time_step, "ns").astype(np.int64)) / 60e9
    return [int(m) if float(m).is_integer() else round(m, 6) for m in (minutes * np.arange(1, frames + 1))]


def frame_label(results: dict[str, Any], index: int) -> str:
    """Frame `index` of the table: "+10 min" where metrics.json has `lead_times_minutes`, else its number."""
    lead = results.get("lead_times_minutes")
    return f"+{lead[index]:g} min" if lead and index < len(lead) else str(index + 1)


def print_metrics_table(results: dict[str, Any]) -> None:
    """Test metrics per future frame, every metric the run computed, with the baselines' value
    of the first metric (MSE by default) beside them; in tables of six columns, so that every
    value is printed whole on an 80-column terminal."""
    base = results.get("baselines", {})
    names = metric_names(results)
    columns = [(name.upper(), name, results) for name in names]
    if names:
        columns += [(f"{names[0].upper()} {b.replace('_', '-')}", names[0], base[b]) for b in base]
    frames = len(results[f"{names[0]}_per_frame"]) if names else 0
    console = Console(width=max(TABLE_WIDTH, Console().width))
    say = functools.partial(console.print, markup=False, highlight=False, soft_wrap=True)
    label_width = 9 if results.get("lead_times_minutes") else 5
    for start, part in enumerate(_packed(columns, label_width)):
        if start == 0:
            say(
                f"test metrics over {results.get('num_sequences', '?')} sequences (MSE, MAE: sums over pixels and channels)"
            )
        table = Table()
        table.add_column("lead" if results.get("lead_times_minutes") else "frame", justify="right", no_wrap=True)
        for heading, _, _ in part:
            table.add_column(heading, justify="right", no_wrap=True)

        def cells(suffix: str, index: int | None, part=part) -> list[str]:
            out = []
            for _, key, src in part:
                value = src.get(key + suffix)
                out.append(fmt(value if index is None or value is None else value[index]))
            return out

        for i in range(frames):
            table.add_row(frame_label(results, i), *cells("_per_frame", i))
        table.add_row("mean", *cells("", None))
        console.print(table)
    if base and names:
        say("the whole forecast beside the baselines (same sequences)")
        beside = Table()
        beside.add_column("metric", no_wrap=True)
        for heading in ("model", *(b.replace("_", "-") for b in base)):
            beside.add_column(heading, justify="right", no_wrap=True)
        for name in names:
            beside.add_row(name, fmt(results.get(name)), *(fmt(base[b].get(name)) for b in base))
        console.print(beside)
    undefined = undefined_metrics(results)
    if undefined:
        say(undefined_line(undefined))


def undefined_line(names: list[str]) -> str:
    """Why a metric shows – : the one line printed under the tables."""
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return (
        f"– (undefined): {shown}; an event score is undefined where no pixel of the test set reaches its "
        "threshold (thresholds are in the data's units: metrics.events.thresholds=[…], e.g. 0.5 for data "
        "in [0, 1] such as Moving MNIST), a score of pixels without data where every pixel lacks data"
    )


SAMPLE_NOTE = "a few test clips, held out from training"
BASELINE_LABELS = {"zeros": "black frames", "copy_last": "copying the last frame", "extrapolation": "optical flow"}


@rank_zero_only
def print_run_summary(
    summary: dict[str, Any],
    run_dir: Path,
    resume_cmd: str | None = None,
    data_args: tuple[str, str] = ("", ""),
    sample: tuple[Path, str] | None = None,
) -> None:
    """The closing lines of a run (after the per-frame table): its status, the test means beside
    the zeros and copy-last baselines, the files it wrote, and the commands that use its
    checkpoint (or resume it), runnable as printed; `data_args`: what those commands need to
    read the run's data and its test set (evaluate, predict); `sample`: a saved input of a few
    test clips and the overrides that read it (the predict command's input)."""
    console = Console(highlight=False, soft_wrap=True)  # paths and commands stay whole, to copy
    say = functools.partial(console.print, markup=False)  # brackets in paths and overrides are text
    status, step = summary.get("status"), summary.get("global_step")
    console.print(f"\n[bold]{status}[/] at step {step} — run folder {escape(str(run_dir))}")
    test = summary.get("test")
    for line in beside_baselines(test or {}):
        say(line)
    media = sorted((run_dir / "media").glob("test_*seq0.png")) or sorted((run_dir / "media").glob("val_*seq0.png"))
    files = {
        "strip": media[-1] if media else None,
        "GIF": media[-1].with_suffix(".gif") if media else None,
        "plot": run_dir / "metrics_per_frame.png",
        "best": Path(summary["best_checkpoint"]) if summary.get("best_checkpoint") else None,
        "last": run_dir / "checkpoints" / "last.ckpt",
    }
    for label, path in files.items():
        if path is not None and path.is_file():
            say(f"  {label:6} {path}")
    for offline in sorted((run_dir / "wandb").glob("offline-run-*")):
        say(f"  wandb  {offline}  (upload: wandb sync {offline})")
    if resume_cmd:
        say(f"resume with:  {resume_cmd}")
    ckpt = files["best"] if files["best"] is not None and files["best"].is_file() else files["last"]
    if ckpt.is_file():
        checkpoint = override_text("ckpt_path", str(ckpt))
        network = "".join(f" {arg}" for arg in network_overrides())  # the user's own network: its search path, model=
        say(f"evaluate:     {script_command('predrnn-eval')} {checkpoint}{network}{data_args[0]}")
        if sample is not None:
            source, read = override_text("input", str(sample[0])), sample[1]
            say(f"  sample {sample[0]}  (observed frames of {SAMPLE_NOTE})")
        else:
            source, read = "input=<your clips .npy>", data_args[1]
        output = override_text("output", str(run_dir / "predictions.npy"))
        say(f"predict:      {script_command('predrnn-predict')} {checkpoint}{network} {source}{read} {output}")


def beside_baselines(test: dict[str, Any]) -> list[str]:
    """The closing lines of a test: every metric's whole-forecast value beside each baseline's,
    and a plain sentence where the model loses to a baseline (by the metric's
    `higher_is_better`, recorded by TestReport; metrics without a direction are shown, not judged)."""
    names = [n for n in metric_names(test) if n in test]
    if not names:
        return []
    base = test.get("baselines") or {}
    labels = [BASELINE_LABELS.get(b, b) for b in base]
    width = max(len(n) for n in names) + 2
    lines = [f"test over {test.get('num_sequences', '?')} sequences: the model"
             + (f" beside {', '.join(labels)}" if labels else "")]  # fmt: skip
    lines.append(f"  {'':{width}}{'model':>10}" + "".join(f"{label:>{max(len(label), 9) + 2}}" for label in labels))
    for name in names:
        row = f"  {name:{width}}{fmt(test.get(name)):>10}"
        row += "".join(f"{fmt(base[b].get(name)):>{max(len(label), 9) + 2}}" for b, label in zip(base, labels))
        lines.append(row)
    better = test.get("higher_is_better") or {}
    losses = []
    for b, label in zip(base, labels):
        lost = []
        for name in names:
            model, other, higher = test.get(name), base[b].get(name), better.get(name)
            if model is None or other is None or higher is None:
                continue
            if (higher and model < other) or (not higher and model > other):
                lost.append(f"{name} ({fmt(model)} vs {fmt(other)}, {'higher' if higher else 'lower'} is better)")
        if lost:
            losses.append(f"to {label} on {', '.join(lost)}")
    if losses:
        lines.append("the model LOSES " + "; ".join(losses))
    elif base and any(better.get(n) is not None for n in names):
        lines.append(f"the model beats {' and '.join(labels)} on every metric with a direction")
    undefined = undefined_metrics(test)
    if undefined:
        lines.append(undefined_line(undefined))
    return lines
