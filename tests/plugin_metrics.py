"""Own metrics that break the metric contract (docs/metrics.md), added from the command line
(`+metrics.NAME._target_=plugin_metrics.…`) by the rows of tests/cli/test_errors.py."""

from __future__ import annotations

import torch
from torchmetrics import Metric


class _Sum(Metric):
    scale = "unit"
    full_state_update = False

    def __init__(self, num_frames: int) -> None:
        super().__init__()
        self.num_frames = num_frames
        self.add_state("total", default=torch.zeros(num_frames, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predictions: torch.Tensor, target: torch.Tensor) -> None:
        self.total += (predictions - target).abs().double().transpose(0, 1).flatten(1).sum(1)


class ReturnsTensor(_Sum):
    """compute() returns the per-frame tensor itself, not {name: tensor}."""

    def compute(self):
        return self.total


class ExtraFrames(_Sum):
    """compute() returns K + 3 per-frame values."""

    def compute(self):
        return {"err": torch.cat([self.total, torch.zeros(3, dtype=torch.float64)])}


class VectorWhole(_Sum):
    """compute() returns a whole-forecast value that is a vector, not one number."""

    def compute(self):
        return {"err": (self.total, self.total)}


class ReturnsList(_Sum):
    """compute() returns a list of values, not a dict."""

    def compute(self):
        return list(self.total)
