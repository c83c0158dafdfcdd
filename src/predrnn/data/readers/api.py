"""The reader contract of `data=arrays` (docs/architecture.md, "Readers").

A reader is a `Source` subclass in a module of `predrnn.data.readers`. Its class attributes say
which paths it takes (`suffixes`, `probe`, `in_folders`), `open` builds it from a path and the
user's `Options`, and an instance gives the frames of its clips, (t, C, H, W) in the file's own
dtype, and when it carries actions one float32 vector per frame. `registry.py` finds the readers
and picks one per path; `sources.py` opens the user's path through it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from predrnn.data.clip import Clip
from predrnn.errors import DataError

if TYPE_CHECKING:
    from predrnn.data.layout import Layout


@dataclass(frozen=True)
class Options:
    """What the user said about the data (the `data.*` keys a reader may use): the array or
    stream `key`, the axes `layout`, `grey` frames, the `actions_key`, and `path_key`, the key
    that named the path (`data.path`, `data.test_path`, `input`) for messages."""

    key: str | None = None
    layout: str | None = None
    grey: bool = False
    path_key: str = "data.path"
    actions_key: str | None = None


class Source(ABC):
    """One file or folder opened by a reader: clips of `length` frames of one shape and dtype.

    Which paths the reader takes (class attributes, read by `registry.py`):
    - `suffixes`: file name endings it reads (lower case, with the dot), for files only;
    - `probe(path)`: True for a path it knows by its content (magic bytes) or a folder it reads
      (a Zarr store, a folder of frame images); probes are asked before suffixes;
    - `in_folders`: a folder given as the path is searched recursively for what it takes;
    - `takes_key`: `data.key` means something to it (an array, an image stream).

    An instance has `name` (for messages), `frame_shape` (C, H, W), `dtype`, `length` (frames per
    clip), `num_clips`, `action_channels` (A, or None without actions), `actions_length` (action
    vectors per clip, ≥ `length`; None without actions) and `layout` (the axes it was laid out in,
    for writing predictions back that way; None for decoded frames: videos, images, records).
    """

    suffixes: ClassVar[tuple[str, ...]] = ()
    in_folders: ClassVar[bool] = False
    takes_key: ClassVar[bool] = False

    name: str
    frame_shape: tuple[int, int, int]
    dtype: np.dtype
    length: int
    num_clips: int = 1
    action_channels: int | None = None
    actions_length: int | None = None
    layout: Layout | None = None

    @classmethod
    def probe(cls, path: Path) -> bool:
        """True when this reader recognises `path` without its suffix (cheap: a few bytes, a listing)."""
        return False

    @classmethod
    def claims(cls, path: Path) -> bool:
        """Whether this reader takes `path`: its probe, or a file with one of its suffixes."""
        return cls.probe(path) or (path.suffix.lower() in cls.suffixes and path.is_file())

    @classmethod
    @abstractmethod
    def open(cls, path: Path, options: Options) -> Source:
        """The source at `path` with the user's options; a DataError (or a `BadValue` of the
        `data` group) names what is wrong and the fix."""

    def clip_name(self, index: int) -> str:
        """The name of clip `index` in messages and in `data.test_clips` matches."""
        return self.name if self.num_clips == 1 else f"{self.name} clip {index}"

    def clips(self) -> list[Clip]:
        """Every clip of the source, in order."""
        return [Clip(self, n, self.length, self.clip_name(n)) for n in range(self.num_clips)]

    @abstractmethod
    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        """Frames start..stop-1 of clip `index`, (t, C, H, W) in `dtype`."""

    def read_actions(self, index: int, start: int, stop: int) -> np.ndarray:
        """The actions of frames start..stop-1 of clip `index`, float32 (t, A)."""
        raise DataError(f"{self.name} carries no actions: leave data.actions_key unset")
