"""Components of a user's own that tests add from the command line (`+metrics.NAME._target_=…`)."""

from __future__ import annotations

import torch
from torchmetrics import Metric


class DataRange(Metric):
    """The largest predicted value minus the smallest, per future frame, in the data's units,
    over all sequences; its whole-forecast value is the largest of the frames' (not their mean).
    A max/min state: the DDP value equals one process's."""

    scale = "data"
    stages = ("test",)
    full_state_update = False

    def __init__(self, num_frames: int) -> None:
        super().__init__()
        self.add_state("high", default=torch.full((num_frames,), -torch.inf, dtype=torch.float64), dist_reduce_fx="max")
        self.add_state("low", default=torch.full((num_frames,), torch.inf, dtype=torch.float64), dist_reduce_fx="min")

    def update(self, predictions: torch.Tensor, target: torch.Tensor) -> None:
        frames = predictions.detach().double().transpose(0, 1).flatten(1)
        self.high = torch.maximum(self.high, frames.max(1).values)
        self.low = torch.minimum(self.low, frames.min(1).values)

    def compute(self) -> dict:
        per_frame = self.high - self.low
        return {"range": (per_frame, per_frame.max())}
