"""The Moving MNIST generator (Srivastava et al., 2015; docs/method.md, "Moving MNIST") and its datasets.

Motion is sampled per sequence (digits, start, direction, speed) with NumPy's seeded PCG64,
then rendered for a whole batch at once in torch: the bounce is the reflection of the
straight path into [0, canvas - digit], overlapping digits combine with max. No Python loop
runs per sequence or per frame, and the same seed gives the same sequences on any machine.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from predrnn.data.npy import load_npy
from predrnn.errors import DataError


@dataclass
class Motion:
    """Per-sequence motion: digit indices (N, D), start (N, D, 2) and velocity (N, D, 2),
    positions in pixels (row, col) of each digit's top-left corner."""

    digit_index: np.ndarray
    start: np.ndarray
    velocity: np.ndarray

    def __getitem__(self, index: Sequence[int] | slice) -> Motion:
        return Motion(self.digit_index[index], self.start[index], self.velocity[index])


def speed_range(speed: float | Sequence[float]) -> tuple[float, float]:
    """A fixed speed (px/frame) or a [low, high] range of magnitudes, checked."""
    if isinstance(speed, (int, float)):
        low = high = float(speed)
    else:
        values = [float(s) for s in speed]
        if len(values) != 2:
            raise ValueError(f"speed must be a number or [low, high], got {values}")
        low, high = values
    if low < 0 or high < low:
        raise ValueError(f"speed must satisfy 0 <= low <= high, got {low}..{high}: use e.g. 3.6")
    return low, high


class MovingMNIST:
    """Bouncing-digit sequences drawn from a fixed set of digits (one MNIST split)."""

    def __init__(
        self,
        digits: np.ndarray | Tensor,
        total_length: int = 20,
        image_size: int = 64,
        num_digits: int = 2,
        speed: float | Sequence[float] = 3.6,
    ) -> None:
        digits = torch.as_tensor(digits)
        if digits.ndim != 3 or digits.dtype != torch.uint8:
            raise DataError(f"digits must be uint8 (N, rows, cols), got {digits.dtype} {tuple(digits.shape)}")
        if digits.shape[1] != digits.shape[2]:
            raise DataError(f"digits must be square, got {tuple(digits.shape[1:])}")
        if total_length < 2:
            raise ValueError(f"total_length must be at least 2, got {total_length}")
        if num_digits < 1:
            raise ValueError(f"num_digits must be at least 1, got {num_digits}")
        if image_size < digits.shape[1]:
            raise ValueError(
                f"image_size {image_size} is smaller than a digit ({digits.shape[1]} px): use >= {digits.shape[1]}"
            )
        self.digits = digits.contiguous()
        self.total_length = total_length
        self.image_size = image_size
        self.num_digits = num_digits
        self.speed = speed_range(speed)
        self.free_range = image_size - digits.shape[1]

    def sample_motion(self, rng: np.random.Generator, n: int) -> Motion:
        """Uniform start over the canvas, direction uniform on the circle, speed in range."""
        d = self.num_digits
        index = rng.integers(0, len(self.digits), size=(n, d))
        start = rng.uniform(0.0, self.free_range, size=(n, d, 2))
        theta = rng.uniform(0.0, 2 * math.pi, size=(n, d))
        magnitude = rng.uniform(*self.speed, size=(n, d))
        velocity = np.stack([np.sin(theta), np.cos(theta)], axis=-1) * magnitude[..., None]
        return Motion(index, start, velocity)

    def positions(self, motion: Motion) -> Tensor:
        """Integer top-left corners (N, T, D, 2): the straight path reflected at the edges."""
        t = torch.arange(self.total_length, dtype=torch.float64)[None, :, None, None]
        path = torch.from_numpy(motion.start)[:, None] + torch.from_numpy(motion.velocity)[:, None] * t
        span = float(self.free_range)
        if span == 0:
            return torch.zeros(path.shape, dtype=torch.int64)
        bounced = span - torch.abs(span - torch.remainder(path, 2 * span))
        return torch.round(bounced).to(torch.int64)

    def render(self, motion: Motion) -> Tensor:
        """uint8 frames (N, T, 1, H, W) for the given motion.

        Each digit is placed with slice copies grouped by offset: first shifted along the
        columns into a (N·T, s, W) strip, then along the rows into the frame with max. The
        loops run over the (W - s + 1) possible offsets, never over sequences or frames.
        """
        n, d = motion.digit_index.shape
        size, t, canvas = self.digits.shape[1], self.total_length, self.image_size
        pos = self.positions(motion).view(n * t, d, 2)
        glyphs = self.digits[torch.from_numpy(motion.digit_index)]  # (N, D, s, s)
        frames = torch.zeros(n * t, canvas, canvas, dtype=torch.uint8)
        for k in range(d):  # D is small (2)
            glyph = glyphs[:, k, None].expand(n, t, size, size).reshape(n * t, size, size)
            strip = torch.zeros(n * t, size, canvas, dtype=torch.uint8)
            for offset, sel in _groups(pos[:, k, 1], canvas - size + 1):
                strip[sel, :, offset : offset + size] = glyph[sel]
            for offset, sel in _groups(pos[:, k, 0], canvas - size + 1):
                rows = frames[sel, offset : offset + size]
                frames[sel, offset : offset + size] = torch.maximum(rows, strip[sel])
        return frames.view(n, t, 1, canvas, canvas)

    def generate(self, n: int, seed: int | Sequence[int]) -> Tensor:
        """n sequences from a seed (an int or a sequence of ints, as NumPy's SeedSequence takes)."""
        return self.render(self.sample_motion(np.random.default_rng(seed), n))


def _groups(offsets: Tensor, count: int) -> Iterator[tuple[int, Tensor]]:
    """(offset, indices having that offset) for each offset in 0..count-1 that occurs."""
    order = torch.argsort(offsets)
    bounds = torch.searchsorted(offsets[order], torch.arange(count + 1)).tolist()
    for offset in range(count):
        if bounds[offset] < bounds[offset + 1]:
            yield offset, order[bounds[offset] : bounds[offset + 1]]


def to_unit_float(frames: Tensor) -> Tensor:
    """uint8 0-255 -> float32 0-1 (the collate step of every loader)."""
    return frames.float().div_(255.0)


class GeneratedSequences(Dataset):
    """Sequences rendered on demand; index i of a batch is drawn from the batch's own seed.

    Training: a `TrainBatchSampler` hands out batches of fresh ids each epoch, so every batch
    is new, yet determined by (seed, id): the same for any number of workers or restarts.
    """

    def __init__(self, generator: MovingMNIST, seed: int) -> None:
        self.generator = generator
        self.seed = seed

    def __getitems__(self, ids: list[int]) -> Tensor:
        return self.generator.generate(len(ids), [self.seed, ids[0], len(ids)])

    def __getitem__(self, index: int) -> Tensor:
        return self.__getitems__([index])[0]


class FixedSequences(Dataset):
    """A fixed set (validation/test): motion for all N sequences is drawn once from the seed,
    frames are rendered per batch, so 10 000 test sequences cost no memory up front."""

    def __init__(self, generator: MovingMNIST, size: int, seed: int) -> None:
        if size <= 0:
            raise ValueError(f"a fixed set needs a positive size, got {size}")
        self.generator = generator
        self.motion = generator.sample_motion(np.random.default_rng(seed), size)

    def __len__(self) -> int:
        return len(self.motion.digit_index)

    def __getitems__(self, indices: list[int]) -> Tensor:
        return self.generator.render(self.motion[np.asarray(indices)])

    def __getitem__(self, index: int) -> Tensor:
        return self.__getitems__([index])[0]


class SequenceFile(Dataset):
    """The standard `mnist_test_seq.npy`: uint8 (T, N, H, W), memory-mapped."""

    def __init__(self, path: str | Path, total_length: int | None = None, image_size: int | None = None) -> None:
        path = Path(path).expanduser()
        array = load_npy(path, "data.test_file")
        if array.dtype != np.uint8 or array.ndim != 4:
            raise DataError(
                f"test file {path} is {array.dtype} {array.shape}; expected uint8 (T, N, H, W) "
                "like mnist_test_seq.npy (20, 10000, 64, 64)"
            )
        if total_length is not None and array.shape[0] < total_length:
            raise DataError(
                f"test file {path} has {array.shape[0]} frames per sequence, fewer than total_length={total_length}"
            )
        if image_size is not None and array.shape[2:] != (image_size, image_size):
            raise DataError(
                f"test file {path} has {array.shape[2]}x{array.shape[3]} frames, the config image_size={image_size}"
            )
        self.array = array
        self.length = total_length or array.shape[0]

    def __len__(self) -> int:
        return self.array.shape[1]

    def __getitems__(self, indices: list[int]) -> Tensor:
        chunk = np.asarray(self.array[: self.length, np.asarray(indices)])  # (T, B, H, W)
        return torch.from_numpy(chunk).permute(1, 0, 2, 3).unsqueeze(2).contiguous()

    def __getitem__(self, index: int) -> Tensor:
        return self.__getitems__([index])[0]
