"""netCDF-3 files (classic and 64-bit offset, `CDF\\x01` / `CDF\\x02`, and CDF-5 `CDF\\x05`) are
recognised by their first bytes and refused in one line: they are not HDF5, and their variables
usually carry CF attributes, so `data=xarray` reads them (docs/data.md, "CF netCDF and Zarr")."""

from __future__ import annotations

from pathlib import Path

from predrnn.data.readers.api import Options, Source
from predrnn.errors import DataError

MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05")


class NetCDF3File(Source):
    """Never opened: `open` says which data module reads the file."""

    @classmethod
    def probe(cls, path: Path) -> bool:
        if not path.is_file():
            return False
        try:
            with open(path, "rb") as f:
                return f.read(4) in MAGIC
        except OSError:
            return False

    @classmethod
    def open(cls, path: Path, options: Options) -> Source:
        raise DataError(
            f"{options.path_key}={path} is a netCDF-3 file, which data=arrays does not read: read it with "
            'data=xarray, which reads netCDF-3 and decodes its CF attributes (docs/data.md, "CF netCDF and Zarr")'
        )

    def read(self, index: int, start: int, stop: int):
        raise NotImplementedError  # never opened
