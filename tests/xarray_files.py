"""Writing CF files the way forecasters' archives hold them (for the tests of `data=xarray`): a
packed int16 temperature, a pressure-level field on a lat/lon grid, and a radar-like reflectivity
series on a polar-stereographic grid, as netCDF-4, netCDF-3, Zarr v2 and v3, and a folder of one
file per scan. Written with the real libraries (netCDF4, h5netcdf, scipy, zarr through xarray)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

RADAR_SIZE = 32
# the radar's polar-stereographic grid (CF attributes of its grid_mapping variable)
POLAR_STEREOGRAPHIC = {
    "grid_mapping_name": "polar_stereographic",
    "straight_vertical_longitude_from_pole": 10.0,
    "latitude_of_projection_origin": 90.0,
    "standard_parallel": 60.0,
    "false_easting": 0.0,
    "false_northing": 0.0,
    "earth_radius": 6371229.0,
}
FIRST_SCAN = np.datetime64("2021-06-01T12:00", "ns")
STEP = np.timedelta64(5, "m")


def write_packed(path: Path, times: int = 8) -> Path:
    """`t2m` int16 (time, lat, lon) = 100 packed with scale_factor 0.01 and add_offset 273.15
    (274.15 K), _FillValue −32767 at pixel (0, 0) of every time and along the diagonal at time 2,
    written with netCDF4 itself so the packed integers are what lies on disk."""
    import netCDF4

    with netCDF4.Dataset(path, "w", format="NETCDF4") as nc:
        nc.createDimension("time", None)
        nc.createDimension("lat", 16)
        nc.createDimension("lon", 16)
        t = nc.createVariable("time", "i4", ("time",))
        t.units, t.calendar, t.standard_name, t.axis = "hours since 2020-01-01 00:00:00", "standard", "time", "T"
        t[:] = np.arange(times)
        lat = nc.createVariable("lat", "f4", ("lat",))
        lat.units, lat.standard_name = "degrees_north", "latitude"
        lat[:] = np.linspace(60, 45, 16)  # north first, as ERA5
        lon = nc.createVariable("lon", "f4", ("lon",))
        lon.units, lon.standard_name = "degrees_east", "longitude"
        lon[:] = np.arange(16.0)
        v = nc.createVariable("t2m", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767))
        v.scale_factor, v.add_offset = 0.01, 273.15
        v.units, v.standard_name, v.long_name = "K", "air_temperature", "2 metre temperature"
        v.set_auto_maskandscale(False)  # write the packed integers as they are
        raw = np.full((times, 16, 16), 100, np.int16)
        raw[:, 0, 0] = -32767
        raw[2, np.arange(16), np.arange(16)] = -32767
        v[:] = raw
    return path


def level_values(level: np.ndarray, lat: np.ndarray, lon: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """The values of `write_levels`' field: each place, level and hour has its own."""
    return (level[None, :, None, None] / 10 + lat[None, None, :, None] + lon[None, None, None, :] / 100
            + hour[:, None, None, None] * 1000).astype(np.float32)  # fmt: skip


def write_levels(path: Path, times: int = 6) -> Path:
    """`t` float32 (time, level, lat, lon) on pressure levels (1000, 850, 500 hPa) and a 1°
    lat/lon grid (lat 60 → 45, lon 0 → 15), hourly; written with h5netcdf."""
    import xarray as xr

    level, lat, lon = np.array([1000, 850, 500]), np.linspace(60.0, 45.0, 16), np.arange(16.0)
    hours = np.arange(times)
    time = np.datetime64("2020-01-01T00:00", "ns") + hours * np.timedelta64(1, "h")
    ds = xr.Dataset(
        {"t": (("time", "level", "lat", "lon"), level_values(level, lat, lon, hours), {"units": "K"})},
        coords={
            "time": ("time", time, {"standard_name": "time"}),
            "level": ("level", level, {"units": "hPa", "positive": "down"}),
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
        },
    )
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def radar_times(first_run: int = 24, gap_minutes: int = 60, second_run: int = 24) -> np.ndarray:
    """Scans every 5 minutes: `first_run` of them, then none for `gap_minutes` (a one-hour gap
    by default: 12 missing scans), then `second_run` more."""
    first = FIRST_SCAN + np.arange(first_run) * STEP
    second = first[-1] + STEP + np.timedelta64(gap_minutes, "m") + np.arange(second_run) * STEP
    return np.concatenate([first, second])


def radar_dataset(times: np.ndarray, size: int = RADAR_SIZE):
    """Reflectivity `dbz` (time, y, x) float32 in 0–60 dBZ: two Gaussian echoes moving at a
    steady speed, NaN outside the radar's circular coverage (about 30 % of the square); x/y in
    metres on a polar-stereographic grid (2 km pixels around 52° N 5° E), 2-D lat/lon from pyproj."""
    import pyproj
    import xarray as xr

    crs = pyproj.CRS.from_cf(POLAR_STEREOGRAPHIC)
    x0, y0 = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(5.0, 52.0)
    offsets = (np.arange(size) - (size - 1) / 2) * 2000.0
    x, y = x0 + offsets, y0 - offsets  # y decreasing: north at the top
    lon, lat = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(*np.meshgrid(x, y))
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    centre = (size - 1) / 2
    covered = (rows - centre) ** 2 + (cols - centre) ** 2 <= (0.472 * size) ** 2  # π r² ≈ 70 % of the square
    minutes = ((times - FIRST_SCAN) / np.timedelta64(1, "m")).astype(np.float64)
    frames = np.zeros((len(times), size, size))
    for r0, c0, vr, vc, peak, width in ((6.0, 4.0, 0.12, 0.2, 55.0, 3.5), (24.0, 8.0, -0.1, 0.15, 40.0, 5.0)):
        r = (r0 + vr * minutes / 5)[:, None, None] % size
        c = (c0 + vc * minutes / 5)[:, None, None] % size
        frames += peak * np.exp(-((rows - r) ** 2 + (cols - c) ** 2) / (2 * width**2))
    dbz = np.where(covered, np.clip(frames, 0, 60), np.nan).astype(np.float32)
    ds = xr.Dataset(
        {
            "dbz": (("time", "y", "x"), dbz, {
                "units": "dBZ", "standard_name": "equivalent_reflectivity_factor",
                "long_name": "radar reflectivity", "grid_mapping": "polar_stereographic",
            }),
            "polar_stereographic": ((), np.int32(0), dict(POLAR_STEREOGRAPHIC)),
        },
        coords={
            "time": ("time", times.astype("datetime64[ns]"), {"standard_name": "time", "axis": "T"}),
            "y": ("y", y, {"axis": "Y", "standard_name": "projection_y_coordinate", "units": "m"}),
            "x": ("x", x, {"axis": "X", "standard_name": "projection_x_coordinate", "units": "m"}),
            "lat": (("y", "x"), lat, {"units": "degrees_north", "standard_name": "latitude"}),
            "lon": (("y", "x"), lon, {"units": "degrees_east", "standard_name": "longitude"}),
        },
    )  # fmt: skip
    ds["dbz"].encoding.update({"_FillValue": np.float32(-9999.0), "dtype": "float32"})
    ds["time"].encoding.update({"units": "minutes since 2021-06-01 00:00:00", "calendar": "standard", "dtype": "int32"})
    return ds


def write_radar_formats(folder: Path, times: np.ndarray | None = None) -> dict[str, str]:
    """The radar series in every form data=xarray reads: {form: data.path}. The folder holds one
    file per scan in two subfolders whose names sort the other way round from their times."""
    import warnings

    ds = radar_dataset(radar_times() if times is None else times)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "nc4": folder / "radar.nc", "nc3": folder / "radar3.nc", "zarr2": folder / "radar_v2.zarr",
        "zarr3": folder / "radar_v3.zarr", "folder": folder / "scans",
    }  # fmt: skip
    ds.to_netcdf(paths["nc4"], engine="netcdf4")
    ds.to_netcdf(paths["nc3"], engine="scipy", format="NETCDF3_64BIT")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr's note that consolidated metadata is not in the v3 spec
        ds.to_zarr(paths["zarr2"], zarr_format=2, mode="w")
        ds.to_zarr(paths["zarr3"], zarr_format=3, mode="w")
    half = len(ds.time) // 2
    for i in range(len(ds.time)):
        sub = paths["folder"] / ("b_first" if i < half else "a_second")
        sub.mkdir(parents=True, exist_ok=True)
        stamp = str(ds.time.values[i].astype("datetime64[m]")).replace("-", "").replace(":", "").replace("T", "_")
        ds.isel(time=[i]).to_netcdf(sub / f"radar_{stamp}.nc", engine="netcdf4")
    (paths["folder"] / "README.txt").write_text("scans of a test radar, one file each\n")  # not netCDF: skipped
    out = {k: str(v) for k, v in paths.items()}
    out["glob"] = str(paths["folder"] / "*" / "radar_*.nc")
    return out


def write_long(path: Path, times: int, size: int = 32) -> Path:
    """A long float32 series `v` (time, y, x) on a chunked netCDF-4 file, one chunk per time, for
    the memory test: values i + pixel / 1000 at time i."""
    import netCDF4

    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("time", times)
        nc.createDimension("y", size)
        nc.createDimension("x", size)
        t = nc.createVariable("time", "i4", ("time",))
        t.units = "minutes since 2020-01-01"
        t[:] = np.arange(times) * 10
        v = nc.createVariable("v", "f4", ("time", "y", "x"), chunksizes=(1, size, size))
        pixel = np.arange(size * size, dtype=np.float32).reshape(size, size) / 1000
        for i in range(0, times, 100):
            n = min(100, times - i)
            v[i : i + n] = (np.arange(i, i + n, dtype=np.float32)[:, None, None] + pixel).astype(np.float32)
    return path
