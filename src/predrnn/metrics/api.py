"""The metric contract (docs/metrics.md): what the module, the baselines, `metrics.json`, the
console, the plots, `predrnn-report` and wandb need of a metric.

A metric is a `torchmetrics.Metric` whose
- constructor takes `num_frames` (K, the future frames it scores; supplied by the module) plus
  its own keys (`conf/metrics/<set>.yaml` maps a name to a config with `_target_`);
- class attribute `scale` is `"unit"` (frames on [0, 1] over the data's range, the prediction
  clipped to it) or `"data"` (the data's own units, after the checkpoint's normalisation is
  undone);
- `update(predictions, target)` takes the future frames (B, K, C, H, W) on that scale;
- `compute()` returns {name: per-frame tensor (K,)} or {name: (per-frame (K,), whole-forecast
  scalar)} where the mean over frames is the wrong summary (scores from counts pooled over all
  lead times). An undefined value is NaN; it is left out of means and written as null;
- optional class attribute `min_frame_size`: the smallest frame height and width it can score
  (a window's size: SSIM's); a metric configured for smaller frames is refused in one line;
- optional class attribute `stages`: where it runs, ("val", "test") by default (("test",) for
  costly ones);
- optional class attribute `masks_nan` (False by default): True for a metric that leaves pixels
  where the target is NaN (no coverage) out of every sum. A metric without it is not updated on
  a batch whose target holds NaN, and the stage reports it under `not_scored` with a one-line
  reason (its class attribute `nan_reason`, or a generic one) instead of values.
- optional class attribute `takes_times` (False by default): True for a metric whose `update`
  also takes `times`, the valid time of each future frame ((B, K) int64 seconds since 1970,
  UTC), which a data module with times (`data=xarray`, asked by `build.evaluation_settings`)
  ships with its evaluation windows as the batch key `times`; such a metric is refused in one
  line on data without them;
- optional class attribute `from_data`: constructor arguments filled from the data module's
  `metric_inputs(names)` (`latitudes`, `climatology`: `build.evaluation_settings`).
States are sums reduced with `dist_reduce_fx="sum"`, so DDP gives the single-process value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

SCALES = ("unit", "data")
STAGES = ("val", "test")


class MetricUnavailable(RuntimeError):
    """Raised by a metric's constructor when what it needs is missing here (LPIPS without
    torchvision or its weights): the metric is skipped with a notice, the others run."""


def check_future_frames(predictions: Tensor, target: Tensor, num_frames: int) -> None:
    """What every metric's `update` takes: predictions and target of one shape (B, K, C, H, W)
    with K = `num_frames`; a ValueError naming both shapes otherwise."""
    if predictions.shape != target.shape or predictions.ndim != 5 or predictions.shape[1] != num_frames:
        raise ValueError(
            f"expected (B, {num_frames}, C, H, W) for both, got {tuple(predictions.shape)} and {tuple(target.shape)}"
        )


def scale_of(metric: Metric) -> str:
    scale = getattr(metric, "scale", None)
    if scale not in SCALES:
        raise ValueError(f"{type(metric).__name__}.scale must be 'unit' or 'data', not {scale!r}")
    return scale


def stages_of(metric: Metric) -> tuple[str, ...]:
    return tuple(getattr(metric, "stages", STAGES))


def masks_nan(metric: Metric) -> bool:
    """Whether `metric` leaves no-coverage (NaN) pixels out of its sums (docs/metrics.md)."""
    return bool(getattr(metric, "masks_nan", False))


def takes_times(metric: Metric) -> bool:
    """Whether `metric.update` also takes the future frames' valid times (docs/metrics.md)."""
    return bool(getattr(metric, "takes_times", False))


def nan_reason(metric: Metric) -> str:
    """The one line `not_scored` gives for a metric that can't leave no-coverage pixels out."""
    return getattr(metric, "nan_reason", None) or (
        "frames have no-coverage pixels (NaN), which this metric can't leave out (it does not declare masks_nan)"
    )


def _number(value: Tensor | float) -> float | None:
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _shape(value: Any) -> str:
    """What a plug-in returned, for its error line: a type and, for a tensor, its shape."""
    if isinstance(value, Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def check_computed(key: str, metric: Metric, values: Any, num_frames: int) -> None:
    """`compute()`'s output against the contract (module docstring): a dict of names to K
    per-frame values, or to (K per-frame values, one whole-forecast value). Anything else is
    a ConfigError naming the metric and what it returned, instead of a traceback or a
    metrics.json with the wrong number of frames."""
    from predrnn.errors import ConfigError

    name = f"metrics.{key} ({type(metric).__module__}.{type(metric).__qualname__})"
    expected = f"{{name: {num_frames} per-frame values}} (docs/metrics.md)"
    if not isinstance(values, Mapping) or not values:
        raise ConfigError(f"{name}.compute() returned {_shape(values)}, not {expected}: fix its compute()")
    for label, value in values.items():
        per_frame, overall = value if isinstance(value, tuple) and len(value) == 2 else (value, None)
        try:
            count = torch.as_tensor(per_frame, dtype=torch.float64).numel()
            whole = 1 if overall is None else torch.as_tensor(overall, dtype=torch.float64).numel()
        except (TypeError, ValueError, RuntimeError):
            raise ConfigError(
                f"{name}.compute() returned {_shape(value)} for {label!r}, not numbers: return {expected}"
            ) from None
        if count != num_frames:
            raise ConfigError(
                f"{name}.compute() returned {count} per-frame values for {label!r}, not {num_frames} (one per "
                f"future frame): return {expected}"
            )
        if whole != 1:
            raise ConfigError(
                f"{name}.compute() returned a whole-forecast value of {whole} numbers for {label!r}, not one: "
                f"return {expected}, or (per-frame values, one number)"
            )


def summarise(values: Mapping[str, Any]) -> dict[str, Any]:
    """`compute()`'s output as JSON-ready results: `<name>` (the whole-forecast value, else the
    mean over the frames whose value is defined; None if none is) and `<name>_per_frame`
    (None for an undefined frame)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        per_frame, overall = value if isinstance(value, tuple) else (value, None)
        per_frame = torch.as_tensor(per_frame, dtype=torch.float64).flatten()
        if overall is None:
            finite = per_frame[torch.isfinite(per_frame)]
            overall = finite.mean() if finite.numel() else float("nan")
        out[name] = _number(overall)
        out[f"{name}_per_frame"] = [_number(v) for v in per_frame]
    return out
