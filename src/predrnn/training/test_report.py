"""TestReport: at the end of a test, `metrics.json` (with each frame's lead time where the data
has times, and each metric's direction), the per-frame plot and the per-frame tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.utilities import rank_zero_info
from typing_extensions import override

from predrnn.files import write_json
from predrnn.training import media
from predrnn.training.metric_tables import metric_names, print_metrics_table
from predrnn.training.progress import end_progress_bar


def lead_times_minutes(time_step, frames: int) -> list[int | float] | None:
    """The lead time of each of `frames` future frames in minutes (1, 2, … steps of `time_step`,
    a np.timedelta64), for data with times; None without a step."""
    if time_step is None:
        return None
    import numpy as np

    minutes = float(np.timedelta64(time_step, "ns").astype(np.int64)) / 60e9
    return [int(m) if float(m).is_integer() else round(m, 6) for m in (minutes * np.arange(1, frames + 1))]


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
