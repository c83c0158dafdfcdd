"""A clip: a sequence of frames of one source, read on demand (docs/data.md, "Formats").

A *source* is one file or folder opened by a reader of `predrnn.data.readers` (the contract is
`readers/api.py`'s `Source`). It yields clips, each read as frames (t, C, H, W) in the file's own
dtype and, when the source carries actions, one action vector per frame (t, A) as float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from predrnn.errors import DataError


@dataclass(frozen=True)
class Clip:
    """Frames `offset .. offset + length - 1` of clip `index` of `source`."""

    source: Any
    index: int
    length: int
    name: str
    offset: int = 0

    @property
    def action_channels(self) -> int | None:
        """A, the length of one action vector; None when the source has no actions."""
        return getattr(self.source, "action_channels", None)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames start..stop-1 of this clip, (t, C, H, W) in the file's dtype."""
        return self.source.read(self.index, self.offset + start, self.offset + stop)

    def read_actions(self, start: int, stop: int) -> np.ndarray:
        """The actions of frames start..stop-1 of this clip, float32 (t, A)."""
        return self.source.read_actions(self.index, self.offset + start, self.offset + stop)

    def part(self, start: int, stop: int, tag: str) -> Clip:
        """Frames start..stop-1 as a clip of their own (a split along time)."""
        return Clip(self.source, self.index, stop - start, f"{self.name} {tag}", self.offset + start)


def check_dtype(dtype: np.dtype, name: str) -> np.dtype:
    """`dtype` if it holds numbers (bool, ints, floats); a DataError naming `name` otherwise."""
    if dtype.kind not in "uif" and dtype.kind != "b":
        raise DataError(f"{name} holds {dtype} values: give numbers (uint8 frames, or ints / floats)")
    return dtype
