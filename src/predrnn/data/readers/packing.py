"""CF packing is never read raw (docs/data.md, "CF netCDF and Zarr").

A netCDF-4 (HDF5) variable or a Zarr array written by xarray or netCDF tools may carry values
to decode: `scale_factor` and `add_offset` (packed integers), `_FillValue` and `missing_value`
(no data), `valid_min` / `valid_max` / `valid_range` (out of range is no data) and `_Unsigned`
(bytes to read as unsigned). Read as they are, these values would be in the wrong units or hold
fill values as data, so the array readers refuse them and point to `data=xarray`, which decodes
them. A NaN fill of a float variable changes nothing and is allowed.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import numpy as np

from predrnn.errors import DataError

CF_ATTRIBUTES = (
    "scale_factor", "add_offset", "_FillValue", "missing_value", "valid_min", "valid_max", "valid_range", "_Unsigned",
)  # fmt: skip
FILLS = ("_FillValue", "missing_value")


def numbers(value: Any) -> np.ndarray | None:
    """An attribute's value as float64 numbers (h5py arrays, JSON numbers, a float's bytes in
    base64 as xarray writes a Zarr v3 fill value), or None when it is not numbers."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
        return np.frombuffer(raw, f"<f{len(raw)}").astype(np.float64) if len(raw) in (4, 8) else None
    if isinstance(value, bytes):
        return None
    try:
        return np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        return None


def shown(value: Any) -> str:
    """An attribute's value for a message: 0.01, -32767, [0, 100], true."""
    found = numbers(value)
    if found is None or not found.size:
        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        return text[:40]
    items = [f"{v:.6g}" for v in found[:4]]
    return items[0] if len(found) == 1 else "[" + ", ".join(items) + (", …" if len(found) > 4 else "") + "]"


def decoded_by_cf(attrs: Mapping[str, Any], dtype: np.dtype) -> dict[str, Any]:
    """The attributes among `attrs` that CF decoding would apply to values of `dtype`."""
    found = {}
    for name in CF_ATTRIBUTES:
        if name not in attrs:
            continue
        value = attrs[name]
        fill = numbers(value) if name in FILLS else None
        if fill is not None and fill.size and np.isnan(fill).all() and np.dtype(dtype).kind == "f":
            continue  # a NaN fill of floats: decoding changes nothing
        found[name] = value
    return found


def refuse_packing(attrs: Mapping[str, Any], dtype: np.dtype, where: str, variable: str) -> None:
    """A one-line DataError when `attrs` carry CF packing or fill attributes: `where` is
    `data.path=<file>`, `variable` the array's name in it."""
    found = decoded_by_cf(attrs, dtype)
    if found:
        listed = ", ".join(f"{name}={shown(value)}" for name, value in found.items())
        raise DataError(
            f"{where} variable {variable} carries CF packing/fill attributes ({listed}): read it with data=xarray, "
            'which decodes them (docs/data.md, "CF netCDF and Zarr")'
        )
