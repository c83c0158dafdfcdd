"""SEVIR's scores (docs/metrics.md, "SEVIR scores"): CSI, POD, SUCR and BIAS per VIL threshold
with Earthformer's event rule (value >= threshold) and aggregation (hits, misses and false alarms
summed over every test pixel: per lead time for the per-frame values, over all lead times for the
whole-forecast value), their means over the thresholds (`*_m`), and CSI after max-pooling truth and
forecast over non-overlapping p × p blocks (`csi_<t>_pool<p>`, `csi_m_pool<p>`).

These are the true definitions: POD = hits / (hits + misses), SUCR = hits / (hits + false alarms),
BIAS = (hits + false alarms) / (hits + misses), CSI = hits / (hits + misses + false alarms); 0/0
is NaN, left out of the means over thresholds. Earthformer's published numbers differ (its eps,
its swap of truth and forecast, its "bias" transform): docs/metrics.md says how.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor
from torch.nn.functional import max_pool2d
from torchmetrics import Metric

from predrnn import checks
from predrnn.metrics.api import check_future_frames
from predrnn.metrics.events import check_list, check_thresholds

THRESHOLDS = (16, 74, 133, 160, 181, 219)  # Earthformer scripts/cuboid_transformer/sevir/cfg_sevir.yaml#L19


def skill(hits: Tensor, misses: Tensor, false_alarms: Tensor) -> dict[str, Tensor]:
    """CSI, POD, SUCR and BIAS from counts (any shape)."""
    h, m, f = hits, misses, false_alarms
    return {"csi": h / (h + m + f), "pod": h / (h + m), "sucr": h / (h + f), "bias": (h + f) / (h + m)}


def nanmean(values: Tensor, dim: int) -> Tensor:
    """The mean over `dim` of the defined values (NaN where none is)."""
    defined = torch.isfinite(values)
    total = torch.where(defined, values, torch.zeros_like(values)).sum(dim)
    return total / defined.sum(dim)


class SevirScores(Metric):
    """Arguments: `num_frames` (K), `thresholds` (VIL units), `pools` (block sizes of the pooled
    CSI). Pixels where either frame is NaN count as no event in both (Earthformer's `_threshold`),
    so they add to no count (`masks_nan`). A pooled block is an event where any pixel is; frames
    are cut to a whole number of blocks (the trailing rows and columns left out)."""

    scale = "data"
    full_state_update = False
    masks_nan = True

    def __init__(
        self, num_frames: int, thresholds: Iterable[float] = THRESHOLDS, pools: Iterable[int] = (4, 16)
    ) -> None:
        super().__init__()
        self.num_frames = checks.integer("num_frames", num_frames, 12, minimum=1)
        self.thresholds, self.names = check_thresholds(thresholds, list(THRESHOLDS))
        self.pools = check_list("pools", pools, [4, 16], lambda k, v: checks.integer(k, v, 4, minimum=2))
        shape = (1 + len(self.pools), len(self.thresholds), num_frames)  # [no pooling, each pool]
        for state in ("hits", "misses", "false_alarms"):
            self.add_state(state, default=torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predictions: Tensor, target: Tensor) -> None:
        """predictions, target: (B, K, C, H, W) future frames in VIL units."""
        check_future_frames(predictions, target, self.num_frames)
        predictions, target = predictions.detach(), target.detach()
        valid = ~(predictions.isnan() | target.isnan())
        b, k, _, h, w = target.shape
        for i, threshold in enumerate(self.thresholds):
            observed = (target >= threshold) & valid
            forecast = (predictions >= threshold) & valid
            for level, size in enumerate((1, *self.pools)):
                o, f = observed, forecast
                if size > 1:
                    if h < size or w < size:
                        continue
                    o = max_pool2d(o.reshape(-1, 1, h, w).float(), size).bool().reshape(b, k, -1)
                    f = max_pool2d(f.reshape(-1, 1, h, w).float(), size).bool().reshape(b, k, -1)
                else:
                    o, f = o.reshape(b, k, -1), f.reshape(b, k, -1)
                self.hits[level, i] += (o & f).sum((0, 2)).double()
                self.misses[level, i] += (o & ~f).sum((0, 2)).double()
                self.false_alarms[level, i] += (~o & f).sum((0, 2)).double()

    def compute(self) -> dict[str, tuple[Tensor, Tensor]]:
        counts = (self.hits, self.misses, self.false_alarms)
        per_frame = skill(*counts)  # (levels, thresholds, K)
        overall = skill(*(c.sum(-1) for c in counts))  # (levels, thresholds)
        out: dict[str, tuple[Tensor, Tensor]] = {}
        for score in ("csi", "pod", "sucr", "bias"):
            for i, name in enumerate(self.names):
                out[f"{score}_{name}"] = (per_frame[score][0, i], overall[score][0, i])
            out[f"{score}_m"] = (nanmean(per_frame[score][0], 0), nanmean(overall[score][0], 0))
        for level, size in enumerate(self.pools, start=1):
            for i, name in enumerate(self.names):
                out[f"csi_{name}_pool{size}"] = (per_frame["csi"][level, i], overall["csi"][level, i])
            out[f"csi_m_pool{size}"] = (nanmean(per_frame["csi"][level], 0), nanmean(overall["csi"][level], 0))
        return out
