"""`data.coarsen`: block means that leave NaN out (docs/data.md, "CF netCDF and
Zarr", coarsening).

A block of `factor` values along a dimension becomes their mean over the valid (non-NaN) ones,
NaN where none is valid; values left over at the end (fewer than `factor`) are dropped, as
xarray's `coarsen(boundary="trim")` does. The reader applies it to each window it reads, so the
whole variable is never in memory.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from predrnn.data.cf_axes import Axes, listed
from predrnn.errors import BadValue, DataError


def check_coarsen_key(coarsen) -> dict:
    """`data.coarsen`: null or a mapping of dimension to a positive integer factor."""
    if coarsen is None:
        return {}
    if not isinstance(coarsen, Mapping):
        raise BadValue("coarsen", coarsen, "must map dimensions to integer factors", "{y: 2, x: 2}").in_group("data")
    for dim, factor in coarsen.items():
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise BadValue(f"coarsen.{dim}", factor, "must be a positive integer factor", 2).in_group("data")
    return dict(coarsen)


def factors(coarsen: Mapping[str, int], axes: Axes, where: str) -> tuple[int, int, int]:
    """(time, y, x) factors; a key is `time`, `y`, `x` or the name of that dimension."""
    names = {"time": "time", "y": "y", "x": "x", axes.time_coord: "time", axes.y: "y", axes.x: "x"}
    if axes.time is not None:
        names[axes.time] = "time"
    found = {"time": 1, "y": 1, "x": 1}
    for dim, factor in coarsen.items():
        if dim not in names:
            raise DataError(
                f"data.coarsen names {dim}, which is not a dimension of {where}'s channels: give time, y or x "
                f"(here {listed(dict.fromkeys([axes.time or axes.time_coord, axes.y, axes.x]))})"
            )
        found[names[dim]] = factor
    return found["time"], found["y"], found["x"]


def nan_block_mean(values: np.ndarray, factors: Mapping[int, int]) -> np.ndarray:
    """Means of blocks of `factors[axis]` consecutive values along each axis, taken over all the
    valid values of a block at once (float64 sums), NaN where a block holds none; the remainder
    along an axis is dropped."""
    factors = {axis: f for axis, f in factors.items() if f > 1}
    if not factors:
        return values
    trim, shape, reduce = [], [], []
    for axis, size in enumerate(values.shape):
        f = factors.get(axis, 1)
        trim.append(slice(0, size // f * f))
        shape += [size // f, f]
        reduce.append(len(shape) - 1)
    blocks = values[tuple(trim)].reshape(shape)
    valid = ~np.isnan(blocks)
    total = np.where(valid, blocks, 0).sum(axis=tuple(reduce), dtype=np.float64)
    count = valid.sum(axis=tuple(reduce))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    return np.where(count > 0, mean, np.nan).astype(values.dtype, copy=False)


def check_size(size: int, factor: int, role: str) -> None:
    if factor > size:
        raise BadValue(
            f"coarsen.{role}", factor, f"is more than the data's {size} {role} values after data.select", size
        ).in_group("data")
