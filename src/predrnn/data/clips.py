"""Clips of a user's data: where they come from and how a window of frames is read.

A *source* is one file or folder: an array file (`.npy` memory-mapped, `.npz`, HDF5, Zarr)
with a layout, a video file, or a folder of frame images. It yields *clips*, each a sequence of
frames read on demand as (t, C, H, W) in the file's own dtype. Nothing is read before a window
asks for it, except the headers (docs/data.md, "Formats").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from predrnn.data.arrays import load_npy
from predrnn.data.layout import Layout
from predrnn.errors import BadValue, DataError

ARRAY_SUFFIXES = (".npy", ".npz", ".h5", ".hdf5", ".he5", ".nc", ".zarr", ".zip")
VIDEO_SUFFIXES = (".gif", ".mp4", ".avi", ".mov", ".mkv", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
FORMS = "a .npy/.npz/HDF5/Zarr array, a video (.gif, .mp4, …), or a folder of videos or of frame-image folders"


class Source(Protocol):
    frame_shape: tuple[int, int, int]  # (C, H, W)
    dtype: np.dtype

    def read(self, index: int, start: int, stop: int) -> np.ndarray: ...


@dataclass(frozen=True)
class Clip:
    """Frames `offset .. offset + length - 1` of clip `index` of `source`."""

    source: Any
    index: int
    length: int
    name: str
    offset: int = 0

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames start..stop-1 of this clip, (t, C, H, W) in the file's dtype."""
        return self.source.read(self.index, self.offset + start, self.offset + stop)

    def part(self, start: int, stop: int, tag: str) -> Clip:
        """Frames start..stop-1 as a clip of their own (a split along time)."""
        return Clip(self.source, self.index, stop - start, f"{self.name} {tag}", self.offset + start)


def check_dtype(dtype: np.dtype, name: str) -> np.dtype:
    if dtype.kind not in "uif" and dtype.kind != "b":
        raise DataError(f"{name} holds {dtype} values: give numbers (uint8 frames, or ints / floats)")
    return dtype


class ArraySource:
    """One array read through its layout: a memory-mapped .npy, an .npz member (read whole),
    an HDF5 dataset or a Zarr array (both read block by block). HDF5 and Zarr handles are
    opened per process, so loader workers each get their own."""

    def __init__(self, path: Path, key: str | None, layout: str | None, path_key: str = "data.path") -> None:
        self.path, self.key, self.path_key = path, key, path_key
        self._array, self._pid = None, None
        array = self.array
        self.name = f"{path}" + (f"[{self.key}]" if self.key else "")
        try:
            self.layout = Layout(layout) if layout is not None else Layout.guess(array.ndim, f"{path_key}={self.name}")
            self.layout.check_rank(tuple(array.shape), self.name)
        except BadValue as err:
            raise err.in_group("data") from None
        shape = tuple(int(s) for s in array.shape)
        self.num_clips = self.layout.size(shape, "N")
        self.length = self.layout.size(shape, "T")
        self.frame_shape = tuple(self.layout.size(shape, a) for a in "CHW")
        self.dtype = check_dtype(np.dtype(array.dtype), self.name)
        if 0 in shape:
            raise DataError(f"{self.path_key}={self.name} is empty (shape {shape}): give frames")

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None, "_pid": None}  # handles are reopened in each process

    @property
    def array(self):
        if self._array is None or self._pid != os.getpid():
            self._array, self._pid = self._open(), os.getpid()
        return self._array

    def _open(self):
        suffix = self.path.suffix.lower()
        if suffix == ".npy":
            return load_npy(self.path, self.path_key)
        if suffix == ".npz":
            return self._member_npz()
        if suffix in (".zarr", ".zip") or self.path.is_dir():
            return self._member_zarr()
        return self._member_h5()

    def _missing(self, names: list[str]):
        listed = ", ".join(names[:8]) + (" …" if len(names) > 8 else "") or "nothing"
        if self.key is None:
            return DataError(
                f"{self.path_key}={self.path} holds {len(names)} arrays ({listed}): choose one with data.key=NAME"
            )
        return DataError(f"data.key={self.key} is not in {self.path} (it holds {listed}): give one of those")

    def _pick(self, names: list[str]) -> str:
        if self.key is None and len(names) == 1:
            self.key = names[0]
        if self.key not in names:
            raise self._missing(names)
        return self.key

    def _member_npz(self) -> np.ndarray:
        try:
            with np.load(self.path, allow_pickle=False) as archive:
                return archive[self._pick(list(archive.files))]
        except DataError:
            raise
        except ValueError as err:  # an object array asks for pickle
            raise DataError(
                f"{self.path_key}={self.path} holds Python objects ({err}): predrnn never unpickles; save numbers"
            )
        except (OSError, EOFError) as err:
            raise DataError(f"{self.path_key}={self.path} is not a readable .npz ({err}): write it again")

    def _member_h5(self):
        import h5py

        try:
            handle = h5py.File(self.path, "r")
        except OSError as err:
            raise DataError(f"{self.path_key}={self.path} is not a readable HDF5 file ({err}): write it again")
        names: list[str] = []
        handle.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        return handle[self._pick(names)]

    def _member_zarr(self):
        import zarr

        try:
            if self.path.suffix.lower() == ".zip":  # a zipped store
                from zarr.storage import ZipStore

                node = zarr.open(ZipStore(self.path, mode="r"), mode="r")
            else:
                node = zarr.open(str(self.path), mode="r")
        except Exception as err:  # zarr raises several types for a path that is not a store
            raise DataError(f"{self.path_key}={self.path} is not a readable Zarr store ({err}): write it again")
        if isinstance(node, zarr.Array):
            if self.key is not None:
                raise DataError(f"data.key={self.key} given, but {self.path} is a single Zarr array: set data.key=null")
            return node
        names = [name for name, _ in node.arrays()]
        names += [f"{g}/{a}" for g, group in node.groups() for a, _ in group.arrays()]
        return node[self._pick(sorted(names))]

    def clips(self) -> list[Clip]:
        if not self.layout.has_clips:
            return [Clip(self, 0, self.length, self.name)]
        return [Clip(self, n, self.length, f"{self.name} clip {n}") for n in range(self.num_clips)]

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        block = np.asarray(self.array[self.layout.clip_index(index, start, stop)])
        return np.ascontiguousarray(self.layout.to_tchw(block))


def is_zarr_store(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" or any((path / f).exists() for f in (".zarray", ".zgroup", "zarr.json"))


def open_clips(
    path: str | Path, key: str | None = None, layout: str | None = None, grey: bool = False,
    path_key: str = "data.path",
) -> list[Clip]:  # fmt: skip
    """Every clip under `path`: an array file, a video, or a folder (searched recursively) of
    videos and of folders of frame images. Frames must have one shape across clips."""
    from predrnn.data.video import FrameFolderSource, VideoSource

    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path_key}={path} not found: give {FORMS}")
    suffix = path.suffix.lower()
    if path.is_file() and suffix in VIDEO_SUFFIXES:
        sources = [VideoSource(path, grey, path_key)]
    elif path.is_file() or is_zarr_store(path):
        if suffix not in ARRAY_SUFFIXES and path.is_file():
            raise DataError(f"{path_key}={path} has an unknown type ({suffix or 'no suffix'}): give {FORMS}")
        sources = [ArraySource(path, key, layout, path_key)]
    else:
        sources = []
        for folder, dirs, files in sorted(os.walk(path)):
            dirs.sort()
            names = sorted(files)
            videos = [f for f in names if Path(f).suffix.lower() in VIDEO_SUFFIXES]
            images = [f for f in names if Path(f).suffix.lower() in IMAGE_SUFFIXES]
            sources += [VideoSource(Path(folder) / f, grey, path_key) for f in videos]
            if images:
                sources.append(FrameFolderSource(Path(folder), images, grey, path_key))
        if not sources:
            raise DataError(f"{path_key}={path} holds no videos and no frame images: give {FORMS}")
    if key is not None and not isinstance(sources[0], ArraySource):
        raise BadValue(
            "key", key, f"names an array in an HDF5/Zarr/.npz file, but {path} holds videos or images", "null"
        ).in_group("data")
    shapes = {s.frame_shape for s in sources}
    if len(shapes) > 1:
        first = sources[0]
        odd = next(s for s in sources if s.frame_shape != first.frame_shape)
        raise DataError(
            f"{path_key}={path} mixes frame shapes: {first.name} is {_shape(first.frame_shape)}, {odd.name} is "
            f"{_shape(odd.frame_shape)}: resize them to one size"
        )
    return [clip for source in sources for clip in source.clips()]


def _shape(chw: tuple[int, int, int]) -> str:
    c, h, w = chw
    return f"{h}x{w}x{c}"
