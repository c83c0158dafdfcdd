"""Splits of clips, windows of `total_length` frames, and the dataset and sampler over them
(docs/data.md, "Windows and splits").

- Splits are by clip, from a seeded permutation, so no frame of a test clip is ever trained on.
  A source that is a single clip (one long recording) is split along time instead: the first
  frames train, the next validate, the last test.
- A clip of L frames gives the windows starting at 0, stride, 2·stride, … ≤ L − total_length;
  a clip shorter than total_length gives none and is counted as skipped.
- Training batches are shuffled per epoch from (seed, epoch); each of the world_size ranks
  takes its own share of every step's batch, so every window is seen at most once per epoch,
  and exactly once when the number of windows is a multiple of batch_size × world_size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from predrnn.data.clip import Clip
from predrnn.data.loaders import TrainBatchSampler

SPLITS = ("train", "val", "test")


def split_clips(clips: Sequence[Clip], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[Clip]]:
    """{train, val, test}: clips drawn by a seeded permutation, or one clip cut along time."""
    fractions = {"val": val_fraction, "test": test_fraction}
    if len(clips) == 1:
        clip, parts, end = clips[0], {}, clips[0].length
        for name in ("test", "val"):  # from the end: the future is held out
            size = round(fractions[name] * clip.length)
            parts[name] = [clip.part(end - size, end, f"frames {end - size}-{end - 1}")] if size else []
            end -= size
        parts["train"] = [clip.part(0, end, f"frames 0-{end - 1}")] if end else []
        return parts
    order = np.random.default_rng(seed).permutation(len(clips))
    counts = {}
    for name, fraction in fractions.items():
        counts[name] = round(fraction * len(clips))
        if fraction > 0 and counts[name] == 0:
            counts[name] = 1  # a small data set still gets one clip for each split asked for
    parts, start = {}, 0
    for name in ("test", "val"):
        parts[name] = [clips[i] for i in sorted(order[start : start + counts[name]])]
        start += counts[name]
    parts["train"] = [clips[i] for i in sorted(order[start:])]
    return parts


def make_windows(clips: Sequence[Clip], total_length: int, stride: int) -> tuple[list[tuple[int, int]], int]:
    """([(clip number, first frame)], number of clips too short for one window)."""
    windows, skipped = [], 0
    for c, clip in enumerate(clips):
        if clip.length < total_length:
            skipped += 1
            continue
        windows += [(c, s) for s in range(0, clip.length - total_length + 1, stride)]
    return windows, skipped


class WindowDataset(Dataset):
    """Windows of clips as tensors (B, T, C, H, W): uint8 stays uint8 (4× less to move to the
    device), everything else becomes float32. The data module has scanned every clip for NaN
    and inf before a loader reads them (`check_sources`), so windows are read unchecked.

    When the clips carry actions, a window is `{"frames": (B, T, C, H, W), "actions": (B, T, A)
    float32}`, the action of each frame of the window beside it."""

    def __init__(self, clips: Sequence[Clip], windows: Sequence[tuple[int, int]], total_length: int) -> None:
        self.clips, self.windows, self.total_length = list(clips), list(windows), total_length
        self.actions = bool(self.clips) and self.clips[0].action_channels is not None

    def __len__(self) -> int:
        return len(self.windows)

    def read(self, index: int) -> np.ndarray:
        c, start = self.windows[index]
        frames = self.clips[c].read(start, start + self.total_length)
        return frames if frames.dtype == np.uint8 else frames.astype(np.float32, copy=False)

    def read_actions(self, index: int) -> np.ndarray:
        c, start = self.windows[index]
        return self.clips[c].read_actions(start, start + self.total_length)

    def __getitems__(self, indices: list[int]) -> Tensor | dict[str, Tensor]:
        frames = torch.from_numpy(np.stack([self.read(i) for i in indices]))
        if not self.actions:
            return frames
        return {"frames": frames, "actions": torch.from_numpy(np.stack([self.read_actions(i) for i in indices]))}

    def __getitem__(self, index: int) -> Tensor | dict[str, Tensor]:
        frames = torch.from_numpy(self.read(index))
        if not self.actions:
            return frames
        return {"frames": frames, "actions": torch.from_numpy(np.array(self.read_actions(index)))}


class WindowBatchSampler(TrainBatchSampler):
    """Shuffled training batches of a fixed set of windows, this rank's share of each step.

    The stream numbering (and so the exact resume) is `TrainBatchSampler`'s; batch b is the
    b-th slice of its epoch's permutation of the windows, seeded by (seed, epoch).
    """

    def __init__(
        self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
        start_fn: Callable[[], int] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(size // (batch_size * world_size), batch_size, rank, world_size, start_fn)
        self.size, self.seed = size, seed
        self._order: tuple[int, np.ndarray] | None = None

    def order(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.size))
        return self._order[1]

    def batch(self, b: int) -> list[int]:
        epoch, i = divmod(b, self.num_batches)
        per_step = self.batch_size * self.world_size
        step = self.order(epoch)[i * per_step : (i + 1) * per_step]
        return step[self.rank * self.batch_size : (self.rank + 1) * self.batch_size].tolist()
