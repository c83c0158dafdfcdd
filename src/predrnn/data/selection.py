"""`data.select` turned into positions (docs/data.md, "CF netCDF and Zarr", selecting).

A key names a coordinate (or a dimension without one, read by position). A scalar picks that
value (the dimension goes away, e.g. a pressure level); a two-element list [a, b] keeps the
values between a and b inclusive, whatever the coordinate's order; a list of three or more values
keeps exactly those, in that order, and each becomes a channel (e.g. the pressure levels
[150, 500, 850] of a 4-D variable: channels t150, t500, t850). A range over a 2-D coordinate
on the y/x grid (the latitude and longitude of a projected grid) keeps the smallest y/x rectangle
holding every pixel inside all such ranges. A range over the time coordinate keeps those times.
Positions are what the reader applies to each file lazily (`Dataset.isel`), so nothing is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from predrnn.data.cf_axes import Axes, listed
from predrnn.data.timeline import iso, parse_time
from predrnn.errors import BadValue, DataError


@dataclass
class Selection:
    """Positions per dimension, applied one step after the other (`steps`), and the times kept
    (`time_range`, inclusive, or None for all)."""

    steps: list[dict] = field(default_factory=list)
    time_range: tuple[np.datetime64, np.datetime64] | None = None
    # a dimension whose listed values each become a channel: (dimension, values), or None
    unfold: tuple[str, list] | None = None

    def apply(self, ds):
        for step in self.steps:
            ds = ds.isel(step)
        return ds

    def keep_times(self, times: np.ndarray) -> np.ndarray:
        """The positions of `times` inside the time range."""
        if self.time_range is None:
            return np.arange(len(times))
        lo, hi = self.time_range
        return np.flatnonzero((times >= lo) & (times <= hi))


def check_select_key(select) -> dict:
    """`data.select`: null or a mapping of names to a value, a [low, high] pair or a list of
    three or more values (each a channel); at most one such list."""
    if select is None:
        return {}
    if not isinstance(select, Mapping):
        raise BadValue("select", select, "must map coordinate names to a value or [low, high]",
                       "{level: 850}").in_group("data")  # fmt: skip
    lists = [k for k, v in select.items() if isinstance(v, (list, tuple)) and len(v) > 2]
    if len(lists) > 1:
        raise BadValue(f"select.{lists[1]}", list(select[lists[1]]), f"lists values as select.{lists[0]} does: only one "
                       "dimension can become channels", [0, 10]).in_group("data")  # fmt: skip
    for key, value in select.items():
        if isinstance(value, (list, tuple)) and len(value) < 2:
            raise BadValue(f"select.{key}", list(value), "must be one value, [low, high] or a list of three or more "
                           "values", [0, 10]).in_group("data")  # fmt: skip
        if isinstance(value, Mapping) or value is None:
            raise BadValue(f"select.{key}", value, "must be one value or [low, high]", [0, 10]).in_group("data")
    return dict(select)


def resolve(ds, select: Mapping, axes: Axes, where: str) -> Selection:
    """The positions `select` picks in `ds`; a name it doesn't hold or a value or range that
    selects nothing is a DataError listing what there is."""
    selection, one_d, box = Selection(), {}, []
    for key, value in select.items():
        if key in (axes.time, axes.time_coord):
            if isinstance(value, (list, tuple)) and len(value) > 2:
                raise BadValue(f"select.{key}", list(value), "must be one time or [first, last]",
                               ["2016-01-01", "2016-12-31"]).in_group("data")  # fmt: skip
            selection.time_range = _time_range(ds[axes.time_coord].values, key, value)
            continue
        if key in ds.coords and ds[key].ndim == 2 and set(ds[key].dims) == {axes.y, axes.x}:
            box.append((key, value))
            continue
        dim, values = _coordinate(ds, key, where)
        if isinstance(value, (list, tuple)) and len(value) > 2:  # these values, each a channel
            one_d[dim] = np.array([_positions(values, key, v) for v in value])
            selection.unfold = (dim, [values[i] for i in one_d[dim]])
            continue
        one_d[dim] = _positions(values, key, value)
    if one_d:
        selection.steps.append(one_d)
    if box:
        selection.steps.append(_box(selection.apply(ds), box, axes, where))
    return selection


def _coordinate(ds, key: str, where: str) -> tuple[str, np.ndarray]:
    if key in ds.coords and ds[key].ndim == 1:
        return str(ds[key].dims[0]), np.asarray(ds[key].values)
    if key in ds.dims:
        return key, np.arange(ds.sizes[key])  # a dimension without a coordinate: positions
    coords = [str(n) for n, c in ds.coords.items() if c.ndim <= 2]
    raise DataError(
        f"data.select names {key}, which is not a coordinate or dimension of {where}: its coordinates are "
        f"{listed(coords)}, its dimensions {listed(ds.dims)}"
    )


def _converted(values: np.ndarray, key: str, value):
    if np.issubdtype(values.dtype, np.datetime64):
        return parse_time(value, f"select.{key}")
    if values.dtype.kind in "biuf" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise BadValue(f"select.{key}", value, f"must be a number (the coordinate {key} holds numbers)",
                       values.flat[0] if values.size else 0).in_group("data")  # fmt: skip
    return value


def _shown(values: np.ndarray) -> str:
    def one(v):
        return iso(v) if isinstance(v, np.datetime64) else (f"{v:g}" if isinstance(v, (float, np.floating)) else str(v))

    if len(values) <= 8:
        return ", ".join(one(v) for v in values)
    return f"{', '.join(one(v) for v in values[:4])}, …, {one(values[-1])} ({len(values)} values)"


def _positions(values: np.ndarray, key: str, value) -> int | slice | np.ndarray:
    """A scalar -> its position; [a, b] -> the positions of the values in [min, max]."""
    if isinstance(value, (list, tuple)):
        lo, hi = sorted(_converted(values, key, v) for v in value)
        inside = np.flatnonzero((values >= lo) & (values <= hi))
        if not len(inside):
            raise DataError(
                f"data.select.{key}=[{value[0]}, {value[1]}] selects nothing: {key} holds {_shown(values)}: give a "
                "range that overlaps them"
            )
        contiguous = inside[-1] - inside[0] + 1 == len(inside)
        return slice(int(inside[0]), int(inside[-1]) + 1) if contiguous else inside
    target = _converted(values, key, value)
    hits = np.flatnonzero(values == target)
    if not len(hits) and values.dtype.kind == "f":
        hits = np.flatnonzero(np.isclose(values, float(target), rtol=1e-9, atol=0))
    if not len(hits):
        raise DataError(f"data.select.{key}={value} is not a value of {key}, which holds {_shown(values)}: "
                        "give one of them, or a range [low, high]")  # fmt: skip
    return int(hits[0])


def _time_range(times: np.ndarray, key: str, value) -> tuple[np.datetime64, np.datetime64]:
    if isinstance(value, (list, tuple)):
        lo, hi = sorted(parse_time(v, f"select.{key}") for v in value)
    else:
        lo = hi = parse_time(value, f"select.{key}")
    return lo, hi


def _box(ds, box: list, axes: Axes, where: str) -> dict[str, slice]:
    """The smallest y/x rectangle holding every pixel inside all the ranges over 2-D coordinates."""
    inside = np.ones((ds.sizes[axes.y], ds.sizes[axes.x]), bool)
    for key, value in box:
        if not isinstance(value, (list, tuple)):
            raise BadValue(f"select.{key}", value, f"must be a range [low, high]: {key} is 2-D over {axes.y}, "
                           f"{axes.x}", [0, 10]).in_group("data")  # fmt: skip
        values = ds[key].transpose(axes.y, axes.x).values
        lo, hi = sorted(_converted(values, key, v) for v in value)
        inside &= (values >= lo) & (values <= hi)
    if not inside.any():
        ranges = ", ".join(f"{k} in [{np.nanmin(ds[k].values):.4g}, {np.nanmax(ds[k].values):.4g}]" for k, _ in box)
        shown = ", ".join(f"{k}={list(v)}" for k, v in box)
        raise DataError(f"data.select {shown} selects nothing in {where} ({ranges}): give ranges that overlap the grid")
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    return {axes.y: slice(int(rows[0]), int(rows[-1]) + 1), axes.x: slice(int(cols[0]), int(cols[-1]) + 1)}


def check_time_selection(times: np.ndarray, selection: Selection, where: str) -> None:
    if selection.time_range is not None and not len(selection.keep_times(times)):
        lo, hi = selection.time_range
        raise DataError(
            f"data.select on time [{iso(lo)}, {iso(hi)}] selects nothing: {where} runs from {iso(times[0])} to "
            f"{iso(times[-1])}; give a range that overlaps it"
        )
