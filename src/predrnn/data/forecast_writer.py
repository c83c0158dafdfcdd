"""Forecasts as CF datasets a forecaster can place on a map (docs/data.md, "Prediction"): one
variable per channel, named and described as the input's, on the input's grid (y/x, 2-D
latitude / longitude, the grid-mapping variable), along the forecast's reference time and
period, with `time` = reference time + period. Written as netCDF-4 (`.nc`) or a Zarr store
(`.zarr`, a folder), atomically: a temporary sibling renamed into place whole."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from predrnn import __version__
from predrnn.data.grid import Grid
from predrnn.errors import OutputError
from predrnn.extras import require
from predrnn.files import atomic_outputs, check_output

SUFFIXES = (".nc", ".zarr")
ZARR_MARKERS = ("zarr.json", ".zgroup", ".zattrs", ".zarray")  # what makes a folder a Zarr store
DIMS = ("forecast_reference_time", "forecast_period")


def forecast_dataset(values: np.ndarray, grid: Grid, issue_times, lead_times, history: str | None = None):
    """The xarray Dataset of `values` float32 (N, K, C, H, W) in data units (NaN: no coverage),
    issued at `issue_times` (N datetime64) for `lead_times` (K timedelta64) ahead, on `grid`."""
    xr = require("xarray", "xarray", "a forecast written as netCDF / Zarr")

    values = np.asarray(values, dtype=np.float32)
    issue = np.asarray(issue_times, dtype="datetime64[ns]").reshape(-1)
    lead = np.asarray(lead_times, dtype="timedelta64[ns]").reshape(-1)
    _check_shape(values, grid, issue, lead)
    mapping = grid.grid_mapping[0] if grid.grid_mapping is not None else None
    coords = {
        DIMS[0]: (DIMS[0], issue, {"standard_name": "forecast_reference_time", "long_name": "issue time"}),
        DIMS[1]: (DIMS[1], lead, {"standard_name": "forecast_period", "long_name": "lead time"}),
        "time": (DIMS, issue[:, None] + lead[None, :], {"standard_name": "time", "long_name": "valid time"}),
        grid.y: (grid.y, np.asarray(grid.y_values), dict(grid.y_attrs)),
        grid.x: (grid.x, np.asarray(grid.x_values), dict(grid.x_attrs)),
    }
    for name, (dims, array, attrs) in grid.auxiliary.items():
        if name not in coords:
            coords[name] = (dims, np.asarray(array), dict(attrs))
    data_vars = {}
    for i, name in enumerate(grid.variables):
        attrs = {key: v for key, v in grid.variable_attrs[i].items() if key != "grid_mapping"}
        if mapping is not None:
            attrs["grid_mapping"] = mapping
        data_vars[name] = ((*DIMS, grid.y, grid.x), values[:, :, i], attrs)
    if mapping is not None:
        data_vars[mapping] = ((), np.int32(0), dict(grid.grid_mapping[1]))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    attrs = {
        "Conventions": "CF-1.8",
        "source": f"predrnn {__version__}",
        "history": f"{stamp} {history or f'forecast written by predrnn {__version__}'}",
    }
    return xr.Dataset(data_vars, coords=coords, attrs=attrs)


def write_forecast(
    path: str | Path,
    values: np.ndarray,
    grid: Grid,
    issue_times,
    lead_times,
    overwrite: bool = False,
    key: str = "output",
    history: str | None = None,
) -> Path:
    """`forecast_dataset(values, grid, issue_times, lead_times)` written to `path` (`.nc`:
    netCDF-4; `.zarr`: a Zarr store), atomically; an existing `path` is refused unless
    `overwrite`, and then replaced whole. Returns the path."""
    path = check_forecast_output(path, key, overwrite=overwrite)
    suffix = path.suffix.lower()
    ds = forecast_dataset(values, grid, issue_times, lead_times, history)
    folders = [path] if suffix == ".zarr" else []
    with atomic_outputs([path], overwrite, key, folders=folders) as (tmp,):
        save(ds, tmp)
    return path


def check_forecast_output(path: str | Path, key: str = "output", inputs=(), overwrite: bool = False) -> Path:
    """`path` if a forecast can be written there (`files.check_output`): it ends in .nc or
    .zarr, is no input, and does not exist unless `overwrite` (an existing .zarr is replaced
    only if it is a Zarr store)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise OutputError(f"{key}={path} must end in .nc (netCDF-4) or .zarr (a Zarr store): e.g. {key}=forecast.nc")
    markers = ZARR_MARKERS if suffix == ".zarr" else ()
    return check_output(path, suffix, key, inputs=inputs, overwrite=overwrite, folder_markers=markers)


def save(ds, tmp: Path) -> None:
    """`ds` into the fresh temporary `tmp` (an empty file for netCDF, an empty folder for Zarr)."""
    if tmp.is_dir():  # a Zarr v2 store with consolidated metadata: read by zarr 2 and 3 and every xarray
        ds.to_zarr(tmp, mode="w", zarr_format=2, consolidated=True)
        return
    engine = _netcdf_engine()
    encoding = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars if ds[name].ndim}
    ds.to_netcdf(tmp, mode="w", format="NETCDF4", engine=engine, encoding=encoding)


def _netcdf_engine() -> str:
    try:
        import netCDF4  # noqa: F401

        return "netcdf4"
    except ImportError:
        return "h5netcdf"


def _check_shape(values: np.ndarray, grid: Grid, issue: np.ndarray, lead: np.ndarray) -> None:
    if values.ndim != 5:
        raise ValueError(f"forecast values must be (N, K, C, H, W), got shape {values.shape}")
    n, k, c, h, w = values.shape
    want = (len(issue), len(lead), len(grid.variables), *grid.shape)
    if (n, k, c, h, w) != want:
        raise ValueError(
            f"forecast values {values.shape} do not match (issue times, lead times, variables, y, x) = {want}"
        )
