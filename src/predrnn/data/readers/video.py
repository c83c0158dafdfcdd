"""Video files (GIF, MP4, …, decoded with imageio's PyAV and Pillow plugins), one clip each
(docs/data.md, "Formats").

Frames are read as (C, H, W) uint8: grey frames give C = 1, colour ones C = 3 (an alpha channel
is dropped), and `grey=True` turns colour into grey (ITU-R 601 luma). A video is decoded from its
start up to the last frame a window needs. `to_chw` is shared with the other readers of decoded
frames (`frames.py`, `bair.py`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from predrnn.data.readers.api import Options, Source
from predrnn.errors import DataError
from predrnn.extras import require

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def to_chw(frame: np.ndarray, grey: bool) -> np.ndarray:
    """One decoded frame (H, W) or (H, W, 3|4) as uint8 (C, H, W)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        return frame[None]
    frame = frame[..., :3]
    if grey:
        return np.rint(frame.astype(np.float32) @ LUMA).clip(0, 255).astype(np.uint8)[None]
    return np.moveaxis(frame, -1, 0)


class VideoSource(Source):
    """One video file, one clip."""

    suffixes = (".gif", ".mp4", ".avi", ".mov", ".mkv", ".webm")
    in_folders = True

    def __init__(self, path: Path, grey: bool = False, path_key: str = "data.path") -> None:
        import imageio.v3 as iio

        if path.suffix.lower() != ".gif":  # GIFs decode with Pillow, the other videos with PyAV
            require("av", "formats", f"{path_key}={path} (a video)")
        self.path, self.grey, self.name, self.path_key = path, grey, str(path), path_key
        try:
            props = iio.improps(path, index=None)
            first = next(iter(iio.imiter(path)))
        except Exception as err:  # decoders raise many types; all mean the same to the user
            raise self._undecodable(err) from None
        self.length = int(props.shape[0])
        self.frame_shape = tuple(to_chw(first, grey).shape)
        self.dtype = np.dtype(np.uint8)

    @classmethod
    def open(cls, path: Path, options: Options) -> VideoSource:
        return cls(path, options.grey, options.path_key)

    def _undecodable(self, err: Exception) -> DataError:
        reason = " ".join(str(err).split())[:100] or type(err).__name__
        return DataError(
            f"{self.path_key}: video {self.path} can't be decoded ({reason}): re-encode it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4) or remove it"
        )

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        import imageio.v3 as iio

        frames = []
        try:
            for t, frame in enumerate(iio.imiter(self.path)):
                if t >= stop:
                    break
                if t >= start:
                    frames.append(to_chw(frame, self.grey))
        except Exception as err:
            raise self._undecodable(err) from None
        if len(frames) < stop - start:
            raise DataError(
                f"{self.path_key}: video {self.path} ends after {start + len(frames)} frames, its header says "
                f"{self.length}: re-encode it"
            )
        return np.stack(frames)
