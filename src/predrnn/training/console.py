"""What a run shows on the terminal: a progress bar in steps, a model summary with the
network's FLOPs, no third-party noise, and a closing summary that says what was made and what
to run next."""

from __future__ import annotations

import functools
import logging
import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichModelSummary, RichProgressBar
from pytorch_lightning.utilities import rank_zero_only
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typing_extensions import override

from predrnn.command_line import override_text
from predrnn.models import api

# Third-party lines a normal run doesn't need, matched precisely (verbose=true shows them all).
NOISE_WARNINGS = (
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),  # Lightning's _pytree on torch >= 2.10
    # an epoch shorter than trainer.log_every_n_steps: the steps are logged all the same
    (Warning, r"The number of training batches \(\d+\) is smaller than the logging interval"),
    # a run that ends before its first validation: last.ckpt is still written (FinalCheckpoint)
    (Warning, r"`ModelCheckpoint\(monitor=.*could not find the monitored key"),
)
NOISE_LOGS = {
    # advertisements (litlogger, litmodels), the accelerator inventory (the run's device is in
    # summary.json), a note that our own summary replaces Lightning's
    "pytorch_lightning.utilities.rank_zero": (
        "💡 tip:", "litlogger", "litmodels", "gpu available:", "tpu available:", "hpu available:",
        "skipping setting a default `modelsummary`",
    ),
    "lightning_fabric.utilities.rank_zero": ("gpu available:", "tpu available:"),
    # the ONNX exporter, once per torchvision operator it would have registered
    "torch.onnx._internal.exporter._registration": ("torchvision is not installed",),
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


class StepProgressBar(RichProgressBar):
    """One bar for the whole run, counting optimiser steps towards `trainer.max_steps` with the
    time left, instead of an epoch bar of an endless epoch loop. It shows the training loss
    (`loss`), the sampling probability of a true frame (`p_true`, sampling/decoder_p) and the
    last validation MSE (`val_mse`), in one line of at most 80 columns."""

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
        items = super().get_metrics(trainer, pl_module)
        shown = {}
        for key, short in BAR_FIELDS.items():
            if key in items:
                value = items[key]
                shown[short] = f"{float(value):.3g}" if isinstance(value, (int, float)) else value
        return shown


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
    console = Console()
    for start in range(0, len(columns), COLUMNS_PER_TABLE):
        part = columns[start : start + COLUMNS_PER_TABLE]
        title = None
        if start == 0:
            title = f"test metrics over {results.get('num_sequences', '?')} sequences (MSE, MAE: sums over pixels and channels)"
        table = Table(title=title)
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
        beside = Table(title="the whole forecast beside the baselines (same sequences)")
        beside.add_column("metric", no_wrap=True)
        for heading in ("model", *(b.replace("_", "-") for b in base)):
            beside.add_column(heading, justify="right", no_wrap=True)
        for name in names:
            beside.add_row(name, fmt(results.get(name)), *(fmt(base[b].get(name)) for b in base))
        console.print(beside)


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
    names = metric_names(test or {})
    if names:
        first = names[0]
        head = [f"{first.upper()} {fmt(test.get(first))} per frame"]
        head += [f"{n.upper()} {fmt(test.get(n))}" for n in names[1:4]]  # the first four, as the table has them all
        others = "; ".join(
            f"{BASELINE_LABELS.get(b, b)}: {first.upper()} {fmt(v.get(first))}"
            for b, v in test.get("baselines", {}).items()
        )
        say(f"test {', '.join(head)}" + (f" ({others})" if others else ""))
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
        say(f"evaluate:     predrnn-eval {checkpoint}{data_args[0]}")
        if sample is not None:
            source, read = override_text("input", str(sample[0])), sample[1]
            say(f"  sample {sample[0]}  (observed frames of {SAMPLE_NOTE})")
        else:
            source, read = "input=<your clips .npy>", data_args[1]
        output = override_text("output", str(run_dir / "predictions.npy"))
        say(f"predict:      predrnn-predict {checkpoint} {source}{read} {output}")
