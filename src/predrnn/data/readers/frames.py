"""Folders of frame images (PNG, JPEG, BMP, TIFF), one clip per folder, its images in name order
with numbers in order (`frame2` before `frame10`; docs/data.md, "Formats").

Every image's size is read from its header when the folder is opened, so mixed sizes fail at
once; a window reads only its files. Frames are uint8 (C, H, W) as `video.to_chw` makes them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from predrnn.data.readers.api import Options, Source
from predrnn.data.readers.video import to_chw
from predrnn.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def natural_key(name: str) -> list:
    """`frame2.png` before `frame10.png`."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def images_in(folder: Path) -> list[str]:
    """The names of the image files directly in `folder`."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    return [e.name for e in entries if e.suffix.lower() in IMAGE_SUFFIXES and e.is_file()]


class FrameFolderSource(Source):
    """A folder of frame images, one clip."""

    in_folders = True

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

    @classmethod
    def probe(cls, path: Path) -> bool:
        """A folder that holds image files itself."""
        return path.is_dir() and bool(images_in(path))

    @classmethod
    def open(cls, path: Path, options: Options) -> FrameFolderSource:
        return cls(path, images_in(path), options.grey, options.path_key)

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        import imageio.v3 as iio

        frames = []
        for f in self.files[start:stop]:
            frame = iio.imread(f)
            if frame.dtype != np.uint8:
                raise DataError(f"{self.path_key}: image {f} is {frame.dtype}, not 8-bit: save 8-bit images")
            frames.append(to_chw(frame, self.grey))
        return np.stack(frames)
