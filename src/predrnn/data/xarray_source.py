"""A time series of gridded fields read through xarray: a CF netCDF file (netCDF-3 or -4), a Zarr
store (v2 or v3), a folder or glob of them, or a URL (docs/data.md, "CF netCDF and Zarr").

`open_series` opens every file lazily (no dask, nothing loaded but coordinates), finds the
channels and the time / y / x dimensions the CF way (`cf_axes.py`), applies `data.select` as
positions (`selection.py`), reads each file's times and puts the files in time order by its
own index (time i of the series is time j of file k), so a folder of one file per radar scan is
one series without concatenating anything. `Series.read(start, stop)` reads just those times:
per file the slice of each variable, CF-decoded by xarray (scale_factor, add_offset,
_FillValue, missing_value) plus valid_min / valid_max / valid_range here, all out-of-range
values NaN; then `data.coarsen` as NaN-aware block means (`coarsen.py`), a coarsened time
reading its `factor` raw times.

Handles are opened per process (DataLoader workers fork), at most `OPEN_FILES` at a time; a
forked worker leaves the handles it inherited open (closing them would close the parent's
connections: remote.py); a file opened again must still have the times and shapes it had, or it
changed while being read.
"""

from __future__ import annotations

import glob
import os
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from predrnn.data import remote, timeline
from predrnn.data.cf_axes import Axes, check_dims_key, check_same_grid, find_axes, pick_variables
from predrnn.data.coarsen import check_coarsen_key, check_size, factors, nan_block_mean
from predrnn.data.selection import Selection, check_select_key, check_time_selection, resolve
from predrnn.errors import BadValue, DataError
from predrnn.extras import require

OPEN_FILES = 8  # handles kept open per process; the others are reopened when a window needs them
# decoded blocks of times kept per process (docs/data.md, "CF netCDF and Zarr"): a block is the
# variable's time chunk on disk (BLOCK_TIMES where it has none), so a window that reads part of
# a chunk keeps the rest for the overlapping windows that follow, decompressed once
CACHE_BYTES = 64 * 2**20
BLOCK_TIMES = 16
NETCDF3_MAGIC = (b"CDF\x01", b"CDF\x02")
NETCDF5_MAGIC = b"CDF\x05"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
FORMS = "a netCDF file (netCDF-3 or -4), a Zarr store, a folder or glob of them, or a URL (s3://, gs://, https://)"


def open_series(
    path, variables=None, dims=None, select=None, coarsen=None, storage_options=None, time_step=None,
    path_key: str = "data.path",
) -> Series:  # fmt: skip
    """The series under `path` (see the module docstring); bad input is a DataError or a
    BadValue of the `data` group naming the key and the fix. A list of paths is one series of
    their variables side by side (`JoinedSeries`: path i gives variable i, WeatherBench's one
    folder per variable)."""
    if isinstance(path, Sequence) and not isinstance(path, (str, bytes)):
        return JoinedSeries(path, variables, dims, select, coarsen, storage_options, time_step, path_key)
    return Series(path, variables, dims, select, coarsen, storage_options, time_step, path_key)


@dataclass
class _Part:
    """One file or store: where it is, its times (all of them, to notice a change), the positions
    of the times kept, and its variables' shapes."""

    location: str
    name: str
    times: np.ndarray
    keep: np.ndarray
    shapes: tuple


@dataclass
class _Opened:
    """An open file: the dataset and each channel as a lazy DataArray of (time, y, x) or (y, x)."""

    ds: Any
    arrays: list
    limits: list


class Series:
    """Times (datetime64[ns], increasing, after coarsening), the step, the channels, the frame
    shape (C, H, W) and the grid; `read(start, stop)` gives float32 (t, C, H, W), NaN = no data."""

    def __init__(
        self, path, variables=None, dims=None, select=None, coarsen=None, storage_options=None, time_step=None,
        path_key: str = "data.path",
    ) -> None:  # fmt: skip
        if not isinstance(path, (str, os.PathLike)) or not str(path):
            raise BadValue("path", path, f"must name {FORMS}", "radar.nc").in_group("data")
        if storage_options is not None and not isinstance(storage_options, Mapping):
            raise BadValue("storage_options", storage_options, "must be a mapping of fsspec options",
                           "{anon: true}").in_group("data")  # fmt: skip
        self.path, self.path_key = str(path), path_key
        self.storage_options = dict(storage_options) if storage_options else None
        self.select, self.coarsen = check_select_key(select), check_coarsen_key(coarsen)
        self._pid, self._opened = os.getpid(), OrderedDict()
        self._cache, self._cache_pid, self._cached = OrderedDict(), os.getpid(), 0  # decoded blocks (_block)
        require_xarray()
        self.remote = remote.is_url(self.path)
        self.where = f"{path_key}={self._shown(self.path)}"
        wanted = _variables_key(variables)
        first, parts, self._all_times = None, [], []
        for location in self._locations():
            part, opened = self._first_open(location, wanted, check_dims_key(dims), first)
            first = first or (opened, part)
            self._all_times.append(part.times)
            if len(part.keep):
                parts.append(part)
        self._finish(parts, first, time_step)

    # --- opening ---------------------------------------------------------------------------------
    def _shown(self, location: str) -> str:
        return remote.redact(location) if self.remote else location

    def _locations(self) -> list[str]:
        if self.remote:
            return list(remote.expand(self.path, self.storage_options, self.path_key))
        return local_locations(self.path, self.path_key)

    def _open_dataset(self, location: str):
        if self.remote:
            return remote.open_dataset(location, self.storage_options, self.path_key)
        return open_local(Path(location), self.path_key)

    def _first_open(self, location: str, wanted, dims, first) -> tuple[_Part, _Opened]:
        """Open one file at setup: its channels, axes, selection, times and checks against the
        first file."""
        ds = self._open_dataset(location)
        name = self._shown(location)
        if first is None:
            # the file's variables; `variables` are the channels (one per level of data.select's list)
            self.sources = pick_variables(ds, wanted, name)
            self.axes = find_axes(ds, self.sources, dims, name)
        else:
            pick_variables(ds, self.sources, name)
            fixed = {"time": self.axes.time_coord, "y": self.axes.y, "x": self.axes.x}
            axes = find_axes(ds, self.sources, fixed, name)
            if axes != self.axes:
                raise DataError(f"{name} has the time dimension {axes.time}, {first[1].name} {self.axes.time}: give "
                                "files of one layout")  # fmt: skip
        selection = resolve(ds, self.select, self.axes, name)
        opened = self._prepare(ds, selection, name)
        times = _times(ds, self.axes)
        part = _Part(location, name, times, selection.keep_times(times), _shapes(ds, self.sources))
        if first is None:
            self._selection, self._first_selected = selection, selection.apply(ds)
            self._source_attributes = [_attributes(ds[v]) for v in self.sources]
            self._counts = [len(selection.unfold[1]) if selection.unfold and selection.unfold[0] in ds[v].dims else 1
                            for v in self.sources]  # fmt: skip
            self.variables, self.attributes = _channels(self.sources, self._source_attributes, self._counts, selection)
        else:
            self._check_like_first(ds, opened, part, first)
        self._remember(location, opened)
        return part, opened

    def _prepare(self, ds, selection: Selection, name: str) -> _Opened:
        """Each channel selected and laid out as (time, y, x) (or (y, x) for a file of one time);
        any other dimension must be fixed by data.select (or have one value)."""
        selected = selection.apply(ds)
        check_same_grid(selected, self.sources, self.axes, name)
        arrays, limits = [], []
        unfold = selection.unfold[0] if selection.unfold else None
        for v in self.sources:
            da = selected[v]
            lost = [role for role in ("y", "x") if getattr(self.axes, role) not in da.dims]
            if lost:
                raise DataError(
                    f"data.select leaves {v} of {name} without its {lost[0]} dimension: give a range [low, high] "
                    f"for {getattr(self.axes, lost[0])}, not one value"
                )
            extra = [d for d in da.dims if d not in (self.axes.time, self.axes.y, self.axes.x)]
            wide = [d for d in extra if da.sizes[d] > 1 and d != unfold]
            if wide:
                d = wide[0]
                values = ds[d].values if d in ds.coords else np.arange(ds.sizes[d])
                raise DataError(
                    f"{v} in {name} has the dimension {d} ({da.sizes[d]} values) beside time, y and x: pick one "
                    f"with data.select, e.g. data.select={{{d}: {_plain(values[0])}}}"
                )
            order = [d for d in (self.axes.time, self.axes.y, self.axes.x) if d is not None]
            split = unfold in da.dims
            for i in range(da.sizes[unfold] if split else 1):  # each listed value its own channel
                one = da.isel({unfold: i}) if split else da
                one = one.isel(dict.fromkeys([d for d in extra if d in one.dims], 0))
                arrays.append(one.transpose(*order))
                limits.append(valid_limits(ds[v]))
        for array in arrays:
            if 0 in array.shape[-2:]:
                raise DataError(f"data.select leaves no pixel of {name} ({dict(array.sizes)}): widen the ranges")
        return _Opened(ds, arrays, limits)

    def _check_like_first(self, ds, opened: _Opened, part: _Part, first) -> None:
        """Another file of a folder: the same frame shape, grid and units as the first."""
        ref_opened, ref = first
        shape, ref_shape = opened.arrays[0].shape[-2:], ref_opened.arrays[0].shape[-2:]
        for dim in (self.axes.y, self.axes.x):
            a = ref_opened.arrays[0][dim].values if dim in ref_opened.arrays[0].coords else None
            b = opened.arrays[0][dim].values if dim in opened.arrays[0].coords else None
            if shape != ref_shape or (a is not None and b is not None and not _same(a, b)):
                raise DataError(
                    f"{part.name} and {ref.name} are on different grids ({dim} differs; frames {shape[0]}x{shape[1]} "
                    f"and {ref_shape[0]}x{ref_shape[1]} after data.select): give files of one grid"
                )
        for v, attrs, ref_attrs in zip(
            self.sources, [_attributes(ds[v]) for v in self.sources], self._source_attributes
        ):
            if attrs["units"] != ref_attrs["units"]:
                raise DataError(
                    f"{v} is in {attrs['units']!r} in {part.name} but {ref_attrs['units']!r} in {ref.name}: give "
                    "every file the same units"
                )

    def _finish(self, parts: list[_Part], first, time_step) -> None:
        """Times in order across files, the step, the coarsened times, the grid."""
        if first is None:
            raise DataError(f"{self.where} holds no netCDF file or Zarr store: give {FORMS}")
        if not parts:
            everything = np.sort(np.concatenate([t for t in self._all_times]))
            check_time_selection(everything, self._selection, self.where)
            raise DataError(f"{self.where} holds no time: give data with times")
        del self._all_times
        if time_step is not None:
            given = timeline.parse_step(time_step) if not isinstance(time_step, np.timedelta64) else time_step
            parts = _on_step_grid(parts, given, self.where)
        parts.sort(key=lambda p: p.times[p.keep[0]])
        self.parts = parts
        self._part_of = np.concatenate([np.full(len(p.keep), k, np.int32) for k, p in enumerate(parts)])
        self._local_of = np.concatenate([p.keep for p in parts]).astype(np.int64)
        raw = np.concatenate([p.times[p.keep] for p in parts])
        several = len(parts) > 1
        raw = timeline.check_times(raw, self.where, (lambda i: parts[self._part_of[i]].name) if several else None)
        if time_step is None:
            step = timeline.infer_step(raw)
        else:
            step = timeline.parse_step(time_step) if not isinstance(time_step, np.timedelta64) else time_step
            timeline.check_step(raw, step, self.where)
        ft, fy, fx = factors(self.coarsen, self.axes, self.where)
        height, width = first[0].arrays[0].shape[-2:]
        check_size(height, fy, "y")
        check_size(width, fx, "x")
        self.factors, self._raw_hw = (ft, fy, fx), (int(height), int(width))
        self.raw_times, self.raw_step = raw, step
        self._blocks = np.concatenate(
            [np.arange(a, b - ft + 1, ft) for a, b in timeline.runs(raw, step)] or [np.zeros(0, np.int64)]
        ).astype(np.int64)
        if not len(self._blocks):
            raise DataError(
                f"data.coarsen.time={ft} needs {ft} consecutive times {timeline.step_text(step)} apart, which "
                f"{self.where} never has: give a smaller factor"
            )
        self.times = raw[self._blocks] + (ft - 1) * step // 2
        self.time_step = step * ft
        self.frame_shape = (len(self.variables), height // fy, width // fx)
        self.grid = _grid(self._first_selected, self.sources, self.axes, fy, fx)
        if self.variables != self.sources:  # the channels of a listed dimension (data.select)
            from dataclasses import replace

            self.grid = replace(self.grid, variables=list(self.variables),
                                variable_attrs=_expanded(self.grid.variable_attrs, self._counts))  # fmt: skip
        del self._first_selected

    # --- handles per process -----------------------------------------------------------------
    def __getstate__(self) -> dict:
        return {**self.__dict__, "_opened": OrderedDict(), "_pid": None, "_cache": OrderedDict(), "_cache_pid": None}

    def _remember(self, key: str, opened: _Opened) -> None:
        self._opened[key] = opened
        while len(self._opened) > OPEN_FILES:
            _, old = self._opened.popitem(last=False)
            old.ds.close()

    def _handle(self, k: int) -> _Opened:
        """Part k open in this process: reopened in a new process (or after it was closed to keep
        OPEN_FILES), and then checked to be the file that was opened at setup."""
        if self._pid != os.getpid():  # a forked child: it opens its own, and leaves the parent's open (remote.py)
            remote.keep_inherited(self._opened)
            self._opened, self._pid = OrderedDict(), os.getpid()
        part = self.parts[k]
        if part.location in self._opened:
            self._opened.move_to_end(part.location)
            return self._opened[part.location]
        ds = self._open_dataset(part.location)
        try:
            times, shapes = _times(ds, self.axes), _shapes(ds, self.sources)
        except Exception as err:  # a variable or coordinate gone
            raise DataError(f"{part.name} changed while being read ({err}): don't write to the data while a run "
                            "reads it; start the run again") from None  # fmt: skip
        if not np.array_equal(times, part.times) or shapes != part.shapes:
            what = "its times" if not np.array_equal(times, part.times) else f"its shapes ({part.shapes} -> {shapes})"
            raise DataError(
                f"{part.name} changed while being read: {what} differ from when the run opened it: don't write to "
                "the data while a run reads it; start the run again"
            )
        opened = self._prepare(ds, resolve(ds, self.select, self.axes, part.name), part.name)
        self._remember(part.location, opened)
        return opened

    # --- reading ---------------------------------------------------------------------------------
    def read(self, start: int, stop: int) -> np.ndarray:
        """Times start … stop − 1 of `times`: float32 (t, C, H, W) in the data's units, NaN where
        there is no data (fill values, out-of-range values, no coverage)."""
        ft, fy, fx = self.factors
        raw = (self._blocks[start:stop, None] + np.arange(ft)).ravel()
        frames = nan_block_mean(self._read_raw(raw), {0: ft, 2: fy, 3: fx})  # one mean over each whole block
        return np.ascontiguousarray(frames, dtype=np.float32)

    def _read_raw(self, raw: np.ndarray) -> np.ndarray:
        out = np.empty((len(raw), len(self.variables), *self._raw_hw), np.float32)
        parts = self._part_of[raw]
        edges = np.flatnonzero(np.diff(parts)) + 1
        for group in np.split(np.arange(len(raw)), edges):
            if not len(group):
                continue
            k = int(parts[group[0]])
            opened = self._handle(k)
            local = self._local_of[raw[group]]
            for v, (array, limits) in enumerate(zip(opened.arrays, opened.limits)):
                if not self.axes.time:  # a file of one time
                    out[group, v] = _masked(np.asarray(array.values)[None], limits)[local]
                    continue
                size = _block_times(array, self.axes.time)
                for b in np.unique(local // size):
                    block = self._block(k, v, int(b), size, array, limits)
                    inside = (local // size) == b
                    out[group[inside], v] = block[local[inside] - int(b) * size]
        return out

    def _block(self, k: int, v: int, b: int, size: int, array, limits) -> np.ndarray:
        """Times b·size … (b + 1)·size − 1 of variable v of part k, decoded and masked: from this
        process's cache (at most CACHE_BYTES, least recently used out first), else read."""
        if self._cache_pid != os.getpid():
            self._cache, self._cache_pid, self._cached = OrderedDict(), os.getpid(), 0
        key = (k, v, b)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        values = array.isel({self.axes.time: slice(b * size, (b + 1) * size)}).values
        block = _masked(np.asarray(values), limits)
        self._cache[key] = block
        self._cached += block.nbytes
        while self._cached > CACHE_BYTES and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached -= old.nbytes
        return block

    def files(self, start: int, stop: int) -> list[str]:
        """The files (or stores) holding times start … stop − 1, in time order."""
        ft = self.factors[0]
        raw = (self._blocks[start:stop, None] + np.arange(ft)).ravel()
        return [self.parts[k].name for k in dict.fromkeys(self._part_of[raw].tolist())]

    # --- what it is --------------------------------------------------------------------------------
    def description(self) -> dict[str, Any]:
        """JSON-able: what was read and how (the reader, variables with their units and names,
        dimensions, select, coarsen, the step, the times)."""
        return {
            "reader": "xarray",
            "path": self._shown(self.path),
            "files": len(self.parts),
            "variables": list(self.variables),
            "units": [a["units"] for a in self.attributes],
            "standard_names": [a["standard_name"] for a in self.attributes],
            "long_names": [a["long_name"] for a in self.attributes],
            "dims": self.axes.as_dict(),
            "select": _json(self.select) or None,
            "coarsen": dict(self.coarsen) or None,
            "time_step": timeline.step_text(self.time_step),
            "first_time": timeline.iso(self.times[0]),
            "last_time": timeline.iso(self.times[-1]),
            "frame_shape": list(self.frame_shape),
        }


def _block_times(array, time: str) -> int:
    """The times of one block of `array` (lazy, (time, y, x)): its time chunk on disk (netCDF-4,
    Zarr), BLOCK_TIMES where it has none (contiguous, netCDF-3), never more than 4 × BLOCK_TIMES."""
    chunks = array.encoding.get("chunksizes") or array.encoding.get("chunks") or array.encoding.get("preferred_chunks")
    if isinstance(chunks, dict):
        chunks = [chunks.get(time)]
    size = chunks[0] if chunks and chunks[0] else BLOCK_TIMES
    return int(min(max(1, size), 4 * BLOCK_TIMES))


# --- files ------------------------------------------------------------------------------------------
def require_xarray() -> None:
    """A one-line ConfigError naming the extra when xarray (or its netCDF engines) is missing."""
    require("xarray", "xarray", "data=xarray")
    require("h5netcdf", "xarray", "data=xarray")


def is_zarr_store(path: Path) -> bool:
    return path.is_dir() and (
        path.suffix.lower() == ".zarr" or any((path / f).exists() for f in ("zarr.json", ".zgroup", ".zarray"))
    )


def is_netcdf(path: Path) -> bool:
    """A file whose first bytes are those of netCDF-3 (classic, 64-bit offset, CDF-5) or HDF5
    (netCDF-4)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return head[:4] in (*NETCDF3_MAGIC, NETCDF5_MAGIC) or head == HDF5_MAGIC


def local_locations(path: str, path_key: str) -> list[str]:
    """A file or store -> [it]; a folder -> its netCDF files and Zarr stores (searched
    recursively, not inside a store), sorted; a glob -> its matches, sorted."""
    where = Path(path).expanduser()
    if where.is_file() or is_zarr_store(where):
        return [str(where)]
    if where.is_dir():
        found = []
        for folder, dirs, files in os.walk(where):
            stores = [d for d in dirs if is_zarr_store(Path(folder) / d)]
            dirs[:] = sorted(d for d in dirs if d not in stores and not d.startswith("."))
            found += [str(Path(folder) / d) for d in stores]
            found += [str(Path(folder) / f) for f in files if not f.startswith(".") and is_netcdf(Path(folder) / f)]
        if not found:
            raise DataError(f"{path_key}={path} holds no netCDF file or Zarr store: give {FORMS}")
        return sorted(found)
    if any(c in path for c in "*?["):
        matches = sorted(glob.glob(str(where), recursive=True))
        if not matches:
            raise DataError(f"{path_key}={path} matches no file: give a pattern that matches your netCDF files")
        return matches
    raise DataError(f"{path_key}={path} not found: give {FORMS}")


def open_local(path: Path, path_key: str):
    """A local netCDF file or Zarr store as a lazy, CF-decoded xarray Dataset (no dask)."""
    xr = require("xarray", "xarray", "data=xarray")

    options = {"chunks": None, "cache": False, "mask_and_scale": True, "decode_times": True,
               "decode_timedelta": False}  # fmt: skip
    if path.is_dir():
        engine, options = "zarr", {**options, "consolidated": None}
    else:
        with open(path, "rb") as f:
            head = f.read(8)
        if head[:4] in NETCDF3_MAGIC:
            engine = "scipy"
        elif head[:4] == NETCDF5_MAGIC or head == HDF5_MAGIC:
            engine = _netcdf4_engine()
        else:
            raise DataError(f"{path_key}={path} is not a netCDF file (netCDF-3 or -4) or a Zarr store: give {FORMS} "
                            "(data=arrays reads .npy, videos and images)")  # fmt: skip
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return xr.open_dataset(path, engine=engine, **options)
    except Exception as err:  # each engine raises its own types for a damaged file
        text = " ".join(str(err).split())[:200]
        raise DataError(f"{path_key}={path} can't be read ({type(err).__name__}: {text}): write it again") from None


def _netcdf4_engine() -> str:
    try:
        import netCDF4  # noqa: F401

        return "netcdf4"
    except ImportError:
        return "h5netcdf"


# --- values ---------------------------------------------------------------------------------------
def _variables_key(variables) -> list[str] | None:
    if variables is None:
        return None
    if isinstance(variables, str):
        variables = [variables]
    if not isinstance(variables, Sequence) or not variables or not all(isinstance(v, str) and v for v in variables):
        raise BadValue("variables", variables, "must list variable names (null: the only data variable)",
                       "[t2m]").in_group("data")  # fmt: skip
    if len(set(variables)) != len(variables):
        raise BadValue("variables", list(variables), "names a variable twice", "[t2m]").in_group("data")
    return list(variables)


def _times(ds, axes: Axes) -> np.ndarray:
    return np.atleast_1d(np.asarray(ds[axes.time_coord].values)).astype("datetime64[ns]")


def _shapes(ds, variables: Sequence[str]) -> tuple:
    return tuple(tuple(int(s) for s in ds[v].shape) for v in variables)


def _attributes(var) -> dict[str, str | None]:
    return {k: (str(var.attrs[k]) if k in var.attrs else None) for k in ("units", "standard_name", "long_name")}


def valid_limits(var) -> tuple[float, float] | None:
    """The valid range of a variable in decoded units (CF valid_min / valid_max / valid_range),
    or None. Limits of a packed variable given as integers are packed values, unpacked here."""
    attrs = {**var.encoding, **var.attrs}
    low, high = attrs.get("valid_min"), attrs.get("valid_max")
    if "valid_range" in attrs:
        low, high = np.ravel(attrs["valid_range"])[:2]
    if low is None and high is None:
        return None
    scale, offset = var.encoding.get("scale_factor"), var.encoding.get("add_offset")
    packed = scale is not None or offset is not None

    def unpacked(v):
        if v is None:
            return None
        if packed and isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            return float(v) * (1.0 if scale is None else float(scale)) + (0.0 if offset is None else float(offset))
        return float(v)

    lo, hi = unpacked(low), unpacked(high)
    if lo is not None and hi is not None and lo > hi:  # a negative scale_factor turns the range round
        lo, hi = hi, lo
    return (-np.inf if lo is None else lo), (np.inf if hi is None else hi)


def _masked(values: np.ndarray, limits) -> np.ndarray:
    """float32 values with those outside the valid range NaN."""
    out = values.astype(np.float32)
    if limits is not None:
        with np.errstate(invalid="ignore"):
            out[(values < limits[0]) | (values > limits[1])] = np.nan
    return out


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        return bool(np.allclose(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _on_step_grid(parts: list[_Part], step: np.timedelta64, where: str) -> list[_Part]:
    """Data finer than data.time_step (hourly data, time_step 6h): the times on the step's grid
    (whole multiples of it since 1970-01-01T00:00, e.g. 00, 06, 12 and 18 UTC) are kept, every
    other time is dropped, as OpenSTL's WeatherBench reader keeps every 6th hour (docs/benchmarks.md)."""
    kept = np.concatenate([p.times[p.keep] for p in parts])
    native = timeline.infer_step(np.sort(kept)) if len(kept) > 1 else step
    ns = int(step.astype("timedelta64[ns]").astype(np.int64))
    if native >= step or ns % int(native.astype("timedelta64[ns]").astype(np.int64)):
        return parts  # the data's own step (or one it can't be thinned to): checked as before
    out = []
    for p in parts:
        keep = p.keep[p.times[p.keep].astype("datetime64[ns]").astype(np.int64) % ns == 0]
        if len(keep):
            out.append(_Part(p.location, p.name, p.times, keep, p.shapes))
    if not out:
        raise DataError(f"{where} holds no time on the {timeline.step_text(step)} grid (whole multiples of "
                        f"data.time_step={timeline.step_text(step)} since midnight): give times on it")  # fmt: skip
    return out


def _channels(sources: list[str], attributes: list[dict], counts: list[int], selection: Selection):
    """The channels and their attributes: each variable, or, where data.select lists values of a
    dimension the variable has (`counts` > 1), one per value named <variable><value> (t850)."""
    names, attrs = [], []
    for v, a, n in zip(sources, attributes, counts):
        names += [f"{v}{_plain(value)}" for value in selection.unfold[1]] if n > 1 else [v]
        attrs += [dict(a) for _ in range(n)]
    return names, attrs


def _expanded(items: list, counts: list[int]) -> list:
    """`items` (one per source variable) repeated for each of its channels."""
    return [dict(item) if isinstance(item, dict) else item for item, n in zip(items, counts) for _ in range(n)]


def _plain(value) -> str:
    return timeline.iso(value) if isinstance(value, np.datetime64) else str(getattr(value, "item", lambda: value)())


def _json(value):
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


def _grid(selected, variables: list[str], axes: Axes, fy: int, fx: int):
    """The spatial metadata (`grid.py`), coarsened like the frames."""
    from predrnn.data.grid import Grid

    grid = Grid.from_dataset(selected, variables, axes.y, axes.x)
    return grid.coarsened(fy, fx) if fy > 1 or fx > 1 else grid


class JoinedSeries:
    """Several series read side by side as one (docs/data.md, "CF netCDF and Zarr"): `paths[i]`
    (a file, folder or glob) gives the channel `variables[i]`, all with the same times (after
    `data.select`), step and grid; `read` stacks their channels in that order. WeatherBench
    keeps one folder of yearly files per variable: `data.path=[<root>/10m_u_component_of_wind,
    <root>/10m_v_component_of_wind] data.variables=[u10,v10]`."""

    def __init__(
        self, paths, variables=None, dims=None, select=None, coarsen=None, storage_options=None, time_step=None,
        path_key: str = "data.path",
    ) -> None:  # fmt: skip
        paths = [str(p) for p in paths]
        names = _variables_key(variables)
        if len(paths) < 2 or names is None or len(names) != len(paths):
            raise BadValue("variables", names, f"must name one variable per path of {path_key} ({len(paths)} paths)",
                           "[u10,v10]").in_group("data")  # fmt: skip
        self.members = [
            Series(p, [v], dims, select, coarsen, storage_options, time_step, f"{path_key}[{i}]")
            for i, (p, v) in enumerate(zip(paths, names))
        ]
        first = self.members[0]
        for member in self.members[1:]:
            if not np.array_equal(member.times, first.times) or member.time_step != first.time_step:
                raise DataError(
                    f"{member.where} has {len(member.times)} times ({timeline.span_text(member.times)}), {first.where} "
                    f"{len(first.times)} ({timeline.span_text(first.times)}): give folders of the same times"
                )
            if member.frame_shape[1:] != first.frame_shape[1:] or not _same(member.grid.y_values, first.grid.y_values) \
                    or not _same(member.grid.x_values, first.grid.x_values):  # fmt: skip
                raise DataError(f"{member.where} and {first.where} are on different grids: give folders of one grid")
        self.path, self.path_key, self.remote = paths, path_key, first.remote
        self.where = f"{path_key}=[{', '.join(m.where.split('=', 1)[1] for m in self.members)}]"
        self.variables = [v for m in self.members for v in m.variables]
        self.sources = [v for m in self.members for v in m.sources]
        self.attributes = [a for m in self.members for a in m.attributes]
        self.times, self.time_step = first.times, first.time_step
        self.raw_times, self.raw_step = first.raw_times, first.raw_step
        self.factors, self.axes, self.select, self.coarsen = first.factors, first.axes, first.select, first.coarsen
        self.frame_shape = (len(self.variables), *first.frame_shape[1:])
        from dataclasses import replace

        self.grid = replace(first.grid, variables=list(self.variables),
                            variable_attrs=[a for m in self.members for a in m.grid.variable_attrs])  # fmt: skip

    def read(self, start: int, stop: int) -> np.ndarray:
        return np.concatenate([m.read(start, stop) for m in self.members], axis=1)

    def files(self, start: int, stop: int) -> list[str]:
        return [f for m in self.members for f in m.files(start, stop)]

    def description(self) -> dict[str, Any]:
        parts = [m.description() for m in self.members]
        joined = {**parts[0], "path": [d["path"] for d in parts], "files": sum(d["files"] for d in parts)}
        for key in ("variables", "units", "standard_names", "long_names"):
            joined[key] = [v for d in parts for v in d[key]]
        joined["frame_shape"] = list(self.frame_shape)
        return joined
