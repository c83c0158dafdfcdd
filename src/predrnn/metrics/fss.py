"""The fractions skill score (Roberts & Lean 2008; docs/metrics.md, "Fractions skill score"),
accumulated as pySTEPS' `pysteps.verification.spatialscores.fss_init / fss_accum /
fss_compute` do, per threshold, neighbourhood width and lead time, pooled over the test set.

For a field, the event indicator is I = (value >= threshold) (pySTEPS' fss_accum uses >=, its
det_cat_fct uses >; non-finite values are no event). Its fractions are the means of I over an
n × n window, zeros outside the field, the window placed as scipy's `uniform_filter(size=n,
mode="constant")` places it (rows i − n//2 … i − n//2 + n − 1, the same for columns). With the
forecast fractions P and the observed ones O summed over pixels, channels and sequences,

    FSS = 1 − Σ(P − O)² / (ΣP² + ΣO²),

NaN where neither has an event (0/0). The whole-forecast value pools the sums of all lead times.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

from predrnn import checks
from predrnn.metrics.api import check_future_frames
from predrnn.metrics.events import check_list, check_thresholds


def fractions(events: Tensor, width: int) -> Tensor:
    """Means of `events` (N, 1, H, W, float64) over width × width windows, zero-padded so the
    window of pixel (i, j) starts at (i − width//2, j − width//2): (N, 1, H, W)."""
    if width == 1:
        return events
    before, after = width // 2, (width - 1) // 2
    padded = F.pad(events, (before, after, before, after))
    # exact window counts (sum pools, one axis at a time), divided once
    counts = F.avg_pool2d(padded, (1, width), stride=1, divisor_override=1)
    counts = F.avg_pool2d(counts, (width, 1), stride=1, divisor_override=1)
    return counts / (width * width)


class FractionsSkillScore(Metric):
    """FSS per threshold (data units) and neighbourhood width (pixels).

    Arguments: `num_frames` (K), `thresholds`, `scales` (window widths in pixels; 1 is the
    pixel itself). Names: `fss_<threshold>_s<scale>` (thresholds named as in
    `predrnn.metrics.events.threshold_name`). A NaN pixel (no coverage) is no event in either
    field, as in pySTEPS' fss_accum (`masks_nan`)."""

    scale = "data"
    full_state_update = False
    masks_nan = True

    def __init__(
        self, num_frames: int, thresholds: Iterable[float] = (20, 30, 40), scales: Iterable[int] = (1, 4, 8)
    ) -> None:
        super().__init__()
        self.num_frames = checks.integer("num_frames", num_frames, 10, minimum=1)
        self.thresholds, self.names = check_thresholds(thresholds, [20, 35])
        self.scales = check_list("scales", scales, [1, 4, 8], lambda k, v: checks.integer(k, v, [1, 4, 8], minimum=1))
        shape = (len(self.thresholds), len(self.scales), num_frames)
        for state in ("forecast_squares", "products", "observed_squares"):
            self.add_state(state, default=torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predictions: Tensor, target: Tensor) -> None:
        """predictions, target: (B, K, C, H, W) future frames in the data's units."""
        check_future_frames(predictions, target, self.num_frames)
        b, k, c, h, w = predictions.shape
        # one field per (sequence, lead time, channel)
        forecast = predictions.detach().reshape(b * k * c, 1, h, w)
        observed = target.detach().reshape(b * k * c, 1, h, w)
        for i, threshold in enumerate(self.thresholds):
            forecast_events = (forecast.isfinite() & (forecast >= threshold)).double()
            observed_events = (observed.isfinite() & (observed >= threshold)).double()
            for j, width in enumerate(self.scales):
                p = fractions(forecast_events, width).view(b, k, -1)
                o = fractions(observed_events, width).view(b, k, -1)
                self.forecast_squares[i, j] += p.square().sum(dim=(0, 2))
                self.products[i, j] += (p * o).sum(dim=(0, 2))
                self.observed_squares[i, j] += o.square().sum(dim=(0, 2))

    @staticmethod
    def _fss(forecast_squares: Tensor, products: Tensor, observed_squares: Tensor) -> Tensor:
        error = forecast_squares - 2 * products + observed_squares  # Σ(P − O)²
        reference = forecast_squares + observed_squares  # the largest Σ(P − O)² could be
        return 1 - error / reference

    def compute(self) -> dict[str, tuple[Tensor, Tensor]]:
        sums = (self.forecast_squares, self.products, self.observed_squares)
        per_frame = self._fss(*sums)
        overall = self._fss(*(s.sum(-1) for s in sums))
        return {
            f"fss_{name}_s{width}": (per_frame[i, j], overall[i, j])
            for i, name in enumerate(self.names)
            for j, width in enumerate(self.scales)
        }
