"""SSIM and PSNR as the published tables computed them (docs/metrics.md, "SSIM and PSNR
conventions").

- `ssim_official`, `psnr_official`: the official PredRNN code (`core/trainer.py`,
  `core/utils/metrics.py`): each frame is cast to 8 bits by truncation, `uint8(x · 255)`, then
  scikit-image's SSIM (7 × 7 uniform window, sample covariance, data range 255, the mean of the
  SSIM map without its 3-pixel border, averaged over channels) and
  PSNR = 20·log10(255) − 10·log10(MSE), MSE the mean over a frame's pixels and channels.
- `ssim_openstl`: OpenSTL (`openstl/core/metrics.py`) calls the same scikit-image SSIM on the
  float frames without `data_range`; scikit-image <= 0.19.3 (the version OpenSTL's
  environment.yml pins) then took the range of the float dtype, [-1, 1], so data range 2.

Both are computed here with torch ops (float64), so they run where the frames are. Each value
is averaged over sequences and reported per future frame.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from predrnn.metrics.frame import PerFrameMean

WINDOW = 7  # scikit-image's default window when gaussian_weights=False
K1, K2 = 0.01, 0.03  # scikit-image's defaults (Wang et al. 2004)


def official_uint8(frames: Tensor) -> Tensor:
    """The official code's `np.uint8(x * 255)`: the product in the frames' dtype, truncated
    (not rounded). Values are clamped to [0, 1] first, which changes nothing for frames that
    are already on [0, 1] and keeps the cast defined for the rest."""
    return (frames.clamp(0, 1) * 255).to(torch.uint8)


def uniform_ssim(x: Tensor, y: Tensor, data_range: float, window: int = WINDOW) -> Tensor:
    """scikit-image's `structural_similarity(x, y, data_range=...)` with its default uniform
    window, for each (B, K, C) image, averaged over C: (B, K, C, H, W) → (B, K), float64.

    scikit-image filters the whole image and then drops a border of (window − 1) / 2 pixels;
    the pixels it keeps see only the image, so a 'valid' mean filter gives the same map."""
    b, k, c, h, w = x.shape
    if h < window or w < window:
        raise ValueError(f"SSIM with a {window}x{window} window needs frames of at least that size, not {h}x{w}")
    x = x.reshape(b * k * c, 1, h, w).double()
    y = y.reshape(b * k * c, 1, h, w).double()

    def mean(z: Tensor) -> Tensor:
        return F.avg_pool2d(z, window, stride=1)

    n = window * window
    sample = n / (n - 1)  # use_sample_covariance=True
    mu_x, mu_y = mean(x), mean(y)
    var_x = sample * (mean(x * x) - mu_x * mu_x)
    var_y = sample * (mean(y * y) - mu_y * mu_y)
    cov = sample * (mean(x * y) - mu_x * mu_y)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(1, 2, 3)).view(b, k, c).mean(2)


class OfficialSSIM(PerFrameMean):
    """SSIM of the official PredRNN code: scikit-image's default SSIM on `uint8(x · 255)`."""

    higher_is_better = True  # which way is better (the console's model-vs-baselines line)

    name = "ssim_official"
    min_frame_size = WINDOW
    nan_reason = "frames have no-coverage pixels, which SSIM's window can't leave out"

    def values(self, predictions: Tensor, target: Tensor) -> Tensor:
        return uniform_ssim(official_uint8(predictions), official_uint8(target), data_range=255.0)


class OfficialPSNR(PerFrameMean):
    """PSNR of the official PredRNN code (`batch_psnr`): on `uint8(x · 255)`, MSE the mean over
    a frame's pixels and channels, 20·log10(255) − 10·log10(MSE). A frame predicted exactly
    (MSE 0) has PSNR +inf, as in the official code, and so has the mean over sequences."""

    higher_is_better = True  # which way is better (the console's model-vs-baselines line)

    name = "psnr_official"
    nan_reason = "frames have no-coverage pixels, which the official code's PSNR of whole frames can't leave out"

    def values(self, predictions: Tensor, target: Tensor) -> Tensor:
        error = official_uint8(predictions).to(torch.int64) - official_uint8(target).to(torch.int64)
        mse = error.square().sum(dim=(2, 3, 4)).double() / math.prod(error.shape[2:])
        return 20 * math.log10(255) - 10 * torch.log10(mse)


class OpenSTLSSIM(PerFrameMean):
    """SSIM of OpenSTL: scikit-image's default SSIM on the float frames with the data range
    scikit-image <= 0.19 inferred for floats, 2 (the dtype range [-1, 1])."""

    higher_is_better = True  # which way is better (the console's model-vs-baselines line)

    name = "ssim_openstl"
    min_frame_size = WINDOW
    nan_reason = "frames have no-coverage pixels, which SSIM's window can't leave out"
    data_range = 2.0

    def values(self, predictions: Tensor, target: Tensor) -> Tensor:
        return uniform_ssim(predictions, target, data_range=self.data_range)
