"""Opening a user's data as clips: which reader a path needs (docs/data.md, "Formats").

A path is an array file (`.npy` memory-mapped, `.npz`, HDF5, Zarr), a video file, a BAIR
TFRecord file, or a folder searched recursively for videos, TFRecord files and folders of frame
images. Nothing is read before a window asks for it, except the headers (and the actions of an
array file, which are small). The readers are `array_source.py`, `video.py` and `bair.py`;
this module only chooses among them and checks what they give against each other.
"""

from __future__ import annotations

import os
from pathlib import Path

from predrnn.data.array_source import ArraySource
from predrnn.data.bair import TFRECORD_SUFFIXES, BairSource
from predrnn.data.clip import Clip
from predrnn.data.video import FrameFolderSource, VideoSource
from predrnn.errors import BadValue, DataError

ARRAY_SUFFIXES = (".npy", ".npz", ".h5", ".hdf5", ".he5", ".nc", ".zarr", ".zip")
VIDEO_SUFFIXES = (".gif", ".mp4", ".avi", ".mov", ".mkv", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
FORMS = (
    "a .npy/.npz/HDF5/Zarr array, a video (.gif, .mp4, …), BAIR .tfrecords, or a folder of videos, "
    "TFRecord files or frame-image folders"
)


def is_zarr_store(path: Path) -> bool:
    return path.suffix.lower() == ".zarr" or any((path / f).exists() for f in (".zarray", ".zgroup", "zarr.json"))


def open_clips(
    path: str | Path, key: str | None = None, layout: str | None = None, grey: bool = False,
    path_key: str = "data.path", actions_key: str | None = None, future_actions: int | None = None,
) -> list[Clip]:  # fmt: skip
    """Every clip under `path`. Frames must have one shape across clips.

    With `actions_key`, every clip carries the actions of its frames (an (N, T, A) array beside
    the frames, or BAIR's per-frame feature): exactly one per frame when `future_actions` is
    None (training data), at least `future_actions` more than the clip's frames otherwise
    (predrnn-predict, whose predicted frames need actions too)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path_key}={path} not found: give {FORMS}")
    suffix = path.suffix.lower()
    if path.is_file() and suffix in VIDEO_SUFFIXES:
        sources = [VideoSource(path, grey, path_key)]
    elif path.is_file() and suffix in TFRECORD_SUFFIXES:
        sources = [BairSource(path, key, grey, path_key, actions_key)]
    elif path.is_file() or is_zarr_store(path):
        if suffix not in ARRAY_SUFFIXES and path.is_file():
            raise DataError(f"{path_key}={path} has an unknown type ({suffix or 'no suffix'}): give {FORMS}")
        sources = [ArraySource(path, key, layout, path_key, actions_key)]
    else:
        sources = []
        for folder, dirs, files in sorted(os.walk(path)):
            dirs.sort()
            names = sorted(files)
            videos = [f for f in names if Path(f).suffix.lower() in VIDEO_SUFFIXES]
            records = [f for f in names if Path(f).suffix.lower() in TFRECORD_SUFFIXES]
            images = [f for f in names if Path(f).suffix.lower() in IMAGE_SUFFIXES]
            sources += [VideoSource(Path(folder) / f, grey, path_key) for f in videos]
            sources += [BairSource(Path(folder) / f, key, grey, path_key, actions_key) for f in records]
            if images:
                sources.append(FrameFolderSource(Path(folder), images, grey, path_key))
        if not sources:
            raise DataError(f"{path_key}={path} holds no videos, no TFRecord files and no frame images: give {FORMS}")
    if key is not None and not isinstance(sources[0], (ArraySource, BairSource)):
        raise BadValue(
            "key", key, f"names an array in an HDF5/Zarr/.npz file, but {path} holds videos or images", "null"
        ).in_group("data")
    if actions_key is not None:
        check_actions(sources, path, path_key, actions_key, future_actions)
    shapes = {s.frame_shape for s in sources}
    if len(shapes) > 1:
        first = sources[0]
        odd = next(s for s in sources if s.frame_shape != first.frame_shape)
        raise DataError(
            f"{path_key}={path} mixes frame shapes: {first.name} is {_shape(first.frame_shape)}, {odd.name} is "
            f"{_shape(odd.frame_shape)}: resize them to one size"
        )
    return [clip for source in sources for clip in source.clips()]


def check_actions(sources: list, path: Path, path_key: str, actions_key: str, future_actions: int | None) -> None:
    """Every source carries actions of one length A, and enough of them for its frames."""
    plain = next((s for s in sources if getattr(s, "action_channels", None) is None), None)
    if plain is not None:
        raise BadValue(
            "actions_key", actions_key, f"names actions beside the frames of an HDF5/Zarr/.npz file or BAIR TFRecords, "
            f"but {plain.name} is a video or images, which carry none", "null",
        ).in_group("data")  # fmt: skip
    lengths = {s.action_channels for s in sources}
    if len(lengths) > 1:
        raise DataError(
            f"{path_key}={path} mixes action lengths ({sorted(lengths)} values per frame): give every clip one"
        )
    for source in sources:
        have, frames = source.actions_length, source.length
        if future_actions is None and have != frames:
            raise DataError(
                f"data.actions_key={actions_key} of {source.name} holds {have} actions per clip for {frames} frames: "
                "give one action per frame, (N, T, A) with the frames' N and T"
            )
        if future_actions is not None and have < frames + future_actions:
            raise DataError(
                f"data.actions_key={actions_key} of {source.name} holds {have} actions per clip for {frames} frames: "
                f"predicting {future_actions + 1} frames after them needs {frames + future_actions} (one per frame "
                "and per predicted frame but the last: J + K - 1 for a clip of J frames): give the predicted frames' "
                "actions too"
            )


def _shape(chw: tuple[int, int, int]) -> str:
    c, h, w = chw
    return f"{h}x{w}x{c}"
