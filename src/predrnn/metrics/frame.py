"""Per-frame metrics in the papers' convention (docs/metrics.md, "Frame metrics").

MSE and MAE of a frame are *sums over its pixels and channels* on the metric scale ([0, 1]
over the data's range, docs/data.md), the prediction clipped to [0, 1]; they are averaged over
sequences and reported per future frame. SSIM (Gaussian 11×11, σ 1.5) and PSNR (data range 1)
come from torchmetrics, per frame and channel, averaged over the channels. States are sums
(float64) reduced with `dist_reduce_fx="sum"`, so DDP counts every sequence of every rank once.

Pixels where the target is NaN have no coverage (docs/metrics.md, "Pixels without data"): MSE,
MAE and PSNR leave them out (`masks_nan`); with every pixel valid they give exactly the numbers
above. SSIM's window can't leave pixels out: it is not scored on such data.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.image import structural_similarity_index_measure

from predrnn import checks
from predrnn.metrics.api import check_future_frames


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
        check_future_frames(predictions, target, self.num_frames)
        self.total += self.values(predictions.detach().float(), target.detach().float()).sum(0).double()
        self.count += predictions.shape[0]

    def compute(self) -> dict[str, Tensor]:
        return {self.name: self.total / self.count.clamp(min=1)}


class MaskedPerFrameMean(PerFrameMean):
    """A per-frame mean that leaves out pixels where the target is NaN (no coverage). A
    subclass's `masked_values` gives each sequence's value of each frame (B, K) and its weight
    (B, K, float64: 1 for a frame the metric scores whole); the reported value of frame k is
    Σ values / Σ weights over sequences, NaN where the weights sum to 0. With every pixel valid
    each weight is exactly 1, so the value is exactly the unmasked mean over sequences. A NaN
    in the prediction where the target is valid is not left out: the value is then NaN."""

    masks_nan = True

    def __init__(self, num_frames: int) -> None:
        super().__init__(num_frames)
        self.add_state("weight", default=torch.zeros(num_frames, dtype=torch.float64), dist_reduce_fx="sum")

    def masked_values(self, predictions: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def update(self, predictions: Tensor, target: Tensor) -> None:
        """predictions, target: (B, K, C, H, W) future frames on the metric scale, NaN in the
        target where there is no coverage."""
        check_future_frames(predictions, target, self.num_frames)
        values, weights = self.masked_values(predictions.detach().float(), target.detach().float())
        self.total += values.sum(0).double()
        self.weight += weights.sum(0)
        self.count += predictions.shape[0]

    def compute(self) -> dict[str, Tensor]:
        return {self.name: torch.where(self.weight > 0, self.total / self.weight, torch.nan)}


def valid_error(predictions: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """(prediction − target, 0 where the target is NaN; the valid-pixel mask), (B, K, C, H, W)."""
    valid = ~target.isnan()
    return torch.where(valid, predictions - target, 0.0), valid


def frame_share(valid: Tensor) -> Tensor:
    """Each (sequence, frame)'s share of valid pixels, n_valid / (C·H·W), float64 (B, K): exactly
    1 for a whole frame."""
    return valid.sum(dim=(2, 3, 4)).double() / math.prod(valid.shape[2:])


class MSE(MaskedPerFrameMean):
    """Sum over pixels and channels of the squared error; with no-coverage pixels, the sum over
    the valid ones scaled to the whole frame: Σ_valid e² · C·H·W / n_valid, pooled over
    sequences (Σ over sequences of the sums / Σ of n_valid / (C·H·W))."""

    higher_is_better = False  # which way is better (the console's model-vs-baselines line)

    name = "mse"

    def masked_values(self, predictions: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        error, valid = valid_error(predictions, target)
        return error.square().sum(dim=(2, 3, 4)), frame_share(valid)


class MAE(MaskedPerFrameMean):
    """Sum over pixels and channels of the absolute error; with no-coverage pixels, as MSE."""

    higher_is_better = False  # which way is better (the console's model-vs-baselines line)

    name = "mae"

    def masked_values(self, predictions: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        error, valid = valid_error(predictions, target)
        return error.abs().sum(dim=(2, 3, 4)), frame_share(valid)


def _per_channel(predictions: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """(B, K, C, H, W) as B·K·C one-channel images."""
    return predictions.flatten(0, 2)[:, None], target.flatten(0, 2)[:, None]


class SSIM(PerFrameMean):
    """torchmetrics' SSIM (Gaussian 11×11, σ 1.5, data range 1) per frame and channel."""

    higher_is_better = True  # which way is better (the console's model-vs-baselines line)

    name = "ssim"
    min_frame_size = 11  # torchmetrics' Gaussian window
    nan_reason = "frames have no-coverage pixels, which SSIM's window can't leave out"

    def values(self, predictions: Tensor, target: Tensor) -> Tensor:
        b, k = predictions.shape[:2]
        ssim = structural_similarity_index_measure(*_per_channel(predictions, target), data_range=1.0, reduction="none")
        return ssim.view(b, k, -1).mean(2)


class PSNR(MaskedPerFrameMean):
    """torchmetrics' PSNR (data range 1) per frame and channel, averaged over the channels.
    With no-coverage pixels: the MSE of a frame's channel is the mean over its valid pixels; a
    channel without one is left out of the channel mean, a frame without one out of the mean
    over sequences."""

    higher_is_better = True  # which way is better (the console's model-vs-baselines line)

    name = "psnr"

    def masked_values(self, predictions: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        b, k, c = predictions.shape[:3]
        error, valid = valid_error(predictions, target)
        error, valid = _per_channel(error, valid)  # (B·K·C, 1, H, W)
        squares = torch.sum(error * error, dim=(1, 2, 3))  # as torchmetrics' _psnr_update sums them
        observed = valid.sum(dim=(1, 2, 3))
        # torchmetrics' _psnr_compute with data range 1 (log 1 = 0), in the same order of operations
        data_range = torch.tensor(1.0)
        psnr = (2 * torch.log(data_range) - torch.log(squares / observed)) * (10 / torch.log(torch.tensor(10.0)))
        psnr, scored = psnr.view(b, k, c), (observed > 0).view(b, k, c)
        channels = scored.sum(2)
        partial = torch.where(scored, psnr, 0.0).sum(2) / channels.clamp(min=1)
        values = torch.where(channels == c, psnr.mean(2), torch.where(channels > 0, partial, 0.0))
        return values, (channels > 0).double()
