"""HDF5 files (`.h5`, `.hdf5`, `.he5`, netCDF-4 `.nc`, or any file with HDF5's signature): the
dataset `data.key` (a path such as `group/frames`, or the file's only dataset), read with h5py
one window at a time (docs/data.md, "Formats").

Only the named file is read: a dataset whose bytes live in other files (external storage, a
virtual dataset) is refused, and so is a variable carrying CF packing or fill attributes
(`packing.py`), which `data=xarray` decodes.
"""

from __future__ import annotations

from pathlib import Path

from predrnn.data.readers.array import ArraySource
from predrnn.data.readers.packing import refuse_packing
from predrnn.errors import DataError
from predrnn.extras import require

SIGNATURE = b"\x89HDF\r\n\x1a\n"
OFFSETS = (0, 512, 1024, 2048, 4096, 8192)  # where HDF5 puts its superblock (after a user block)


class Hdf5Source(ArraySource):
    """One dataset of an HDF5 file, and the actions dataset beside it."""

    suffixes = (".h5", ".hdf5", ".he5", ".nc")

    @classmethod
    def probe(cls, path: Path) -> bool:
        """An HDF5 file whatever its suffix (e.g. `.nc4`): the signature at a superblock offset."""
        if not path.is_file():
            return False
        try:
            with open(path, "rb") as f:
                for offset in OFFSETS:
                    f.seek(offset)
                    if f.read(len(SIGNATURE)) == SIGNATURE:
                        return True
        except OSError:
            return False
        return False

    def container(self):
        h5py = require("h5py", "formats", f"{self.path_key}={self.path} (HDF5)")

        try:
            return h5py.File(self.path, "r")
        except OSError as err:
            raise DataError(f"{self.path_key}={self.path} is not a readable HDF5 file ({err}): write it again")

    def names(self, container) -> list[str]:
        h5py = require("h5py", "formats", f"{self.path_key}={self.path} (HDF5)")

        names: list[str] = []
        container.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        return names

    def close(self, container) -> None:
        container.close()

    def check(self, node, name: str | None) -> None:
        """Only the named file is read, and never CF-packed values."""
        where = f"{self.path_key}={self.path}" + (f"[{name}]" if name else "")
        external = node.external
        if external:
            raise DataError(
                f"{where} keeps its bytes in another file ({external[0][0]!s}, external storage): predrnn reads "
                "only the file named; copy the data into it (h5py: f.create_dataset(name, data=...))"
            )
        if node.is_virtual:
            sources = {str(s.file_name) for s in node.virtual_sources()}
            raise DataError(
                f"{where} is a virtual dataset reading {', '.join(sorted(sources))}: predrnn reads only the file "
                "named; copy the data into it"
            )
        refuse_packing(node.attrs, node.dtype, f"{self.path_key}={self.path}", node.name.lstrip("/"))
