"""Synthetic data sets in the exact layouts the benchmark experiments read (docs/benchmarks.md):
WeatherBench v1's yearly netCDF files per variable folder, TaxiBJ's dataset.npz and Human3.6M's
frame folder with its lists. Tiny: a few days, a few samples, a few frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# WeatherBench v1 at 5.625°: 32 latitudes half a spacing from the poles, 64 longitudes
LAT = -87.1875 + 5.625 * np.arange(32)
LON = 5.625 * np.arange(64)
LEVELS = np.array([50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 925, 1000], np.int32)
HOURS = 30  # hours written per year, from 1 January 00:00
YEARS = (2009, 2015, 2016, 2017, 2018)  # 2009: before OpenSTL's years, never read


def weatherbench_values(times: np.ndarray, seed: int) -> np.ndarray:
    """float32 (T, 32, 64): a warm equator, a daily cycle moving west, some noise."""
    rng = np.random.default_rng(seed)
    hour = (times - times[0]).astype("timedelta64[h]").astype(np.float64)
    lat, lon = np.deg2rad(LAT)[None, :, None], np.deg2rad(LON)[None, None, :]
    cycle = np.cos(lon + 2 * np.pi * hour[:, None, None] / 24)
    values = 250 + 40 * np.cos(lat) + 5 * cycle * np.cos(lat) + rng.normal(0, 0.5, (len(times), 32, 64))
    return values.astype(np.float32)


def seed_of(year: int, variable: str) -> int:
    """The seed of a variable's values in a year's file (each variable its own)."""
    return year + sum(map(ord, variable))


def write_weatherbench(root: Path, folder: str = "2m_temperature", variable: str = "t2m", units: str = "K",
                       levels: bool = False, years=YEARS, hours: int = HOURS) -> Path:  # fmt: skip
    """`root/<folder>/<folder>_<year>_5.625deg.nc` as WeatherBench v1 ships them (netCDF-4,
    float32 (time, [level,] lat, lon), hourly times in hours since 1979); the folder."""
    import xarray as xr

    where = root / folder
    where.mkdir(parents=True, exist_ok=True)
    for year in years:
        times = np.datetime64(f"{year}-01-01T00:00", "ns") + np.arange(hours) * np.timedelta64(1, "h")
        values = weatherbench_values(times, seed=seed_of(year, variable))
        coords = {"time": times, "lat": LAT, "lon": LON}
        if levels:  # each level its own offset, so the level read is known
            values = values[:, None] + (LEVELS[None, :, None, None] / 1000).astype(np.float32)
            dims, coords = ("time", "level", "lat", "lon"), {**coords, "level": LEVELS}
        else:
            dims = ("time", "lat", "lon")
        ds = xr.Dataset({variable: (dims, values, {"units": units, "long_name": folder.replace("_", " ")})}, coords)
        encoding = {"time": {"units": "hours since 1979-01-01", "dtype": "int64"}}
        ds.to_netcdf(where / f"{folder}_{year}_5.625deg.nc", format="NETCDF4", encoding=encoding)
    return where


def write_taxibj(path: Path, train: int = 12, test: int = 5) -> Path:
    """OpenSTL's taxibj/dataset.npz: X_train, Y_train, X_test, Y_test, float64 (N, 4, 2, 32, 32)
    in [-1, 1] (every sample spans the whole range in each channel)."""
    rng = np.random.default_rng(7)
    arrays = {}
    for split, n in (("train", train), ("test", test)):
        flows = rng.uniform(-1, 1, (n, 8, 2, 32, 32))
        flows[:, 0, :, 0, 0], flows[:, 0, :, 0, 1] = -1.0, 1.0  # every sample spans [-1, 1] in each channel
        arrays[f"X_{split}"], arrays[f"Y_{split}"] = flows[:, :4], flows[:, 4:]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def write_human36m(root: Path, size: int = 32) -> Path:
    """OpenSTL's <root>/human: images/<subject>_<action>.<camera>_<frame:06d>.jpg (JPEG, RGB;
    OpenSTL's frames are 256 x 256, these `size`) and train.txt / test.txt, one sample a line
    as `images/<name>_,<first frame>,<last frame>`; the folder. Train: 6 samples of S1, test: 3
    of S11."""
    import imageio.v3 as iio

    folder = root / "human"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(36)
    lists = {"train.txt": ("S1_Walking.54138969_", 6), "test.txt": ("S11_Walking.60457274_", 3)}
    for list_name, (name, samples) in lists.items():
        begins = [1 + 10 * k for k in range(samples)]
        for frame in range(1, begins[-1] + 36):
            image = np.full((size, size, 3), 40, np.uint8)
            x = (frame * 2) % (size - 8)
            image[8:24, x : x + 8] = rng.integers(150, 255, (16, 8, 3))  # a walker moving right
            iio.imwrite(folder / "images" / f"{name}{frame:06d}.jpg", image)
        (folder / list_name).write_text("".join(f"images/{name},{b},{b + 70}\n" for b in begins))
    return folder
