"""TaxiBJ as OpenSTL ships it (docs/benchmarks.md, "TaxiBJ"): one `dataset.npz` holding
`X_train`, `Y_train`, `X_test`, `Y_test`, each (N, 4, 2, 32, 32) float in [−1, 1] (in- and
outflow of 32 × 32 cells of Beijing, half-hourly), observed frames in X and the frames to predict
in Y.

`data=arrays`' `.npz` reader reads one array as clips; here a clip is a sample's X followed by
its Y (8 frames), rescaled as OpenSTL's `TaxibjDataset` does, (x + 1) / 2 onto [0, 1]
(`openstl/datasets/dataloader_taxibj.py:15-16`), as float32. Clip i of the training arrays is
named `X_train/Y_train i`, of the test arrays `X_test/Y_test i`, so `data.test_clips=X_test`
keeps the published test set. The archive is recognised by its members (`probe`), before the
plain `.npz` reader; it is read whole, never unpickled.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from predrnn.data.readers.api import Options, Source
from predrnn.errors import DataError

MEMBERS = ("X_train", "Y_train", "X_test", "Y_test")
PUBLISHED = (
    'TaxiBJ is published by OpenSTL (its tools/prepare_data/download_taxibj.sh; see docs/benchmarks.md, "TaxiBJ"): '
    "give data.path=<root>/taxibj/dataset.npz holding X_train, Y_train, X_test, Y_test, each (N, 4, 2, 32, 32) "
    "in [-1, 1]"
)


class TaxiBJSource(Source):
    """The training and test samples of a TaxiBJ `dataset.npz`, one clip of X then Y each."""

    suffixes = ()

    @classmethod
    def probe(cls, path: Path) -> bool:
        """An .npz whose members are exactly TaxiBJ's four arrays."""
        if path.suffix.lower() != ".npz" or not path.is_file():
            return False
        try:
            with zipfile.ZipFile(path) as z:
                names = {n[:-4] for n in z.namelist() if n.endswith(".npy")}
        except (OSError, zipfile.BadZipFile):
            return False
        return names == set(MEMBERS)

    @classmethod
    def open(cls, path: Path, options: Options) -> TaxiBJSource:
        return cls(path, options.path_key)

    def __init__(self, path: Path, path_key: str = "data.path") -> None:
        self.path, self.path_key, self.name = path, path_key, str(path)
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {k: archive[k] for k in MEMBERS}
        except (OSError, ValueError, KeyError, EOFError) as err:
            raise DataError(f"{path_key}={path} can't be read as TaxiBJ ({type(err).__name__}): {PUBLISHED}") from None
        for key, array in arrays.items():
            if array.ndim != 5 or array.shape[2] != 2 or array.dtype.kind != "f":
                raise DataError(f"{path_key}={path}: {key} is {array.dtype} {array.shape}, not float (N, T, 2, H, W): "
                                f"{PUBLISHED}")  # fmt: skip
        for split in ("train", "test"):
            x, y = arrays[f"X_{split}"], arrays[f"Y_{split}"]
            if x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[2:]:
                raise DataError(f"{path_key}={path}: X_{split} {x.shape} and Y_{split} {y.shape} don't pair up: "
                                f"{PUBLISHED}")  # fmt: skip
        lengths = {a.shape[1] for a in arrays.values()}
        if arrays["X_train"].shape[2:] != arrays["X_test"].shape[2:] or len({a.shape[1] for a in arrays.values()}) != 1:
            raise DataError(f"{path_key}={path}: the arrays' frames or lengths differ ({sorted(lengths)}): {PUBLISHED}")
        # (N, T_x + T_y, C, H, W) per split, rescaled from [-1, 1] onto [0, 1] as OpenSTL does
        self._clips = [
            ((np.concatenate([arrays[f"X_{s}"], arrays[f"Y_{s}"]], axis=1) + 1) / 2).astype(np.float32)
            for s in ("train", "test")
        ]
        self._train = len(self._clips[0])
        self.num_clips = self._train + len(self._clips[1])
        self.length = int(self._clips[0].shape[1])
        self.frame_shape = tuple(int(s) for s in self._clips[0].shape[2:])
        self.dtype = np.dtype(np.float32)

    def clip_name(self, index: int) -> str:
        return f"X_train/Y_train {index}" if index < self._train else f"X_test/Y_test {index - self._train}"

    def read(self, index: int, start: int, stop: int) -> np.ndarray:
        split, i = (0, index) if index < self._train else (1, index - self._train)
        return self._clips[split][i, start:stop]
