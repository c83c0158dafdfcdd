"""Clips from video files (GIF, MP4, …, decoded with imageio's PyAV and Pillow plugins) and
from folders of frame images (PNG, JPEG, …), one clip per file or folder.

Frames are read as (C, H, W) uint8: grey images give C = 1, colour ones C = 3 (an alpha channel
is dropped), and `grey=True` turns colour into grey (ITU-R 601 luma). A video is decoded from
its start up to the last frame a window needs; a frame folder reads only the window's files.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from predrnn.data.clip import Clip
from predrnn.errors import DataError

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


def natural_key(name: str) -> list:
    """`frame2.png` before `frame10.png`."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


class VideoSource:
    """One video file, one clip."""

    action_channels = None  # videos carry no actions

    def __init__(self, path: Path, grey: bool = False, path_key: str = "data.path") -> None:
        import imageio.v3 as iio

        self.path, self.grey, self.name, self.path_key = path, grey, str(path), path_key
        try:
            props = iio.improps(path, index=None)
            first = next(iter(iio.imiter(path)))
        except Exception as err:  # decoders raise many types; all mean the same to the user
            raise self._undecodable(err) from None
        self.length = int(props.shape[0])
        self.frame_shape = tuple(to_chw(first, grey).shape)
        self.dtype = np.dtype(np.uint8)

    def _undecodable(self, err: Exception) -> DataError:
        reason = " ".join(str(err).split())[:100] or type(err).__name__
        return DataError(
            f"{self.path_key}: video {self.path} can't be decoded ({reason}): re-encode it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4) or remove it"
        )

    def clips(self) -> list[Clip]:
        return [Clip(self, 0, self.length, self.name)]

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


class FrameFolderSource:
    """A folder of frame images (sorted by name, numbers in order), one clip. Every image's
    size is read from its header when the folder is opened, so mixed sizes fail at once."""

    action_channels = None  # images carry no actions

    def __init__(self, folder: Path, files: list[str], grey: bool = False, path_key: str = "data.path") -> None:
        from PIL import Image

        self.folder, self.grey, self.name, self.path_key = folder, grey, str(folder), path_key
        self.files = [folder / f for f in sorted(files, key=natural_key)]
        sizes: dict[tuple, Path] = {}
        for f in self.files:
            try:
                with Image.open(f) as image:
                    channels = 1 if image.mode in ("L", "I", "I;16", "F", "1") else 3
                    sizes.setdefault((image.height, image.width, channels), f)
            except OSError as err:
                raise DataError(f"{path_key}: image {f} can't be read ({err}): replace or remove it") from None
            if len(sizes) > 1:
                (a, fa), (b, fb) = list(sizes.items())[:2]
                raise DataError(
                    f"{path_key}: folder {folder} mixes frame sizes ({fa.name} is {a[0]}x{a[1]}x{a[2]}, {fb.name} is "
                    f"{b[0]}x{b[1]}x{b[2]}): resize its frames to one size"
                )
        (h, w, c), _ = next(iter(sizes.items()))
        self.length = len(self.files)
        self.frame_shape = (1 if grey else c, h, w)
        self.dtype = np.dtype(np.uint8)

    def clips(self) -> list[Clip]:
        return [Clip(self, 0, self.length, self.name)]

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        import imageio.v3 as iio

        frames = []
        for f in self.files[start:stop]:
            frame = iio.imread(f)
            if frame.dtype != np.uint8:
                raise DataError(f"{self.path_key}: image {f} is {frame.dtype}, not 8-bit: save 8-bit images")
            frames.append(to_chw(frame, self.grey))
        return np.stack(frames)
