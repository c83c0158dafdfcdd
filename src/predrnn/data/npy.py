"""Reading a `.npy` file safely: memory-mapped and never unpickled, with one-line errors for
files that are missing, truncated, hold Python objects or declare a shape their bytes don't
cover."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from predrnn.errors import DataError


def load_npy(path: str | Path, key: str) -> np.ndarray:
    """The array of a `.npy` file, memory-mapped (read lazily, never unpickled)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{key}={path} not found: give an existing .npy file")
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = header(f)  # the header only, nothing is unpickled
            offset = f.tell()
    except (OSError, ValueError, EOFError) as err:
        raise DataError(
            f"{key}={path} is not a .npy file ({' '.join(str(err).split())[:120]}): give a NumPy .npy array"
        )
    if dtype.hasobject:
        raise DataError(f"{key}={path} holds Python objects (dtype {dtype}): predrnn never unpickles; save numbers")
    size = path.stat().st_size - offset
    needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if needed > size:
        raise DataError(
            f"{key}={path} is truncated or corrupt: its header declares shape {tuple(shape)} ({needed:,} bytes) "
            f"but it holds {size:,}: write it again"
        )
    if needed == 0:
        raise DataError(f"{key}={path} is empty (shape {tuple(shape)}): give frames")
    return np.load(path, mmap_mode="r", allow_pickle=False)
