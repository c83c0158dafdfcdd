"""Folders of frame images (PNG, JPEG, BMP, TIFF), one clip per folder, its images in name order
with numbers in order (`frame2` before `frame10`; docs/data.md, "Formats").

Every image's size and bit depth are read from its header when the folder is opened, so mixed
sizes fail at once; a window reads only its files. Frames keep their bit depth: 8-bit images are
uint8 (C, H, W) as `video.to_chw` makes them, 16-bit (and 32-bit integer or float) grey images
are read as they are stored (float data in their units: docs/data.md, "Formats"); 16-bit colour
images, which Pillow would cut to 8 bits, are refused. An image that is a link to a file outside
its folder is refused (only the folder named is read), and so is an image too large to be a
frame (Pillow's decompression-bomb limit); an image that turns out undecodable when a window
reads it is a DataError naming it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from predrnn.data.readers.api import Options, Source
from predrnn.data.readers.video import to_chw
from predrnn.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Pillow's modes of grey images kept at their depth, and the dtype they decode to
DEEP_GREY = {"I;16": np.uint16, "I;16L": np.uint16, "I;16B": np.uint16, "I;16N": np.uint16, "I": np.int32,
             "F": np.float32}  # fmt: skip


def _bits_per_sample(image, path: Path) -> int:
    """The bits per sample the file stores (PNG's IHDR, TIFF's BitsPerSample), 8 if unknown."""
    if image.format == "PNG":
        with open(path, "rb") as f:
            header = f.read(26)
        return header[24] if len(header) == 26 else 8
    if image.format == "TIFF":
        bits = getattr(image, "tag_v2", {}).get(258, 8)
        return max(bits) if isinstance(bits, tuple) and bits else int(bits) if isinstance(bits, int) else 8
    return 8


def image_dtype(image, path: Path, path_key: str) -> np.dtype:
    """What the frames of `image` (an opened Pillow image, header read) decode to: uint8, or a
    deeper grey dtype kept as stored; a 16-bit colour image is a DataError (Pillow keeps only
    its high 8 bits)."""
    if image.mode in DEEP_GREY:
        return np.dtype(DEEP_GREY[image.mode])
    if _bits_per_sample(image, path) > 8:
        raise DataError(
            f"{path_key}: image {path} is {_bits_per_sample(image, path)}-bit colour ({image.mode}), which is read only "
            "as 8 bits: save the frames as 8-bit images, or as 16-bit grey ones, or as a .npy / .h5 array"
        )
    return np.dtype(np.uint8)


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
        root = folder.resolve()
        sizes: dict[tuple, Path] = {}
        dtypes: dict[np.dtype, Path] = {}
        for f in self.files:
            if f.is_symlink() and not f.resolve().is_relative_to(root):
                raise DataError(
                    f"{path_key}: {f} links to {f.resolve()}, outside the folder {folder}: predrnn reads only the "
                    "folder named; copy the image into it"
                )
            try:
                with Image.open(f) as image:
                    channels = 1 if image.mode in ("L", "1", *DEEP_GREY) else 3
                    sizes.setdefault((image.height, image.width, channels), f)
                    dtypes.setdefault(image_dtype(image, f, path_key), f)
            except (OSError, Image.DecompressionBombError) as err:
                raise DataError(f"{path_key}: image {f} can't be read ({err}): replace or remove it") from None
            if len(dtypes) > 1:
                (a, fa), (b, fb) = list(dtypes.items())[:2]
                raise DataError(
                    f"{path_key}: folder {folder} mixes bit depths ({fa.name} is {a}, {fb.name} is {b}): "
                    "save its frames at one depth"
                )
            if len(sizes) > 1:
                (a, fa), (b, fb) = list(sizes.items())[:2]
                raise DataError(
                    f"{path_key}: folder {folder} mixes frame sizes ({fa.name} is {a[0]}x{a[1]}x{a[2]}, {fb.name} is "
                    f"{b[0]}x{b[1]}x{b[2]}): resize its frames to one size"
                )
        (h, w, c), _ = next(iter(sizes.items()))
        self.length = len(self.files)
        self.frame_shape = (1 if grey else c, h, w)
        self.dtype = next(iter(dtypes))

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
            try:
                frame = iio.imread(f)
            except Exception as err:  # decoders raise many types (a truncated or corrupt JPEG): all mean the same
                raise DataError(
                    f"{self.path_key}: image {f} can't be decoded ({' '.join(str(err).split())}): replace or remove it"
                ) from None
            if frame.dtype == bool:  # 1-bit images
                frame = frame.astype(np.uint8) * 255
            if frame.dtype != self.dtype:
                raise DataError(
                    f"{self.path_key}: image {f} decodes to {frame.dtype}, the folder's first image to {self.dtype}: "
                    "save its frames at one depth"
                )
            frames.append(to_chw(frame, self.grey) if self.dtype == np.uint8 else frame[None])
        return np.stack(frames)
