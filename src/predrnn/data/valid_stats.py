"""Per-channel statistics over the valid (non-NaN) values only (docs/data.md, "Pixels
without data"): what `data=xarray` fits its normalisation on, where pixels without data
are NaN. The same one-pass float64 merge as `normalization.RunningStats` (Chan et al.'s pairwise
update), with a count per channel, since each channel has its own NaN."""

from __future__ import annotations

import numpy as np


class ValidStats:
    """count, min, max, mean and std per channel over blocks (T, C, H, W), NaN left out. A
    channel that had no valid value keeps count 0 (min inf, max −inf)."""

    def __init__(self, channels: int) -> None:
        self.counts = np.zeros(channels, np.int64)
        self.mean = np.zeros(channels)
        self.m2 = np.zeros(channels)
        self.min = np.full(channels, np.inf)
        self.max = np.full(channels, -np.inf)

    @property
    def count(self) -> int:
        return int(self.counts.min())

    def update(self, block: np.ndarray) -> None:
        x = np.moveaxis(block, 1, 0).reshape(block.shape[1], -1)
        for c in range(x.shape[0]):
            values = x[c][~np.isnan(x[c])].astype(np.float64)
            n = values.size
            if not n:
                continue
            mean = values.mean()
            m2 = ((values - mean) ** 2).sum()
            total = self.counts[c] + n
            delta = mean - self.mean[c]
            self.mean[c] += delta * n / total
            self.m2[c] += m2 + delta**2 * self.counts[c] * n / total
            self.counts[c] = total
            self.min[c] = min(self.min[c], values.min())
            self.max[c] = max(self.max[c], values.max())

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / np.maximum(1, self.counts))
