"""`.npy` files: one array, memory-mapped and never unpickled (`predrnn.data.npy.load_npy`), read
through `data.layout` (docs/data.md, "Formats"). A `.npy` holds no actions."""

from __future__ import annotations

from predrnn.data.npy import load_npy
from predrnn.data.readers.array import ArraySource
from predrnn.errors import BadValue


class NpySource(ArraySource):
    """The array of one `.npy` file."""

    suffixes = (".npy",)

    def open_array(self):
        return load_npy(self.path, self.path_key)

    def load_actions(self):
        raise BadValue(
            "actions_key", self.actions_key, f"names an array beside the frames, but {self.path} is a .npy, "
            "which holds one array: save frames and actions in one .npz, HDF5 or Zarr file", "null",
        ).in_group("data")  # fmt: skip
