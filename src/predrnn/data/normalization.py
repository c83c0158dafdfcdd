"""Data units ↔ model units, per channel (docs/data.md, "Normalisation").

Frames reach the model as float32. uint8 frames are first divided by 255, so their units are
[0, 1]; float frames keep the file's units. Then `(x − shift) / scale` per channel:
- `none`: shift 0, scale 1;
- `minmax`: shift = min, scale = max − min over the training split (float data: [0, 1];
  uint8 data is already there and is left as is);
- `standard`: shift = mean, scale = standard deviation over the training split.
Metrics are computed on the *metric scale*, (x − low) / (high − low): [0, 1] for uint8 frames,
the training split's per-channel min–max for float ones, so that MSE / SSIM / PSNR mean the
same whichever normalisation trained the model.

The statistics are streamed over the training split's clips (a block of frames at a time),
stored in the module's hyper-parameters, and so travel in every checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from predrnn import checks
from predrnn.errors import DataError

KINDS = ("none", "minmax", "standard")
# data beyond the training range by more than this fraction of it get a warning line; by more
# than the whole range, an error (docs/data.md, "Data a checkpoint was not trained on")
RANGE_WARNING = 0.1


# the widest the data's range may be in model units, (high − low) / scale: a fit gives about 1
# (minmax) up to √N (standard, N pixels); far beyond, float32 keeps nothing of the data's
# detail and the squared errors of a batch near its overflow (1e-30 for data in [0, 70] is 7e31)
MAX_SPAN = 1e9
FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def statistics_problem(norm: dict[str, Any]) -> str | None:
    """What makes a stored normalisation (`as_dict()`'s keys) unusable, or None: a statistic
    that is not a finite number, a scale that is not positive or too small for the data's range
    (`(high − low) / scale` above MAX_SPAN, or below float32's smallest normal number), an
    empty metric range. The one rule for checkpoints' normalisations (docs/data.md)."""
    values = {}
    for name in ("shift", "scale", "low", "high"):
        given = norm.get(name)
        if given is None:
            continue
        values[name] = list(given) if isinstance(given, (list, tuple)) else [given]
        for i, v in enumerate(values[name]):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                return f"normalization.{name}[{i}] is {v}"
            if name == "scale" and v == 0:
                return f"normalization.scale[{i}] is 0"
            if name == "scale" and v < 0:
                return f"normalization.scale[{i}] is {v:.4g}, negative"
    low, high = values.get("low"), values.get("high")
    if low is not None and high is not None:
        same = next((i for i, (a, b) in enumerate(zip(low, high)) if a == b), None)
        if same is not None:
            return f"normalization.low[{same}] equals normalization.high[{same}] ({low[same]})"
    for i, scale in enumerate(values.get("scale", [])):
        span = abs(high[i] - low[i]) if low is not None and high is not None and i < min(len(low), len(high)) else 1.0
        if scale < FLOAT32_TINY or span / scale > MAX_SPAN:
            return (
                f"normalization.scale[{i}] is {scale:.4g}, too small for the data's range {span:.4g} "
                f"(at least {max(span / MAX_SPAN, FLOAT32_TINY):.3g})"
            )
    return None


class Normalization(nn.Module):
    """Per-channel affine map between data units and model units, plus the metric scale."""

    def __init__(
        self, kind: str = "none", shift: Iterable[float] = (0.0,), scale: Iterable[float] = (1.0,),
        low: Iterable[float] = (0.0,), high: Iterable[float] = (1.0,), uint8: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.kind = checks.choice("normalize", kind, KINDS, "minmax")
        self.uint8 = bool(uint8)  # the training data were uint8 (their units are x / 255)
        values = {
            n: [float(v) for v in vs] for n, vs in (("shift", shift), ("scale", scale), ("low", low), ("high", high))
        }
        channels = {len(v) for v in values.values()}
        if len(channels) != 1:
            raise ValueError(f"normalisation statistics of different lengths: {values}")
        for name, v in values.items():  # not saved in state_dict: the hyper-parameters carry them
            self.register_buffer(name, torch.tensor(v, dtype=torch.float32).view(-1, 1, 1), persistent=False)

    def check_range(self, low: Sequence[float], high: Sequence[float], what: str) -> list[str]:
        """`what`'s per-channel range [low, high] (data units) against the training split's
        (`low`/`high` here), for a model trained on float data: beyond it by more than the
        training range's own width is data in other units, a DataError; by more than a tenth of
        it, a warning line (returned). uint8 data have fixed units and are not checked here."""
        if self.uint8:
            return []
        lines = []
        trained = zip(self.low.flatten().tolist(), self.high.flatten().tolist())
        for c, ((lo, hi), (t_lo, t_hi)) in enumerate(zip(zip(low, high), trained)):
            span, beyond = t_hi - t_lo, max(t_lo - lo, hi - t_hi)
            channel = f" (channel {c})" if self.channels > 1 else ""
            values = f"{what} holds values in [{lo:.4g}, {hi:.4g}]{channel}"
            trained_on = f"the range the model was trained on, [{t_lo:.4g}, {t_hi:.4g}]"
            if beyond > span:
                raise DataError(
                    f"{values}, far outside {trained_on}: are they in other units? give data in the units it was "
                    "trained on"
                )
            if beyond > RANGE_WARNING * span:
                lines.append(f"warning: {values}, beyond {trained_on}: its predictions there extrapolate")
        return lines

    @property
    def channels(self) -> int:
        return self.shift.shape[0]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "uint8": self.uint8, "shift": self.shift.flatten().tolist(),
            "scale": self.scale.flatten().tolist(), "low": self.low.flatten().tolist(),
            "high": self.high.flatten().tolist(),
        }  # fmt: skip

    @classmethod
    def identity(cls, channels: int) -> Normalization:
        """Frames in [0, 1] (or uint8): what Moving MNIST and official checkpoints use."""
        return cls("none", [0.0] * channels, [1.0] * channels, [0.0] * channels, [1.0] * channels)

    def scale_description(self) -> str:
        if self.uint8:
            return "[0, 1] (uint8 frames / 255)"
        return "[0, 1] over the training split's per-channel min–max (float frames)"

    def units(self, frames: Tensor) -> Tensor:
        """Data as float32 in the data's units (uint8 / 255)."""
        return frames.float().div_(255.0) if frames.dtype == torch.uint8 else frames.float()

    def encode(self, frames: Tensor) -> Tensor:
        """(…, C, H, W) data (uint8 or float) -> float32 model units."""
        return (self.units(frames) - self.shift) / self.scale

    def decode(self, frames: Tensor) -> Tensor:
        """Model units -> data units (float; uint8 data: [0, 1])."""
        return frames.float() * self.scale + self.shift

    def metric(self, units: Tensor) -> Tensor:
        """Data units -> the metric scale ([0, 1] over the data's range)."""
        return (units - self.low) / (self.high - self.low)

    def to_metric_scale(self, frames: Tensor) -> Tensor:
        """Model units -> the metric scale."""
        return self.metric(self.decode(frames))


class RunningStats:
    """Per-channel count, min, max, mean and variance over blocks (T, C, H, W), merged in
    float64 with Chan et al.'s pairwise update: one pass, memory of one block."""

    def __init__(self, channels: int) -> None:
        self.count = 0
        self.mean = np.zeros(channels)
        self.m2 = np.zeros(channels)
        self.min = np.full(channels, np.inf)
        self.max = np.full(channels, -np.inf)

    def update(self, block: np.ndarray) -> None:
        x = np.moveaxis(block, 1, 0).reshape(block.shape[1], -1).astype(np.float64)
        n = x.shape[1]
        mean = x.mean(axis=1)
        m2 = ((x - mean[:, None]) ** 2).sum(axis=1)
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + m2 + delta**2 * self.count * n / total
        self.count = total
        self.min = np.minimum(self.min, x.min(axis=1))
        self.max = np.maximum(self.max, x.max(axis=1))

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(1, self.count))


def fit_normalization(kind: str, stats: RunningStats | None, uint8: bool, channels: int) -> Normalization:
    """The normalisation of `kind` from the training split's statistics (data units). uint8
    data under `none`/`minmax` needs none (pass None). A constant channel gets scale 1."""
    zeros, ones = np.zeros(channels), np.ones(channels)
    if stats is None:
        return Normalization(kind, zeros, ones, zeros, ones, uint8=uint8)
    spread = stats.max - stats.min
    low, high = (zeros, ones) if uint8 else (stats.min, np.where(spread > 0, stats.max, stats.min + 1))
    if kind == "standard":
        shift, scale = stats.mean, np.where(stats.std > 0, stats.std, 1.0)
    elif kind == "minmax" and not uint8:
        shift, scale = stats.min, np.where(spread > 0, spread, 1.0)
    else:
        shift, scale = zeros, ones
    return Normalization(kind, shift, scale, low, high, uint8=uint8)


def read_blocks(clips, block: int = 64) -> Iterator[np.ndarray]:
    """Every frame of `clips`, `block` frames at a time (T, C, H, W); a NaN or inf is a
    DataError naming the clip and frame."""
    for clip in clips:
        for start in range(0, clip.length, block):
            frames = clip.read(start, min(clip.length, start + block))
            check_finite_frames(frames, clip, start)
            yield frames


def value_range(blocks: Iterable[np.ndarray]) -> tuple[list[float], list[float]] | None:
    """Per-channel (min, max) over `blocks` (T, C, H, W); None when there are none."""
    low = high = None
    for frames in blocks:
        lo, hi = frames.min(axis=(0, 2, 3)), frames.max(axis=(0, 2, 3))
        low, high = (lo, hi) if low is None else (np.minimum(low, lo), np.maximum(high, hi))
    return None if low is None else ([float(v) for v in low], [float(v) for v in high])


def stream_stats(clips, uint8: bool = False) -> RunningStats | None:
    """Statistics over every frame of `clips` in data units (uint8 / 255), one block in memory."""
    stats = None
    for frames in read_blocks(clips):
        frames = frames / 255.0 if uint8 else frames
        if stats is None:
            stats = RunningStats(frames.shape[1])
        stats.update(frames)
    return stats


FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_finite_frames(frames: np.ndarray, clip, start: int) -> None:
    """Frames the model can take: no NaN or inf, and, in a float64 file, no value that becomes
    inf as float32 (the model's dtype); a DataError naming the clip and the first such frame."""
    if frames.dtype.kind != "f":
        return
    if not np.isfinite(frames).all():
        t = int(np.argwhere(~np.isfinite(frames))[0][0])
        raise DataError(
            f"{clip.name} holds NaN/inf at frame {start + t}: fix or drop those frames (e.g. np.nan_to_num) before training"
        )
    if frames.dtype.itemsize > 4 and (overflow := np.abs(frames) > FLOAT32_MAX).any():
        first = tuple(np.argwhere(overflow)[0])
        raise DataError(
            f"{clip.name} holds {float(frames[first]):.3g} at frame {start + int(first[0])}, beyond float32's range "
            f"(±{FLOAT32_MAX:.3g}), which the model computes in: it would be inf; rescale or fix those frames"
        )
