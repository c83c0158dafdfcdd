"""Per-frame metrics in the papers' convention (docs/method.md, "Metrics").

MSE and MAE of a frame are *sums over its pixels and channels* on the metric scale ([0, 1]
over the data's range, docs/data.md), with the prediction clipped to [0, 1]; they are averaged
over sequences, reported per future frame, and averaged over the future frames. SSIM (Gaussian
11×11, σ 1.5) and PSNR (data range 1) come from torchmetrics, per frame and channel, averaged
over the channels. States are sums with `dist_reduce_fx="sum"`, so DDP gives the value
over every sequence of every rank, each counted once.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

METRIC_NAMES = ("mse", "mae", "ssim", "psnr")


class FrameMetrics(Metric):
    """Accumulates per-future-frame sums of MSE, MAE, SSIM and PSNR over sequences."""

    full_state_update = False

    def __init__(self, num_frames: int) -> None:
        super().__init__()
        self.num_frames = num_frames
        for name in METRIC_NAMES:
            self.add_state(name, default=torch.zeros(num_frames, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predictions: Tensor, target: Tensor) -> None:
        """predictions, target: (B, K, C, H, W) future frames on the metric scale."""
        if predictions.shape != target.shape or predictions.shape[1] != self.num_frames:
            raise ValueError(
                f"expected (B, {self.num_frames}, C, H, W) for both, got {tuple(predictions.shape)} "
                f"and {tuple(target.shape)}"
            )
        pred = predictions.detach().float().clamp(0.0, 1.0)
        true = target.detach().float()
        b, k = pred.shape[:2]
        diff = pred - true
        self.mse += diff.square().sum(dim=(2, 3, 4)).sum(0).double()
        self.mae += diff.abs().sum(dim=(2, 3, 4)).sum(0).double()
        flat_p, flat_t = pred.flatten(0, 2)[:, None], true.flatten(0, 2)[:, None]  # one image per channel
        ssim = structural_similarity_index_measure(flat_p, flat_t, data_range=1.0, reduction="none")
        psnr = peak_signal_noise_ratio(flat_p, flat_t, data_range=1.0, reduction="none", dim=(1, 2, 3))
        self.ssim += ssim.view(b, k, -1).mean(2).sum(0).double()
        self.psnr += psnr.view(b, k, -1).mean(2).sum(0).double()
        self.count += b

    def compute(self) -> dict[str, Tensor]:
        """{name: mean over frames, name_per_frame: (K,)} for each metric."""
        out: dict[str, Tensor] = {}
        n = self.count.clamp(min=1)
        for name in METRIC_NAMES:
            per_frame = getattr(self, name) / n
            out[name] = per_frame.mean()
            out[f"{name}_per_frame"] = per_frame
        out["count"] = self.count
        return out
