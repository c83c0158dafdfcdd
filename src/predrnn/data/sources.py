"""Opening a user's data as clips (docs/data.md, "Formats").

A path is whatever a reader of `predrnn.data.readers` takes (an array file or store, a video, a
BAIR TFRecord file, …), or a folder searched recursively for what the readers that look in
folders take (videos, TFRecord files, folders of frame images). `readers/registry.py` picks the
reader; this module opens the path through it and checks what the sources give against each
other. Nothing is read before a window asks for it, except the headers (and the actions of an
array file, which are small).
"""

from __future__ import annotations

from pathlib import Path

from predrnn.data.clip import Clip
from predrnn.data.readers.api import Options, Source
from predrnn.data.readers.registry import reader_for, sources_under
from predrnn.errors import BadValue, DataError

FORMS = (
    "a .npy/.npz/HDF5/Zarr array, a video (.gif, .mp4, …), BAIR .tfrecords, or a folder of videos, "
    "TFRecord files or frame-image folders"
)


def open_sources(path: Path, options: Options) -> list[Source]:
    """The sources at `path`: the one its reader opens, or those found in the folder."""
    reader = reader_for(path)
    if reader is not None and not (path.is_dir() and reader.in_folders):
        return [reader.open(path, options)]  # a folder a walker takes is walked, to find what is below it too
    if path.is_file():
        raise DataError(
            f"{options.path_key}={path} has an unknown type ({path.suffix.lower() or 'no suffix'}): give {FORMS}"
        )
    sources = sources_under(path, options)
    if not sources:
        raise DataError(
            f"{options.path_key}={path} holds no videos, no TFRecord files and no frame images: give {FORMS}"
        )
    return sources


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
    sources = open_sources(path, Options(key, layout, grey, path_key, actions_key))
    if key is not None and not sources[0].takes_key:
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


def check_actions(
    sources: list[Source], path: Path, path_key: str, actions_key: str, future_actions: int | None
) -> None:
    """Every source carries actions of one length A, and enough of them for its frames."""
    plain = next((s for s in sources if s.action_channels is None), None)
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
