"""The axes of a user's array, named by a layout string such as `NTHWC` (docs/data.md).

Letters: N (clips), T (time), C (channels), H and W (rows and columns). T, H and W are
required, N and C optional (no N: the array is one clip; no C: one channel). A clip is read
as (T, C, H, W) whatever the layout.
"""

from __future__ import annotations

import numpy as np

from predrnn.errors import BadValue, DataError

LETTERS = "NTCHW"
EXAMPLES = "NTHW, NTHWC, NTCHW, TNHW (mnist_test_seq.npy), THW, THWC"


class Layout:
    """A checked layout string; `clip_index(n, start, stop)` and `to_tchw(block)` read a clip."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text:
            raise BadValue("layout", text, f"must name the array's axes, one letter each ({EXAMPLES})", "NTHWC")
        letters = text.upper()
        unknown = sorted(set(letters) - set(LETTERS))
        if unknown or len(set(letters)) != len(letters) or not set("THW") <= set(letters):
            raise BadValue(
                "layout", text, f"must use each of T, H, W once, and N, C at most once ({EXAMPLES})", "NTHWC"
            )
        self.text = letters

    @classmethod
    def guess(cls, ndim: int, name: str) -> Layout:  # name: "data.path=<file>" as the user gave it
        """The layout of an unlabelled array: THW (one grey clip) or NTHW (grey clips); any
        other rank is ambiguous and must be named."""
        if ndim == 3:
            return cls("THW")
        if ndim == 4:
            return cls("NTHW")
        raise DataError(f"{name} is {ndim}-D: name its axes with data.layout ({EXAMPLES})")

    def __str__(self) -> str:
        return self.text

    @property
    def has_clips(self) -> bool:
        return "N" in self.text

    def check_rank(self, shape: tuple[int, ...], name: str) -> None:
        if len(shape) != len(self.text):
            raise BadValue(
                "layout", self.text, f"has {len(self.text)} axes but {name} is {len(shape)}-D {tuple(shape)}: "
                f"name its {len(shape)} axes ({EXAMPLES})", "NTHWC" if len(shape) == 5 else None,
            )  # fmt: skip

    def size(self, shape: tuple[int, ...], letter: str) -> int:
        return shape[self.text.index(letter)] if letter in self.text else 1

    def clip_index(self, n: int, start: int, stop: int) -> tuple:
        """The index of frames start..stop-1 of clip n (plain slices and one integer: every
        array library reads only that block)."""
        return tuple(n if a == "N" else slice(start, stop) if a == "T" else slice(None) for a in self.text)

    def to_tchw(self, block: np.ndarray) -> np.ndarray:
        """A block read with `clip_index` (its N axis gone) as (T, C, H, W)."""
        axes = self.text.replace("N", "")
        if "C" not in axes:
            block, axes = block[..., None], axes + "C"
        return np.transpose(block, [axes.index(a) for a in "TCHW"])

    def from_ntchw(self, array: np.ndarray) -> np.ndarray:
        """(N, T, C, H, W) as this layout (an N-less layout takes the one clip, a C-less one the
        one channel): predictions written the way the input was laid out."""
        if "N" not in self.text:
            array = array[0]
        axes = "NTCHW" if "N" in self.text else "TCHW"
        if "C" not in self.text:
            array = array.squeeze(axes.index("C"))
            axes = axes.replace("C", "")
        return np.transpose(array, [axes.index(a) for a in self.text])
