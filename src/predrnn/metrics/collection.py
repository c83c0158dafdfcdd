"""The metrics of one stage, built from the `metrics` config for K future frames, each fed on
the scale it declares (docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from predrnn.errors import BadValue, ConfigError
from predrnn.metrics import api
from predrnn.metrics.api import MetricUnavailable, check_computed, masks_nan, nan_reason, scale_of, stages_of, summarise


class SequenceCount(Metric):
    """How many sequences were scored (summed over DDP ranks)."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, batch: int) -> None:
        self.count += batch

    def compute(self) -> Tensor:
        return self.count


class NaNBatches(Metric):
    """How many batches had no-coverage (NaN) pixels in the target (summed over DDP ranks), so
    that every rank leaves the same metrics unscored."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("batches", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, has_nan: bool) -> None:
        self.batches += float(has_nan)

    def compute(self) -> Tensor:
        return self.batches


def build_metric(key: str, config: Mapping[str, Any], num_frames: int) -> Metric:
    """One metric from its config (`_target_` plus its keys), for `num_frames` future frames."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    if not isinstance(config, Mapping) or "_target_" not in config:
        raise ConfigError(f"metrics.{key} needs a _target_ (a torchmetrics.Metric class): e.g. "
                          f"+metrics.{key}._target_=predrnn.metrics.frame.MSE")  # fmt: skip
    try:
        metric = instantiate(dict(config), num_frames=num_frames)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, BadValue):
            raise cause.in_group(f"metrics.{key}") from None
        if isinstance(cause, MetricUnavailable):
            raise cause from None
        reason = " ".join(str(cause or err).split())
        raise ConfigError(
            f"metrics.{key}._target_={config['_target_']} can't be built ({reason}): check the class path and its keys"
        ) from None
    if not isinstance(metric, Metric):
        raise ConfigError(
            f"metrics.{key}._target_={config['_target_']} is not a torchmetrics.Metric: give a metric class"
        )
    scale_of(metric)
    return metric


def _runs_at(config: Any, stage: str) -> bool:
    """Whether the metric class of `config` runs at `stage` (its `stages`), read before it is
    built: a test-only metric costs nothing at validation. Unknown classes are left to
    `build_metric`, which names the problem."""
    from hydra.utils import get_class

    try:
        cls = get_class(config["_target_"])
    except Exception:
        return True
    return stage in stages_of(cls)


def threshold_warnings(key: str, metric: Metric, data_range: tuple[float, float]) -> list[str]:
    """One line per threshold (a metric's `thresholds`, in data units) that can't mean what it
    says for data in `data_range` (the training split's min and max): above the maximum (no
    event ever), or negative for data that never is."""
    low, high = data_range
    lines = []
    for threshold in getattr(metric, "thresholds", ()) or ():
        if threshold > high or (threshold < 0 <= low):
            lines.append(
                f"warning: metrics.{key} threshold {threshold:g} is outside the data's range [{low:g}, {high:g}] "
                f"(thresholds are in the data's units): check metrics.{key}.thresholds"
            )
    return lines


def check_frame_size(key: str, metric: Metric, frame_size: tuple[int, int]) -> None:
    """A metric with a window (`min_frame_size`: SSIM's) can't score frames smaller than it."""
    need = getattr(metric, "min_frame_size", None)
    h, w = frame_size
    if need is not None and (h < need or w < need):
        raise ConfigError(
            f"metrics.{key} needs frames of at least {need}x{need} (its window), the data's are {h}x{w}: "
            f"remove it with ~metrics.{key}, or give larger frames"
        )


def probe(key: str, metric: Metric, num_frames: int, frame_size: tuple[int, int]) -> None:
    """A metric of the user's own (a class outside predrnn) run once on one small random batch
    before the run starts, its `compute()` checked against the contract (`check_computed`), so
    that a plug-in returning a tensor or the wrong number of frames fails in one line before
    training, not at the first validation. A metric that can't score this batch (it needs more
    channels, say) is left to the check each validation makes."""
    if type(metric).__module__.split(".")[0] == "predrnn":
        return
    h, w = frame_size
    frames = torch.rand(2, 1, num_frames, 1, h, w, generator=torch.Generator().manual_seed(0))
    try:
        metric.update(frames[0], frames[1])
        computed = metric.compute()
    except Exception:
        return
    finally:
        metric.reset()
    check_computed(key, metric, computed, num_frames)


class MetricSet(nn.Module):
    """The configured metrics that run at `stage`, plus the sequence count; a metric whose window
    exceeds `frame_size` is refused. `update` takes future frames in data units and hands each
    metric its scale: "unit" (the prediction clipped to [0, 1]) or "data" (the data's units).
    Target pixels that are NaN have no coverage: a metric that `masks_nan` leaves them out, any
    other is not updated on such a batch and `compute` lists it under `not_scored`."""

    def __init__(
        self, configs: Mapping[str, Any], num_frames: int, stage: str, notices: list[str] | None = None,
        data_range: tuple[float, float] | None = None, frame_size: tuple[int, int] | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.num_frames = num_frames
        self.metrics = nn.ModuleDict()
        for key, config in configs.items():
            if config is None or not _runs_at(config, stage):
                continue
            try:
                metric = build_metric(key, config, num_frames)
            except MetricUnavailable as err:
                if notices is not None:
                    notices.append(str(err))
                continue
            if frame_size is not None:
                check_frame_size(key, metric, frame_size)
                probe(key, metric, num_frames, frame_size)
            self.metrics[key] = metric
            if notices is not None and data_range is not None:
                notices.extend(threshold_warnings(key, metric, data_range))
        self.count = SequenceCount()
        self.nan_batches = NaNBatches()

    def update(self, data_pred: Tensor, data_true: Tensor, normalization, times: Tensor | None = None) -> None:
        """data_pred, data_true: (B, K, C, H, W) future frames in data units; `normalization`
        maps them to the metric scale for the "unit" metrics; `times` (B, K): their valid times,
        for the metrics that take them (`takes_times`)."""
        unit = None
        unmasked = [m for m in self.metrics.values() if not masks_nan(m)]
        has_nan = bool(unmasked) and bool(data_true.isnan().any())  # one sync, only where a metric needs it
        for metric in self.metrics.values():
            if has_nan and not masks_nan(metric):
                continue  # can't leave the pixels out: reported under not_scored
            extra = {}
            if api.takes_times(metric):
                if times is None:
                    key = next(k for k, m in self.metrics.items() if m is metric)
                    raise ConfigError(f"metrics.{key} needs each frame's valid time, which this data does not ship: "
                                      f"use data=xarray, or remove it with ~metrics.{key}")  # fmt: skip
                extra["times"] = times
            if scale_of(metric) == "data":
                metric.update(data_pred, data_true, **extra)
            else:
                if unit is None:
                    unit = normalization.metric(data_pred).clamp(0.0, 1.0), normalization.metric(data_true)
                metric.update(*unit, **extra)
        self.count.update(data_pred.shape[0])
        self.nan_batches.update(has_nan)

    def compute(self) -> dict[str, Any]:
        """{name: value, name_per_frame: [...], ..., num_sequences} over every metric, plus
        `not_scored` ({metric key: reason}) where a batch had no-coverage pixels that a metric
        can't leave out."""
        results: dict[str, Any] = {}
        not_scored: dict[str, str] = {}
        masked = float(self.nan_batches.compute()) > 0
        for key, metric in self.metrics.items():
            if masked and not masks_nan(metric):
                not_scored[key] = nan_reason(metric)
                continue
            computed = metric.compute()
            check_computed(key, metric, computed, self.num_frames)  # a plug-in's output, against the contract
            values = summarise(computed)
            clash = sorted(set(values) & set(results))
            if clash:
                raise ConfigError(f"metrics.{key} reports {clash[0]}, which another metric reports too: remove one")
            results.update(values)
        results["num_sequences"] = int(self.count.compute())
        if not_scored:
            results["not_scored"] = not_scored
        return results

    def reset(self) -> None:
        for metric in (*self.metrics.values(), self.count, self.nan_batches):
            metric.reset()
