"""Human3.6M as OpenSTL prepares it (docs/benchmarks.md, "Human3.6M"): a folder (`<root>/human`)
holding `train.txt`, `test.txt` and `images/`. A list line `images/S1_Directions.54138969_,226,296`
is one sample: the frames `<folder>/images/S1_Directions.54138969_000226.jpg`, then every 5th
(226, 231, …, 261): 8 frames, 4 observed and 4 to predict (`openstl/datasets/dataloader_human.py`
:77-92, step 5 at :117). OpenSTL resizes frames that are not 256 × 256 on the fly; predrnn reads
the 256 × 256 frames its `tools/prepare_data/resize_image.py` writes and refuses other sizes.

Clip i of `train.txt` is named `train.txt i: <prefix><begin>`, of `test.txt` `test.txt i: …`, so
`data.test_clips=^test.txt` keeps the published test list. Frames are uint8 (3, H, W) in RGB
order (OpenSTL reads them with OpenCV, in BGR order: the channels are swapped, the scores the
same).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from predrnn.data.readers.api import Options, Source
from predrnn.data.readers.video import to_chw
from predrnn.errors import DataError

LISTS = ("train.txt", "test.txt")
STEP = 5  # frames between the frames of a sample (dataloader_human.py:117)
LENGTH = 8  # pre_seq_length + aft_seq_length (openstl/datasets/dataset_constant.py:48-52)
PUBLISHED = (
    "Human3.6M is published at http://vision.imar.ro/human3.6m (OpenSTL's tools/prepare_data/download_human3.6m.sh "
    "and its meta/human lists): give data.path=<root>/human holding train.txt, test.txt and images/<name><frame:06d>.jpg"
)


class Human36MSource(Source):
    """The samples of OpenSTL's train.txt and test.txt, 8 frames 5 apart each."""

    @classmethod
    def probe(cls, path: Path) -> bool:
        """A folder holding train.txt, test.txt and images/."""
        return path.is_dir() and all((path / name).is_file() for name in LISTS) and (path / "images").is_dir()

    @classmethod
    def open(cls, path: Path, options: Options) -> Human36MSource:
        return cls(path, options.path_key)

    def __init__(self, folder: Path, path_key: str = "data.path") -> None:
        from PIL import Image

        self.folder, self.path_key, self.name = folder, path_key, str(folder)
        self.samples: list[tuple[str, int, str]] = []  # (prefix, first frame, list name)
        for list_name in LISTS:
            lines = [line.strip() for line in (folder / list_name).read_text().splitlines() if line.strip()]
            for n, line in enumerate(lines, 1):
                parts = line.split(",")
                if len(parts) < 2 or not parts[1].strip().isdigit():
                    raise DataError(f"{path_key}: line {n} of {folder / list_name} is {line!r}, not "
                                    f"'images/<name>_,<first frame>,<last frame>': {PUBLISHED}")  # fmt: skip
                self.samples.append((parts[0].strip(), int(parts[1]), list_name))
        if not self.samples:
            raise DataError(f"{path_key}={folder}: train.txt and test.txt list no sample: {PUBLISHED}")
        for index in range(len(self.samples)):  # every sample's first and last frame, before a run starts
            for t in (0, LENGTH - 1):
                if not self._file(index, t).is_file():
                    raise DataError(f"{path_key}: frame {self._file(index, t)} of {self.clip_name(index)} is missing: "
                                    f"{PUBLISHED}")  # fmt: skip
        first = self._file(0, 0)
        try:
            with Image.open(first) as image:
                h, w = image.height, image.width
        except OSError as err:
            raise DataError(f"{path_key}: frame {first} can't be read ({type(err).__name__}): {PUBLISHED}") from None
        self.frame_shape, self.length, self.num_clips = (3, h, w), LENGTH, len(self.samples)
        self.dtype = np.dtype(np.uint8)

    def _file(self, index: int, t: int) -> Path:
        prefix, begin, _ = self.samples[index]
        return self.folder / f"{prefix}{begin + STEP * t:06d}.jpg"

    def clip_name(self, index: int) -> str:
        prefix, begin, list_name = self.samples[index]
        return f"{list_name} {index}: {prefix}{begin}"

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        import imageio.v3 as iio

        frames = []
        for t in range(start, stop):
            path = self._file(index, t)
            try:
                frame = to_chw(iio.imread(path), False)
            except OSError as err:
                raise DataError(f"{self.path_key}: frame {path} of {self.clip_name(index)} can't be read "
                                f"({type(err).__name__}): {PUBLISHED}") from None  # fmt: skip
            if frame.shape != self.frame_shape or frame.dtype != np.uint8:
                raise DataError(f"{self.path_key}: frame {path} is {frame.dtype} {frame.shape}, the others "
                                f"uint8 {self.frame_shape}: resize every frame to one size (OpenSTL: 256 x 256)")  # fmt: skip
            frames.append(frame)
        return np.stack(frames)
