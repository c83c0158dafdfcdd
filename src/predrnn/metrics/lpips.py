"""LPIPS (AlexNet features, torchmetrics) per future frame, where torchvision and its weights
are available (docs/metrics.md, "LPIPS"). Grey frames are repeated to RGB; other channel counts
have no LPIPS."""

from __future__ import annotations

import torch
from torch import Tensor

from predrnn.metrics.api import MetricUnavailable
from predrnn.metrics.frame import PerFrameMean


class LPIPS(PerFrameMean):
    higher_is_better = False  # which way is better (the console's model-vs-baselines line)
    name = "lpips"
    stages = ("test",)  # a network pass per frame: too costly for every validation
    nan_reason = "frames have no-coverage pixels, which LPIPS' network, seeing whole frames, can't leave out"

    def __init__(self, num_frames: int, net_type: str = "alex") -> None:
        super().__init__(num_frames)
        try:
            import torchvision  # noqa: F401
            from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

            self.lpips = LearnedPerceptualImagePatchSimilarity(net_type=net_type, normalize=True, reduction="mean")
        except Exception as err:  # missing torchvision, or weights that can't be loaded offline
            how = (
                "pip install torchvision (matching your torch) to add it"
                if isinstance(err, ImportError)
                else "its AlexNet weights are downloaded once, so run once with a network to add it"
            )
            reason = f"{type(err).__name__}: {err}".split("\n")[0]
            raise MetricUnavailable(f"LPIPS skipped ({reason}): {how}; ~metrics.lpips hides this line") from None
        self.lpips.requires_grad_(False)

    def values(self, predictions: Tensor, target: Tensor) -> Tensor:
        b, k, c = predictions.shape[:3]
        if c not in (1, 3):
            raise ValueError(f"LPIPS needs 1 or 3 channels, not {c}: remove it with ~metrics.lpips")
        repeat = 3 // c
        pred = predictions.clamp(0, 1).flatten(0, 1).repeat(1, repeat, 1, 1)
        true = target.clamp(0, 1).flatten(0, 1).repeat(1, repeat, 1, 1)
        per_image = self.lpips.net(pred, true, normalize=True)  # the network of torchmetrics' LPIPS, per image
        return per_image.reshape(b, k).to(torch.float64)
