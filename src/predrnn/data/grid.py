"""The spatial metadata of a gridded series (docs/data.md, "data=xarray"): the y/x coordinates
and their attributes, the auxiliary coordinates on the grid (2-D latitude / longitude), the CF
grid-mapping variable and each variable's units and names. It is read once from the input, is
carried through `data.coarsen` and goes into every forecast written (`forecast_writer.py`), so a
forecast lies on the map where its input lay."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from predrnn.errors import DataError

VARIABLE_KEYS = ("units", "standard_name", "long_name", "grid_mapping")  # what a forecast variable keeps
_DROPPED = ("bounds",)  # coordinate attributes naming variables a forecast does not carry
_LONGITUDES = ("longitude", "grid_longitude")


@dataclass(eq=False)
class Grid:
    """The grid of a series: dimension names `y`, `x`; their coordinate values and attributes;
    `auxiliary` coordinates on (a subset of) the grid's dimensions, name -> (dims, values,
    attrs); `grid_mapping` (its variable's name, its attributes) or None; the variables (the
    channels, in order) with, per variable, those of units, standard_name, long_name and
    grid_mapping that the input has."""

    y: str
    x: str
    y_values: np.ndarray
    x_values: np.ndarray
    y_attrs: dict = field(default_factory=dict)
    x_attrs: dict = field(default_factory=dict)
    auxiliary: dict[str, tuple[tuple[str, ...], np.ndarray, dict]] = field(default_factory=dict)
    grid_mapping: tuple[str, dict] | None = None
    variables: list[str] = field(default_factory=list)
    variable_attrs: list[dict] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W): the frame size."""
        return len(self.y_values), len(self.x_values)

    @classmethod
    def from_dataset(cls, ds, variables: list[str], y: str, x: str) -> Grid:
        """The grid of `variables` in the xarray Dataset `ds` (already selected with
        `data.select`, before any coarsening), whose spatial dimensions are `y` and `x`. A
        dimension without a coordinate variable gets its index 0 … n−1."""
        y_values, y_attrs = _dimension(ds, y)
        x_values, x_attrs = _dimension(ds, x)
        attrs = [_variable_attrs(ds[name]) for name in variables]
        return cls(
            y=y, x=x, y_values=y_values, x_values=x_values, y_attrs=y_attrs, x_attrs=x_attrs,
            auxiliary=_auxiliary(ds, variables, y, x), grid_mapping=_grid_mapping(ds, variables, attrs),
            variables=list(variables), variable_attrs=attrs,
        )  # fmt: skip

    def coarsened(self, fy: int, fx: int) -> Grid:
        """The grid after block means of `fy` × `fx` pixels: every coordinate on y or x becomes
        the mean of its blocks (longitudes as the mean direction, so a block across the date line
        stays there), a remainder that makes no whole block is trimmed at the end, as xarray's
        `coarsen(boundary="trim")` trims the data."""
        factors = {self.y: int(fy), self.x: int(fx)}
        if min(factors.values()) < 1:
            raise ValueError(f"coarsening factors must be >= 1, got {fy} and {fx}")
        aux = {
            name: (dims, _block_mean(values, dims, factors, _is_longitude(attrs)), dict(attrs))
            for name, (dims, values, attrs) in self.auxiliary.items()
        }
        return Grid(
            y=self.y, x=self.x,
            y_values=_block_mean(self.y_values, (self.y,), factors, _is_longitude(self.y_attrs)),
            x_values=_block_mean(self.x_values, (self.x,), factors, _is_longitude(self.x_attrs)),
            y_attrs=dict(self.y_attrs), x_attrs=dict(self.x_attrs), auxiliary=aux,
            grid_mapping=None if self.grid_mapping is None else (self.grid_mapping[0], dict(self.grid_mapping[1])),
            variables=list(self.variables), variable_attrs=[dict(a) for a in self.variable_attrs],
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (lists, numbers, strings, None for NaN): for a checkpoint's hyper-parameters."""
        return {
            "y": self.y,
            "x": self.x,
            "y_values": _array_dict(self.y_values),
            "x_values": _array_dict(self.x_values),
            "y_attrs": _json_attrs(self.y_attrs),
            "x_attrs": _json_attrs(self.x_attrs),
            "auxiliary": {
                name: {"dims": list(dims), "values": _array_dict(values), "attrs": _json_attrs(attrs)}
                for name, (dims, values, attrs) in self.auxiliary.items()
            },
            "grid_mapping": None
            if self.grid_mapping is None
            else {"name": self.grid_mapping[0], "attrs": _json_attrs(self.grid_mapping[1])},
            "variables": list(self.variables),
            "variable_attrs": [_json_attrs(a) for a in self.variable_attrs],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Grid:
        """The Grid that `to_dict` gave `d`."""
        gm = d.get("grid_mapping")
        return cls(
            y=d["y"], x=d["x"], y_values=_array(d["y_values"]), x_values=_array(d["x_values"]),
            y_attrs=dict(d.get("y_attrs") or {}), x_attrs=dict(d.get("x_attrs") or {}),
            auxiliary={
                name: (tuple(a["dims"]), _array(a["values"]), dict(a.get("attrs") or {}))
                for name, a in (d.get("auxiliary") or {}).items()
            },
            grid_mapping=None if gm is None else (gm["name"], dict(gm.get("attrs") or {})),
            variables=list(d.get("variables") or []), variable_attrs=[dict(a) for a in d.get("variable_attrs") or []],
        )  # fmt: skip

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grid) and self.to_dict() == other.to_dict()

    __hash__ = None  # mutable, compared by value


def _dimension(ds, dim: str) -> tuple[np.ndarray, dict]:
    if dim not in ds.sizes:
        raise DataError(f"the dataset has no dimension {dim!r} (it has {', '.join(map(str, ds.sizes))})")
    if dim in ds.variables:
        var = ds.variables[dim]
        return np.asarray(var.values), _clean(var.attrs)
    return np.arange(ds.sizes[dim]), {}


def _variable_attrs(var) -> dict:
    """units, standard_name, long_name and grid_mapping of a variable, those it has (xarray with
    `decode_coords="all"` moves grid_mapping into the encoding: it is looked for there too)."""
    out = {k: var.attrs[k] for k in VARIABLE_KEYS if k in var.attrs}
    if "grid_mapping" not in out and "grid_mapping" in var.encoding:
        out["grid_mapping"] = var.encoding["grid_mapping"]
    return {k: _json_value(v) for k, v in out.items()}


def _named_coordinates(var) -> list[str]:
    """The names in a variable's CF `coordinates` attribute (attrs, or the encoding once decoded)."""
    text = var.attrs.get("coordinates") or var.encoding.get("coordinates") or ""
    return str(text).split()


def _auxiliary(ds, variables: list[str], y: str, x: str) -> dict:
    """Coordinates other than y and x whose dimensions are some of (y, x): those the variables'
    `coordinates` attribute names and the dataset's coordinates, in that order."""
    names = [n for v in variables for n in _named_coordinates(ds[v])] + [str(n) for n in ds.coords]
    out: dict[str, tuple[tuple[str, ...], np.ndarray, dict]] = {}
    for name in names:
        if name in out or name in (y, x) or name not in ds.variables:
            continue
        var = ds.variables[name]
        if var.ndim and set(var.dims) <= {y, x}:
            out[name] = (tuple(str(d) for d in var.dims), np.asarray(var.values), _clean(var.attrs))
    return out


def _mapping_name(text: str) -> str:
    """The grid-mapping variable of a `grid_mapping` attribute: `crs`, or the first of CF's
    extended form `crs: x y [other: lat lon]`."""
    return str(text).split(":")[0].split()[0] if str(text).strip() else ""


def _grid_mapping(ds, variables: list[str], attrs: list[dict]) -> tuple[str, dict] | None:
    names = {_mapping_name(a["grid_mapping"]): v for v, a in zip(variables, attrs, strict=True) if "grid_mapping" in a}
    names.pop("", None)
    if len(names) > 1:
        (a, va), (b, vb) = list(names.items())[:2]
        raise DataError(
            f"data.variables {va} and {vb} lie on different grids (grid_mapping {a} and {b}): "
            "choose variables of one grid"
        )
    if not names:
        return None
    name = next(iter(names))
    if name not in ds.variables:
        return None  # named but absent (dropped before): the forecast can't carry it
    return name, _clean(ds.variables[name].attrs)


def _clean(attrs: dict) -> dict:
    return {str(k): _json_value(v) for k, v in attrs.items() if k not in _DROPPED}


def _is_longitude(attrs: dict) -> bool:
    return attrs.get("standard_name") in _LONGITUDES or str(attrs.get("units", "")).lower() in (
        "degrees_east",
        "degree_east",
        "degrees_e",
        "degree_e",
    )


def _block_mean(values: np.ndarray, dims: tuple[str, ...], factors: dict[str, int], longitude: bool) -> np.ndarray:
    """Means of blocks of `factors[dim]` along each of `dims` (1 where a dim has no factor), the
    remainder at the end trimmed; NaN-aware (NaN only where a block has no value)."""
    if all(factors.get(dim, 1) == 1 for dim in dims):
        return np.array(values)  # nothing to average: the values and their dtype as they were
    values = np.asarray(values, dtype=np.float64)
    shape: list[int] = []
    slices = []
    for axis, dim in enumerate(dims):
        f = factors.get(dim, 1)
        n = values.shape[axis] // f
        slices.append(slice(0, n * f))
        shape += [n, f]
    blocks = values[tuple(slices)].reshape(shape)
    axes = tuple(range(1, 2 * len(dims), 2))
    with warnings.catch_warnings():  # an all-NaN block (outside the domain) is NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        if not longitude:
            return np.nanmean(blocks, axis=axes)
        rad = np.deg2rad(blocks)
        mean = np.rad2deg(np.arctan2(np.nanmean(np.sin(rad), axis=axes), np.nanmean(np.cos(rad), axis=axes)))
    if np.nanmin(values, initial=np.inf) >= 0:  # the input's convention: 0..360 stays 0..360
        mean = np.mod(mean, 360.0)
    return mean


def _json_value(value: Any) -> Any:
    """An attribute value as JSON-able Python: numbers, strings, lists of them."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [_json_value(v) for v in value.tolist()] if value.ndim else _json_value(value.item())
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None if np.isnan(value) else value
    return value


def _json_attrs(attrs: dict) -> dict:
    return {str(k): _json_value(v) for k, v in attrs.items()}


def _array_dict(values: np.ndarray) -> dict[str, Any]:
    values = np.asarray(values)
    data = values.tolist()
    if values.dtype.kind == "f":
        data = np.where(np.isnan(values), None, values.astype(object)).tolist()
    return {"dtype": values.dtype.str, "data": data}


def _array(d: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(d["dtype"])
    return np.array(d["data"], dtype=dtype)
