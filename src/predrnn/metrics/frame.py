"""Per-frame metrics in the papers' convention (docs/metrics.md, "Frame metrics").

MSE and MAE of a frame are *sums over its pixels and channels* on the metric scale ([0, 1]
over the data's range, docs/data.md), the prediction clipped to [0, 1]; they are averaged over
sequences and reported per future frame. SSIM (Gaussian 11×11, σ 1.5) and PSNR (data range 1)
come from torchmetrics, per frame and channel, averaged over the channels. States are sums
(float64) reduced with `dist_reduce_fx="sum"`, so DDP counts every sequence of every rank once.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from predrnn import checks


class PerFrameMean(Metric):
    """The mean over sequences of a per-frame value; subclasses say what a sequence's value of
    each frame is (`values`, (B, K)) and under which name it is reported (`name`)."""

    scale = "unit"
    name = ""
    full_state_update = False

    def __init__(self, num_frames: int) -> None:
        super().__init__()
        self.num_frames = checks.integer("num_frames", num_frames, 10, minimum=1)
        self.add_state("total", default=torch.zeros(num_frames, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def values(self, predictions: Tensor, target: Tensor) -> Tensor:
        raise NotImplementedError

    def update(self, predictions: Tensor, target: Tensor) -> None:
        """predictions, target: (B, K, C, H, W) future frames on the metric scale."""
        if predictions.shape != target.shape or predictions.shape[1] != self.num_frames:
            raise ValueError(
                f"expected (B, {self.num_frames}, C, H, W) for both, got {tuple(predictions.shape)} "
                f"and {tuple(target.shape)}"
            )
        self.total += self.values(predictions.detach().float(), target.detach().float()).sum(0).double()
        self.count += predictions.shape[0]

    def compute(self) -> dict[str, Tensor]:
        return {self.name: self.total / self.count.clamp(min=1)}


class MSE(PerFrameMean):
    """Sum over pixels and channels of the squared error."""

    name = "mse"

    def values(self, predictions: Tensor, target: Tensor) -> Tensor:
        return (predictions - target).square().sum(dim=(2, 3, 4))


class MAE(PerFrameMean):
    """Sum over pixels and channels of the absolute error."""

    name = "mae"

    def values(self, predictions: Tensor, target: Tensor) -> Tensor:
        return (predictions - target).abs().sum(dim=(2, 3, 4))


def _per_channel(predictions: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """(B, K, C, H, W) as B·K·C one-channel images."""
    return predictions.flatten(0, 2)[:, None], target.flatten(0, 2)[:, None]


class SSIM(PerFrameMean):
    """torchmetrics' SSIM (Gaussian 11×11, σ 1.5, data range 1) per frame and channel."""

    name = "ssim"
    min_frame_size = 11  # torchmetrics' Gaussian window

    def values(self, predictions: Tensor, target: Tensor) -> Tensor:
        b, k = predictions.shape[:2]
        ssim = structural_similarity_index_measure(*_per_channel(predictions, target), data_range=1.0, reduction="none")
        return ssim.view(b, k, -1).mean(2)


class PSNR(PerFrameMean):
    """torchmetrics' PSNR (data range 1) per frame and channel."""

    name = "psnr"

    def values(self, predictions: Tensor, target: Tensor) -> Tensor:
        b, k = predictions.shape[:2]
        psnr = peak_signal_noise_ratio(
            *_per_channel(predictions, target), data_range=1.0, reduction="none", dim=(1, 2, 3)
        )
        return psnr.view(b, k, -1).mean(2)
