"""Zarr stores (v2 and v3): a `.zarr` folder, a folder with Zarr metadata, or a zipped store
(`.zip`); the array `data.key` (or the store's single array), read with zarr one window at a time
(docs/data.md, "Formats").

Only the named store is read: a link from inside the store to a file outside it is refused, and
so is an array carrying CF packing or fill attributes (`packing.py`; xarray writes them into the
array's attributes, and for Zarr v2 its `_FillValue` is the array's fill value), which
`data=xarray` decodes.
"""

from __future__ import annotations

from pathlib import Path

from predrnn.data.readers.array import ArraySource
from predrnn.data.readers.packing import refuse_packing
from predrnn.errors import BadValue, DataError
from predrnn.extras import require

METADATA = (".zarray", ".zgroup", "zarr.json")


class ZarrSource(ArraySource):
    """One array of a Zarr store (a group's array, or a store that is one array)."""

    suffixes = (".zarr", ".zip")

    @classmethod
    def probe(cls, path: Path) -> bool:
        """A store folder: named `.zarr`, or holding Zarr metadata."""
        return path.is_dir() and (path.suffix.lower() == ".zarr" or any((path / f).exists() for f in METADATA))

    def container(self):
        zarr = require("zarr", "formats", f"{self.path_key}={self.path} (Zarr)")

        try:
            if self.path.suffix.lower() == ".zip":  # a zipped store
                from zarr.storage import ZipStore

                return zarr.open(ZipStore(self.path, mode="r"), mode="r")
            return zarr.open(str(self.path), mode="r")
        except Exception as err:  # zarr raises several types for a path that is not a store
            raise DataError(f"{self.path_key}={self.path} is not a readable Zarr store ({err}): write it again")

    def names(self, container) -> list[str]:
        names = [name for name, _ in container.arrays()]
        names += [f"{g}/{a}" for g, group in container.groups() for a, _ in group.arrays()]
        return sorted(names)

    def open_array(self):
        zarr = require("zarr", "formats", f"{self.path_key}={self.path} (Zarr)")

        container = self.container()
        if not isinstance(container, zarr.Array):
            return super().open_array()
        if self.key is not None:
            raise DataError(f"data.key={self.key} given, but {self.path} is a single Zarr array: set data.key=null")
        self.check(container, None)
        return container

    def actions_array(self):
        zarr = require("zarr", "formats", f"{self.path_key}={self.path} (Zarr)")

        if isinstance(self.container(), zarr.Array):
            raise BadValue(
                "actions_key", self.actions_key, f"names an array beside the frames, but {self.path} is a single "
                "Zarr array: write frames and actions as two arrays of a Zarr group", "null",
            ).in_group("data")  # fmt: skip
        return super().actions_array()

    def check(self, node, name: str | None) -> None:
        """Only the named store is read, and never CF-packed values."""
        where = f"{self.path_key}={self.path}" + (f"[{name}]" if name else "")
        if self.path.is_dir():
            root = self.path.resolve()
            for entry in self.path.rglob("*"):
                if entry.is_symlink() and not entry.resolve().is_relative_to(root):
                    raise DataError(
                        f"{where}: {entry.relative_to(self.path)} links to {entry.resolve()}, outside the store: "
                        "predrnn reads only the store named; copy the data into it"
                    )
        refuse_packing(
            cf_attributes(node), node.dtype, f"{self.path_key}={self.path}", name or node.path or self.path.name
        )


def cf_attributes(array) -> dict:
    """The array's attributes as xarray reads them: for a Zarr v2 array xarray wrote (it names
    its dimensions in `_ARRAY_DIMENSIONS`), the fill value is the variable's `_FillValue`."""
    attrs = dict(array.attrs)
    v2 = getattr(array.metadata, "zarr_format", None) == 2
    if v2 and "_ARRAY_DIMENSIONS" in attrs and array.fill_value is not None and "_FillValue" not in attrs:
        attrs["_FillValue"] = array.fill_value
    return attrs
