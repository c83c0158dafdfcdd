"""Which variables are the channels, and which dimensions are time, y and x, found the CF way
(docs/data.md, "CF netCDF and Zarr").

An axis is found by the first rule that names exactly one candidate: the `axis` attribute (T, Y,
X) of a coordinate, then its `standard_name` (time; projection_y_coordinate, latitude,
grid_latitude; projection_x_coordinate, longitude, grid_longitude), then the usual names
(time, t, valid_time; y, lat, latitude, rlat, south_north; x, lon, longitude, rlon, west_east).
`data.dims` names any of them instead. Every error lists what the data has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from predrnn.errors import BadValue, DataError

ROLES = ("time", "y", "x")
AXIS = {"time": "T", "y": "Y", "x": "X"}
STANDARD_NAMES = {
    "time": ("time",),
    "y": ("projection_y_coordinate", "latitude", "grid_latitude"),
    "x": ("projection_x_coordinate", "longitude", "grid_longitude"),
}
USUAL_NAMES = {
    "time": ("time", "t", "valid_time"),
    "y": ("y", "lat", "latitude", "rlat", "south_north"),
    "x": ("x", "lon", "longitude", "rlon", "west_east"),
}


@dataclass(frozen=True)
class Axes:
    """The time dimension (None when a file holds one time as a scalar coordinate), the
    coordinate holding the times, and the y and x dimensions."""

    time: str | None
    time_coord: str
    y: str
    x: str

    def as_dict(self) -> dict[str, str | None]:
        return {"time": self.time or self.time_coord, "y": self.y, "x": self.x}


def listed(names) -> str:
    names = [str(n) for n in names]
    return ", ".join(names) if names else "none"


def check_dims_key(dims: Mapping | None) -> dict[str, str | None]:
    """`data.dims`: null or a mapping of time / y / x to a name (null: found the CF way)."""
    if dims is None:
        return dict.fromkeys(ROLES)
    if not isinstance(dims, Mapping) or set(dims) - set(ROLES):
        raise BadValue("dims", dims, "must map time, y and x to dimension names (null: found the CF way)",
                       "{y: rows, x: cols}").in_group("data")  # fmt: skip
    for role, name in dims.items():
        if name is not None and (not isinstance(name, str) or not name):
            raise BadValue(f"dims.{role}", name, "must be a dimension name or null", role).in_group("data")
    return {role: dims.get(role) for role in ROLES}


# --- variables -----------------------------------------------------------------------------------
def candidate_variables(ds) -> list[str]:
    """The data variables that can be channels: numeric, at least 2-D, not a grid mapping or the
    bounds of a coordinate."""
    referenced = set()
    for var in ds.variables.values():
        for key in ("grid_mapping", "bounds"):
            value = var.attrs.get(key) or var.encoding.get(key)
            if isinstance(value, str):
                referenced.update(value.replace(":", " ").split())
    return [
        str(name) for name, var in ds.data_vars.items()
        if var.ndim >= 2 and var.dtype.kind in "biuf" and str(name) not in referenced
    ]  # fmt: skip


def pick_variables(ds, variables: Sequence[str] | None, where: str) -> list[str]:
    """The channels: the variables named (each one must exist), or the only candidate."""
    if variables is None:
        found = candidate_variables(ds)
        if len(found) == 1:
            return found
        if not found:
            raise DataError(f"{where} holds no data variable with dimensions (variables: {listed(ds.data_vars)}): "
                            "give a netCDF/Zarr file of gridded fields")  # fmt: skip
        raise DataError(
            f"{where} holds several data variables ({listed(found)}) and data.variables is null: name the channels, "
            f"e.g. data.variables=[{found[0]}]"
        )
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise DataError(
            f"data.variables names {listed(missing)}, which {where} does not hold: its variables are "
            f"{listed(candidate_variables(ds) or list(ds.data_vars))}"
        )
    odd = [v for v in variables if ds[v].dtype.kind not in "biuf"]
    if odd:
        raise DataError(f"data.variables={odd[0]} of {where} holds {ds[odd[0]].dtype} values, not numbers: "
                        "name numeric variables")  # fmt: skip
    return list(variables)


# --- axes ------------------------------------------------------------------------------------------
def find_axes(ds, variables: Sequence[str], dims: Mapping[str, str | None], where: str) -> Axes:
    """The time / y / x of `variables` (found on the first one), by `dims` or the CF rules."""
    var_dims = [str(d) for d in ds[variables[0]].dims]
    time, time_coord = find_time(ds, var_dims, dims.get("time"), where)
    rest = [d for d in var_dims if d != time]
    y = find_spatial(ds, variables[0], rest, "y", dims.get("y"), where)
    x = find_spatial(ds, variables[0], [d for d in rest if d != y], "x", dims.get("x"), where)
    return Axes(time, time_coord, y, x)


def _is_time(ds, name: str) -> bool:
    return np.issubdtype(ds[name].dtype, np.datetime64)


def _rules(ds, names: Sequence[str], role: str) -> list[list[str]]:
    """The candidates `names` (coordinate variables) that each rule picks, in rule order."""
    attrs = {n: ds[n].attrs for n in names if n in ds.variables}
    return [
        [n for n, a in attrs.items() if str(a.get("axis", "")).upper() == AXIS[role]],
        [n for n, a in attrs.items() if a.get("standard_name") in STANDARD_NAMES[role]],
        [n for n in names if n.lower() in USUAL_NAMES[role]],
    ]


def find_time(ds, var_dims: Sequence[str], given: str | None, where: str) -> tuple[str | None, str]:
    """(time dimension or None, time coordinate) of a variable with dimensions `var_dims`."""
    along = {str(n): str(c.dims[0]) for n, c in ds.coords.items() if c.ndim == 1 and c.dims[0] in var_dims}
    scalars = [str(n) for n, c in ds.coords.items() if c.ndim == 0]
    if given is not None:
        if given in var_dims:
            coords = [n for n, d in along.items() if d == given and _is_time(ds, n)]
            coord = given if given in coords else (coords[0] if coords else given)
            if coord not in ds.variables:
                raise DataError(f"data.dims.time={given} of {where} has no coordinate of times along it: give the "
                                "times as a coordinate variable with CF units ('minutes since 2020-01-01')")  # fmt: skip
            return given, _checked_time(ds, coord, where)
        if given in along or given in scalars:
            return along.get(given), _checked_time(ds, given, where)
        raise DataError(
            f"data.dims.time={given} is not a dimension of {where}'s variables ({listed(var_dims)}) nor a time "
            f"coordinate (coordinates: {listed(ds.coords)}): name one of those"
        )
    candidates = [*along, *scalars, *(d for d in var_dims if d not in along and d in ds.variables)]
    for picked in [*_rules(ds, candidates, "time"), [n for n in candidates if _is_time(ds, n)]]:
        picked = list(dict.fromkeys(picked))
        if len(picked) == 1:
            return along.get(picked[0]), _checked_time(ds, picked[0], where)
        if len(picked) > 1:
            raise DataError(f"{where} has several time coordinates ({listed(picked)}): name one with "
                            f"data.dims={{time: {picked[0]}}}")  # fmt: skip
    raise DataError(
        f"{where} has no time coordinate along its variables' dimensions ({listed(var_dims)}; coordinates: "
        f"{listed(ds.coords)}): name it with data.dims={{time: NAME}}"
    )


def _checked_time(ds, name: str, where: str) -> str:
    if not _is_time(ds, name):
        units = ds[name].attrs.get("units") or ds[name].encoding.get("units")
        calendar = ds[name].attrs.get("calendar") or ds[name].encoding.get("calendar")
        raise DataError(
            f"the time coordinate {name} of {where} does not read as dates (dtype {ds[name].dtype}, units={units!r}"
            f"{f', calendar={calendar!r}' if calendar else ''}): give CF units such as 'minutes since 2020-01-01' "
            "in the standard calendar"
        )
    return name


def find_spatial(ds, variable: str, var_dims: Sequence[str], role: str, given: str | None, where: str) -> str:
    """The y or x dimension among `var_dims` of `variable`."""
    if given is not None:
        if given not in var_dims:
            raise DataError(
                f"data.dims.{role}={given} is not a dimension of {variable} in {where}: its dimensions are "
                f"{listed(ds[variable].dims)}"
            )
        return given
    names = {}  # candidate name (coordinate or dimension) -> the dimension it stands for
    for d in var_dims:
        names[d] = d
        for n, c in ds.coords.items():
            if c.ndim == 1 and c.dims[0] == d:
                names.setdefault(str(n), d)
    for picked in _rules(ds, list(names), role):
        found = list(dict.fromkeys(names[n] for n in picked))
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise DataError(f"{variable} in {where} has several {role} dimensions ({listed(found)}): name one with "
                            f"data.dims={{{role}: {found[0]}}}")  # fmt: skip
    raise DataError(
        f"no {role} dimension found among the dimensions of {variable} in {where} ({listed(ds[variable].dims)}): "
        f"name it with data.dims={{{role}: NAME}}"
    )


def check_same_grid(ds, variables: Sequence[str], axes: Axes, where: str) -> None:
    """Every channel on the first one's time, y and x dimensions, with the same sizes."""

    def shape(v: str) -> str:
        return "(" + ", ".join(f"{d}: {ds[v].sizes[d]}" for d in ds[v].dims) + ")"

    first = variables[0]
    for v in variables[1:]:
        need = [d for d in (axes.time, axes.y, axes.x) if d is not None]
        if any(d not in ds[v].dims or ds[v].sizes[d] != ds[first].sizes[d] for d in need):
            raise DataError(
                f"data.variables {first} and {v} of {where} are on different grids ({first} {shape(first)}, {v} "
                f"{shape(v)}): choose variables on one grid (a file per grid is a run per grid)"
            )
