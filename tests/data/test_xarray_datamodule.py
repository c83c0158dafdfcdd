"""`data=xarray` on real CF files (tests/xarray_files.py): packed values decode to their units and
fill values to NaN; every form of the same series (netCDF-4, netCDF-3, Zarr v2 and v3, a folder
of one file per scan, a glob) gives the same batches; windows follow the gap-free runs and the
splits in time; NaN survives to the batches; select and coarsen give the values xarray gives;
the normalisation leaves NaN out; reading is lazy; bad input is one line naming the fix."""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
import torch

from helpers import compose, eval_score, run_main
from predrnn.command_line import data_arguments
from predrnn.data import timeline
from predrnn.data.xarray_datamodule import XarrayDataModule
from predrnn.data.xarray_source import open_series
from predrnn.errors import BadValue, ConfigError, DataError
from xarray_files import (
    FIRST_SCAN,
    STEP,
    level_values,
    radar_dataset,
    radar_times,
    write_levels,
    write_long,
    write_packed,
    write_radar_formats,
)

SMALL = {"input_length": 4, "total_length": 8, "batch_size": 2, "num_workers": 0}
GAP_DATES = {"val": "2021-06-01T15:00", "test": "2021-06-01T16:00"}  # train: the first run; val, test: the second


@pytest.fixture(scope="module")
def radar(tmp_path_factory) -> dict[str, str]:
    return write_radar_formats(tmp_path_factory.mktemp("radar"))


@pytest.fixture(scope="module")
def raw(radar) -> np.ndarray:
    """The radar's dBZ as xarray decodes it, whole: (T, H, W) with NaN outside coverage."""
    import xarray as xr

    with xr.open_dataset(radar["nc4"]) as ds:
        return ds["dbz"].values.astype(np.float32)


def every_window(dm: XarrayDataModule) -> dict[str, np.ndarray]:
    return {s: dm.dataset(s).__getitems__(list(range(len(dm.dataset(s))))).numpy() for s in ("train", "val", "test")}


def nan_block_means(values: np.ndarray, ft: int, fy: int, fx: int) -> np.ndarray:
    t, h, w = (s // f for s, f in zip(values.shape, (ft, fy, fx)))
    blocks = values[: t * ft, : h * fy, : w * fx].reshape(t, ft, h, fy, w, fx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN block is NaN
        return np.nanmean(blocks, axis=(1, 3, 5))


def test_packed_int16_decodes_to_kelvin_and_fill_to_nan(tmp_path):
    import netCDF4

    path = write_packed(tmp_path / "t2m.nc")
    with netCDF4.Dataset(path) as nc:  # on disk: the packed integers
        nc["t2m"].set_auto_maskandscale(False)
        on_disk = nc["t2m"][:]
    assert on_disk.dtype == np.int16 and set(np.unique(on_disk)) == {-32767, 100}
    series = open_series(str(path))  # the only data variable, found without data.variables
    frames = series.read(0, len(series.times))
    assert frames.dtype == np.float32 and frames.shape == (8, 1, 16, 16)
    fill = on_disk[:, None] == -32767
    assert np.array_equal(np.isnan(frames), fill)
    assert np.abs(frames[~fill] - 274.15).max() < 1e-5
    assert series.description()["units"] == ["K"] and series.axes.as_dict() == {"time": "time", "y": "lat", "x": "lon"}
    assert series.time_step == np.timedelta64(1, "h")
    dm = XarrayDataModule(str(path), normalize="none", input_length=2, total_length=4, batch_size=1, num_workers=0,
                          val_fraction=0.25, test_fraction=0.25)  # fmt: skip
    batch = next(iter(dm.train_dataloader()))
    assert torch.isnan(batch).sum() == int(fill[:4].sum()) and torch.nanmean(batch).item() == pytest.approx(274.15)


def test_missing_value_and_valid_range_become_nan_in_decoded_units(tmp_path):
    """missing_value and values outside valid_min / valid_max / valid_range are no data; the
    limits of a packed variable are packed integers (CF), compared after unpacking."""
    import netCDF4

    with netCDF4.Dataset(tmp_path / "ranges.nc", "w") as nc:
        nc.createDimension("time", 2)
        nc.createDimension("y", 2)
        nc.createDimension("x", 3)
        t = nc.createVariable("time", "i4", ("time",))
        t.units = "minutes since 2020-01-01"
        t[:] = [0, 10]
        rain = nc.createVariable("rain", "f4", ("time", "y", "x"))
        rain.valid_range, rain.missing_value = np.float32([0, 70]), np.float32(-1)
        rain[:] = np.float32([[[1, 99, -5], [-1, 70, 0]], [[2, 3, 4], [5, 6, 7]]])
        packed = nc.createVariable("packed", "i2", ("time", "y", "x"))
        packed.scale_factor, packed.add_offset, packed.valid_min = 0.5, 10.0, np.int16(0)  # valid from 10.0 on
        packed.set_auto_maskandscale(False)
        packed[:] = np.int16([[[-2, 0, 2], [4, -1, 6]], [[1, 1, 1], [1, 1, 1]]])
    frames = open_series(str(tmp_path / "ranges.nc"), variables=["rain", "packed"]).read(0, 2)
    np.testing.assert_array_equal(frames[0, 0], np.float32([[1, np.nan, np.nan], [np.nan, 70, 0]]))
    np.testing.assert_array_equal(frames[0, 1], np.float32([[np.nan, 10, 11], [12, np.nan, 13]]))
    assert not np.isnan(frames[1]).any()


@pytest.mark.parametrize("form", ["nc3", "zarr2", "zarr3", "folder", "glob"])
def test_every_form_gives_the_same_batches(form, radar):
    reference = XarrayDataModule(radar["nc4"], split_dates=GAP_DATES, stride=4, **SMALL)
    dm = XarrayDataModule(radar[form], split_dates=GAP_DATES, stride=4, **SMALL)
    assert (dm.channels, dm.image_size) == (1, (32, 32))
    np.testing.assert_array_equal(dm.series.times, reference.series.times)
    want, got = every_window(reference), every_window(dm)
    for split in want:
        assert got[split].shape == want[split].shape and got[split].dtype == np.float32
        np.testing.assert_array_equal(got[split], want[split])  # NaN where the reference has NaN
    assert torch.equal(torch.nan_to_num(next(iter(dm.train_dataloader()))),
                       torch.nan_to_num(next(iter(reference.train_dataloader()))))  # fmt: skip
    assert dm.series.grid.grid_mapping[1]["grid_mapping_name"] == "polar_stereographic"
    assert dm.normalization.as_dict() == reference.normalization.as_dict()


def test_forked_loader_workers_read_what_the_main_process_reads(radar):
    dm = XarrayDataModule(radar["folder"], split_dates=GAP_DATES, stride=4, **{**SMALL, "num_workers": 2})
    in_workers = torch.cat(list(dm.train_dataloader()))
    dm.hparams.num_workers = 0
    here = torch.cat(list(dm.train_dataloader()))
    assert torch.equal(in_workers.isnan(), here.isnan()) and torch.equal(in_workers.nan_to_num(), here.nan_to_num())


def test_windows_follow_the_gap_free_runs_of_a_folder_with_a_one_hour_gap(radar, raw):
    dm = XarrayDataModule(radar["folder"], split_dates=GAP_DATES, stride=4, **SMALL)
    times = dm.series.times
    assert len(times) == 48 and dm.time_step == STEP  # the folder's 48 files, in time order
    np.testing.assert_array_equal(times, radar_times())
    assert timeline.runs(times, STEP) == [(0, 24), (24, 48)]
    dm.check_sources()
    # train = run 1 (24 times): starts 0, 4, …, 16; val = 15:00-15:55 and test = 16:00-16:55 (12 times each):
    # one window of 8 each (evaluation windows don't overlap)
    assert [len(dm.windows(s)) for s in ("train", "val", "test")] == [5, 1, 1]
    assert dm.windows("train").tolist() == [0, 4, 8, 12, 16]
    for split in ("train", "val", "test"):
        for window in dm.window_times(split):
            assert (np.diff(window) == STEP).all()  # no window crosses the gap
    # a stride of 1 over the whole record without splits' cuts: the count from the runs
    series = open_series(radar["glob"])
    starts = timeline.window_starts(timeline.runs(series.times, series.time_step), 8, 1)
    assert len(starts) == 2 * (24 - 8 + 1)
    np.testing.assert_array_equal(dm.dataset("val").read(0)[:, 0], raw[24:32])  # the files of 15:00-15:35
    summary = dm.data_summary()
    assert summary["val"] == {"windows": 1, "first_time": "2021-06-01T15:00:00", "last_time": "2021-06-01T15:35:00",
                              "time_step": "5min", "masked_fraction": pytest.approx(np.isnan(raw[24:32]).mean())}  # fmt: skip


def test_split_dates_keep_every_window_inside_its_split(radar):
    dates = {"val": "2021-06-01T13:00", "test": "2021-06-01T15:30"}  # inside the first and the second run
    dm = XarrayDataModule(radar["nc4"], split_dates=dates, stride=1, **SMALL)
    val, test = np.datetime64("2021-06-01T13:00", "ns"), np.datetime64("2021-06-01T15:30", "ns")
    windows = {s: dm.window_times(s) for s in ("train", "val", "test")}
    assert all(w[-1] < val for w in windows["train"])  # no validation or test time in training
    assert all(val <= w[0] and w[-1] < test for w in windows["val"])
    assert all(w[0] >= test for w in windows["test"])
    # train: 12:00-12:55 (12 times, 5 windows at stride 1); val: 13:00-13:55 (12) and 15:00-15:25 (6, too
    # short); test: 15:30-16:55 (18 times): evaluation windows don't overlap
    assert [len(windows[s]) for s in ("train", "val", "test")] == [5, 1, 2]
    assert str(windows["test"][0][0]) == "2021-06-01T15:30:00.000000000"


def test_fraction_splits_hold_out_the_end_of_the_record_in_time_order(radar):
    dm = XarrayDataModule(radar["zarr3"], val_fraction=0.25, test_fraction=0.25, stride=2, **SMALL)
    times = dm.series.times
    windows = {s: dm.window_times(s) for s in ("train", "val", "test")}
    # 48 times: the last 12 test (16:00 on), the 12 before validate (15:00-15:55), the rest train
    assert min(w[0] for w in windows["test"]) == times[36] and max(w[-1] for w in windows["val"]) < times[36]
    assert min(w[0] for w in windows["val"]) == times[24] and max(w[-1] for w in windows["train"]) < times[24]
    assert len(windows["train"]) == (24 - 8) // 2 + 1


def test_nan_survives_into_the_batches_and_the_mask_marks_it(radar, raw):
    dm = XarrayDataModule(radar["nc4"], split_dates=GAP_DATES, stride=4, **SMALL)
    assert dm.no_data == "mask"
    batch = next(iter(dm.val_dataloader()))
    np.testing.assert_array_equal(batch[0, :, 0].numpy(), raw[24:32])  # NaN outside coverage, as in the file
    moved = dm.on_after_batch_transfer(batch, 0)
    assert torch.equal(moved["valid"], ~batch.isnan()) and torch.isfinite(moved["frames"]).all()
    covered = moved["valid"]
    np.testing.assert_allclose(moved["frames"][covered], dm.encode(batch)[covered])


def test_coarsen_on_time_and_space_is_a_nan_aware_block_mean(radar, raw):
    series = open_series(radar["nc4"], coarsen={"time": 2, "y": 3, "x": 3})
    assert series.frame_shape == (1, 10, 10) and series.time_step == 2 * STEP  # 32 // 3 = 10, the rest trimmed
    assert len(series.times) == 24  # each 24-scan run gives 12 pairs
    assert series.times[0] == FIRST_SCAN + np.timedelta64(150, "s")  # a pair is labelled by its middle, as xarray does
    got = series.read(0, 24)[:, 0]
    want = np.concatenate([nan_block_means(raw[:24], 2, 3, 3), nan_block_means(raw[24:], 2, 3, 3)])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.isnan(got).any() and not np.isnan(got).all()  # NaN only where a block has no data at all
    assert series.grid.shape == (10, 10)
    windows = XarrayDataModule(radar["nc4"], coarsen={"time": 2}, split_dates=GAP_DATES, **SMALL).window_times("train")
    assert len(windows) == 1 and (np.diff(windows[0]) == 2 * STEP).all()  # 12 pairs of run 1: one window of 8


def test_select_picks_a_level_a_lat_lon_box_and_ranges_in_either_order(tmp_path, radar, raw):
    path = write_levels(tmp_path / "levels.nc")
    series = open_series(str(path), select={"level": 850, "lat": [55, 50], "lon": [3, 8]})
    assert series.frame_shape == (1, 6, 6)
    lat, lon = np.linspace(60.0, 45.0, 16)[5:11], np.arange(3.0, 9.0)
    want = level_values(np.array([850]), lat, lon, np.arange(6))[:, 0]
    np.testing.assert_allclose(series.read(0, 6)[:, 0], want, rtol=1e-6)
    with pytest.raises(DataError, match=r"has the dimension level \(3 values\).*data.select=\{level: 1000\}"):
        open_series(str(path))
    # the radar's 2-D latitude / longitude: the smallest y/x box holding the pixels inside both ranges
    import xarray as xr

    with xr.open_dataset(radar["nc4"]) as ds:
        inside = (ds.lat.values >= 51.95) & (ds.lat.values <= 52.1) & (ds.lon.values >= 4.9) & (ds.lon.values <= 5.2)
        y_values = ds.y.values
    rows, cols = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
    boxed = open_series(radar["nc4"], select={"lat": [52.1, 51.95], "lon": [4.9, 5.2]})
    assert boxed.frame_shape == (1, rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    np.testing.assert_array_equal(boxed.read(3, 5)[:, 0], raw[3:5, rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
    # y decreases in the file: [a, b] and [b, a] keep the same rows
    a, b = float(y_values[4]), float(y_values[9])
    for pair in ([a, b], [b, a]):
        np.testing.assert_array_equal(open_series(radar["nc4"], select={"y": pair}).read(0, 2)[:, 0], raw[0:2, 4:10])
    assert open_series(radar["nc4"], select={"time": ["2021-06-01T12:30", "2021-06-01T15:10"]}).times.size == 18 + 3
    with pytest.raises(DataError, match=r"data.select leaves dbz of .* without its y dimension: give a range"):
        open_series(radar["nc4"], select={"y": a})  # one row is no frame


def test_normalisation_is_fitted_over_valid_pixels_of_the_training_split(radar, raw):
    for kind in ("minmax", "standard"):
        dm = XarrayDataModule(radar["nc4"], split_dates=GAP_DATES, normalize=kind, **SMALL)
        norm = dm.normalization.as_dict()
        train = raw[:24]  # the first run: every time before 15:00
        assert norm["low"] == [pytest.approx(np.nanmin(train))] and norm["high"] == [pytest.approx(np.nanmax(train))]
        if kind == "standard":
            assert norm["shift"] == [pytest.approx(np.nanmean(train.astype(np.float64)), rel=1e-6)]
            assert norm["scale"] == [pytest.approx(np.nanstd(train.astype(np.float64)), rel=1e-6)]
        encoded = dm.encode(torch.from_numpy(raw[:2, None]))
        assert torch.equal(encoded.isnan(), torch.from_numpy(np.isnan(raw[:2, None])))  # NaN stays NaN


def test_min_valid_fraction_drops_windows_and_all_nan_windows_always_go(tmp_path, raw):
    times = FIRST_SCAN + np.arange(48) * STEP
    ds = radar_dataset(times)
    dbz = ds["dbz"].values.copy()
    dbz[8:16] = np.nan  # eight missing scans, stored as fill values
    dbz[18:22] = np.nan
    ds["dbz"].values[:] = dbz
    ds.to_netcdf(tmp_path / "gappy.nc")
    covered = float((~np.isnan(dbz[0])).mean())
    settings = {**SMALL, "stride": 4, "val_fraction": 8 / 48, "test_fraction": 8 / 48}
    # train: times 0-31, starts 0, 4, …, 24; valid fractions in eighths of the coverage
    eighths = {0: 8, 4: 4, 8: 0, 12: 2, 16: 4, 20: 6, 24: 8}
    for minimum, want in ((0.0, [0, 4, 12, 16, 20, 24]), (0.4, [0, 20, 24])):
        dm = XarrayDataModule(str(tmp_path / "gappy.nc"), min_valid_fraction=minimum, **settings)
        assert dm.windows("train").tolist() == want
        assert all(eighths[s] / 8 * covered > minimum for s in want)
    dm = XarrayDataModule(str(tmp_path / "gappy.nc"), min_valid_fraction=0.0, **settings)
    kept = dm.windows("train")
    valid = [np.mean(~np.isnan(dm.dataset("train").read(i))) for i in range(len(kept))]
    assert dm.data_summary()["train"]["masked_fraction"] == pytest.approx(1 - np.mean(valid))


def test_reading_is_lazy_memory_stays_far_below_the_file(tmp_path, monkeypatch):
    """Memory is bounded by the windows in flight plus the decoded-block cache, whose bound is
    set here below the file's size (by default 64 MB, more than this file)."""
    from predrnn.data import xarray_source

    monkeypatch.setattr(xarray_source, "CACHE_BYTES", 2**19)
    path = write_long(tmp_path / "long.nc", times=2000)  # 2000 × 32 × 32 float32: 8 MB
    size = 2000 * 32 * 32 * 4
    tracemalloc.start()
    dm = XarrayDataModule(str(path), input_length=10, total_length=20, batch_size=4, num_workers=0)
    dm.check_sources()
    for batch in dm.train_dataloader():
        assert batch.shape == (4, 20, 1, 32, 32)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    bound = size / 4 + xarray_source.CACHE_BYTES  # windows in flight, the statistics pass, the cache
    assert peak < bound, f"peak {peak / 1e6:.1f} MB of a {size / 1e6:.0f} MB file"
    assert batch[0, 0, 0, 0, 0].item() % 1 == 0  # value i + pixel / 1000: pixel 0 of some time
    assert 0 < dm.series._cached <= 2**19 + 64 * 32 * 32 * 4  # the cache at its bound (one block more at most)


def test_cached_blocks_read_as_the_file_holds_them(tmp_path, monkeypatch):
    """Every window read through the decoded-block cache equals xarray's own reading of those
    times, in any order, with blocks evicted (a small bound) and kept (the default)."""
    import xarray as xr

    from predrnn.data import xarray_source

    path = write_long(tmp_path / "long.nc", times=300)
    with xr.open_dataset(path) as ds:
        name = next(iter(ds.data_vars))
        want = ds[name].values.astype(np.float32)
    for bound in (2**20 // 8, xarray_source.CACHE_BYTES):
        monkeypatch.setattr(xarray_source, "CACHE_BYTES", bound)
        series = xarray_source.open_series(str(path))
        for start in np.random.default_rng(bound).integers(0, 280, 60):
            got = series.read(int(start), int(start) + 20)[:, 0]
            np.testing.assert_array_equal(got, want[start : start + 20])


def _write(tmp_path, name, ds) -> str:
    ds.to_netcdf(tmp_path / name)
    return str(tmp_path / name)


def _shuffled(tmp_path) -> str:
    times = radar_times(8, 0, 8)
    times[[3, 4]] = times[[4, 3]]
    return _write(tmp_path, "shuffled.nc", radar_dataset(times))


def _duplicated(tmp_path) -> str:
    times = radar_times(8, 0, 8)
    times[5] = times[4]
    return _write(tmp_path, "dup.nc", radar_dataset(times))


def _overlapping_files(tmp_path) -> str:
    (tmp_path / "over").mkdir()
    times = radar_times(8, 0, 8)
    radar_dataset(times[:8]).to_netcdf(tmp_path / "over" / "a.nc")
    radar_dataset(times[7:]).to_netcdf(tmp_path / "over" / "b.nc")
    return str(tmp_path / "over")


def _files_in_other_units(tmp_path) -> str:
    (tmp_path / "units").mkdir()
    times = radar_times(8, 0, 8)
    radar_dataset(times[:8]).to_netcdf(tmp_path / "units" / "a.nc")
    later = radar_dataset(times[8:])
    later["dbz"].attrs["units"] = "mm h-1"
    later.to_netcdf(tmp_path / "units" / "b.nc")
    return str(tmp_path / "units")


def _files_on_other_grids(tmp_path) -> str:
    (tmp_path / "grids").mkdir()
    times = radar_times(8, 0, 8)
    radar_dataset(times[:8]).to_netcdf(tmp_path / "grids" / "a.nc")
    radar_dataset(times[8:], size=24).to_netcdf(tmp_path / "grids" / "b.nc")
    return str(tmp_path / "grids")


def _two_grids(tmp_path) -> str:
    ds = radar_dataset(radar_times(8, 0, 8))
    ds["rain"] = (("time", "y2", "x2"), np.zeros((16, 4, 4), np.float32))
    return _write(tmp_path, "grids.nc", ds)


def _undecodable_time(tmp_path) -> str:
    ds = radar_dataset(radar_times(8, 0, 8))
    ds = ds.assign_coords(time=("time", np.arange(16), {"units": "scans", "standard_name": "time", "axis": "T"}))
    return _write(tmp_path, "scans.nc", ds)


# (name, the data.path it needs, data module keyword arguments, error, what the message must say)
BAD_INPUTS = [
    ("variable missing", "nc4", {"variables": ["rain"]}, DataError,
     r"data.variables names rain, which .*radar.nc does not hold: its variables are dbz"),
    ("dimension missing", "nc4", {"dims": {"y": "rows"}}, DataError,
     r"data.dims.y=rows is not a dimension of dbz .*: its dimensions are time, y, x"),
    ("times out of order", _shuffled, {}, DataError,
     r"times are not in order: 2021-06-01T12:15:00 comes after 2021-06-01T12:20:00: sort them .*sortby"),
    ("time given twice", _duplicated, {}, DataError,
     r"holds the time 2021-06-01T12:20:00 twice: drop the duplicates .*drop_duplicates"),
    ("files that overlap in time", _overlapping_files, {}, DataError,
     r"holds the time 2021-06-01T12:35:00 twice \(in .*a.nc and .*b.nc\): drop the duplicates"),
    ("a step the data never has", "nc4", {"time_step": "7min"}, DataError,
     r"data.time_step=7min is never the difference between two consecutive times .*most common one is 5min\): "
     r"give data.time_step=5min"),
    ("a step that is no duration", "nc4", {"time_step": "soon"}, BadValue, r"time_step='soon' is not a duration"),
    ("split date outside the record", "nc4", {"split_dates": {"val": "2020-01-01", "test": "2021-06-01T16:00"}},
     DataError, r"data.split_dates.val=2020-01-01T00:00:00 is outside the record \(2021-06-01T12:00:00 to "
     r"2021-06-01T16:55:00\): give a date after its first time"),
    ("val after test", "nc4", {"split_dates": {"val": "2021-06-01T16:00", "test": "2021-06-01T15:00"}}, BadValue,
     r"split_dates=.* must have val before test"),
    ("empty split", "nc4", {"split_dates": {"val": "2021-06-01T15:00", "test": "2021-06-01T15:20"}}, DataError,
     r"the val split \(data.split_dates .*2021-06-01T15:00:00 to 2021-06-01T15:15:00\) holds no window of 8 times: "
     r"its longest gap-free run holds 4 .*: give it more time"),
    ("window longer than any gap-free run", "nc4", {"total_length": 30}, DataError,
     r"a window of data.total_length=30 times 5min apart is longer than any gap-free run of the data: the longest "
     r"holds 24 times \(2021-06-01T12:00:00 to 2021-06-01T13:55:00\): give a shorter data.total_length"),
    ("variables on different grids", _two_grids, {"variables": ["dbz", "rain"]}, DataError,
     r"data.variables dbz and rain of .* are on different grids \(dbz \(time: 16, y: 32, x: 32\), rain "
     r"\(time: 16, y2: 4, x2: 4\)\): choose variables on one grid"),
    ("files in other units", _files_in_other_units, {}, DataError,
     r"dbz is in 'mm h-1' in .*b.nc but 'dBZ' in .*a.nc: give every file the same units"),
    ("files on other grids", _files_on_other_grids, {}, DataError,
     r"b.nc and .*a.nc are on different grids \(y differs; frames 24x24 and 32x32 after data.select\): give files of "
     r"one grid"),
    ("select selecting nothing", "nc4", {"select": {"y": [0, 1000]}}, DataError,
     r"data.select.y=\[0, 1000\] selects nothing: y holds .*: give a range that overlaps them"),
    ("a lat/lon box off the grid", "nc4", {"select": {"lat": [10, 11], "lon": [4, 6]}}, DataError,
     r"data.select lat=\[10, 11\], lon=\[4, 6\] selects nothing in .* \(lat in \[5.*\]"),
    ("select of an unknown name", "nc4", {"select": {"level": 850}}, DataError,
     r"data.select names level, which is not a coordinate or dimension of .*: its coordinates are .*lat, lon"),
    ("coarsen of an unknown dimension", "nc4", {"coarsen": {"z": 2}}, DataError,
     r"data.coarsen names z, which is not a dimension .*: give time, y or x \(here time, y, x\)"),
    ("NaN under no_data=refuse", "nc4", {"no_data": "refuse"}, DataError,
     r"dbz of .* has no data \(NaN.*\) at 2021-06-01T12:00:00 and data.no_data=refuse: set data.no_data=mask"),
    ("times that are not dates", _undecodable_time, {}, DataError,
     r"the time coordinate time of .* does not read as dates .*units='scans'.*: give CF units"),
    ("no_data unknown", "nc4", {"no_data": "zero"}, BadValue, r"no_data='zero' is unknown: use one of mask, refuse"),
    ("not netCDF", lambda p: (p / "x.npy").write_bytes(b"\x93NUMPY") and str(p / "x.npy"), {}, DataError,
     r"x.npy is not a netCDF file .* or a Zarr store: give a netCDF file"),
    ("path missing", lambda p: str(p / "nothing.nc"), {}, DataError, r"data.path=.*nothing.nc not found: give"),
]  # fmt: skip


@pytest.mark.parametrize("name,path,kwargs,error,message", BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
def test_bad_input_is_one_line_naming_the_fix(name, path, kwargs, error, message, radar, tmp_path):
    where = radar[path] if isinstance(path, str) else path(tmp_path)
    with pytest.raises(error) as caught:
        XarrayDataModule(where, **{**SMALL, **kwargs}).check_sources()
    text = str(caught.value)
    assert "\n" not in text and type(caught.value) is error, text
    assert re.search(message, text), text


def test_a_store_that_changes_while_read_is_refused_in_the_worker(tmp_path):
    path = tmp_path / "live.nc"
    radar_dataset(radar_times()).to_netcdf(path)
    dm = XarrayDataModule(str(path), split_dates=GAP_DATES, stride=4, **{**SMALL, "num_workers": 1})
    dm.check_sources()
    later = radar_times() + np.timedelta64(5, "m")  # a producer rewrote it: every scan 5 minutes later
    radar_dataset(later).to_netcdf(tmp_path / "new.nc")
    os.replace(tmp_path / "new.nc", path)
    loader = dm.train_dataloader()
    with pytest.raises(DataError, match=r"live.nc changed while being read: its times differ from when the run "
                                        r"opened it: don't write to the data while a run reads it"):  # fmt: skip
        next(iter(loader))
    loader._iterator._shutdown_workers()  # the worker persists (as in training); stop it, as the trainer does


def test_the_printed_eval_command_reads_the_same_test_windows(radar, tmp_path):
    dm = XarrayDataModule(radar["folder"], select={"y": [-1e9, 1e9]}, coarsen={"x": 2}, split_dates=GAP_DATES,
                          **SMALL)  # fmt: skip
    dm.check_sources()
    eval_args, predict_args = map(data_arguments, dm.command_overrides())
    assert predict_args.startswith(" data=xarray") and "data.path" not in predict_args
    cfg = compose("eval", tmp_path, ["ckpt_path=x.ckpt", *shlex.split(eval_args)])
    from predrnn.build import build_data

    again = build_data(cfg, input_length=4)  # as predrnn-eval builds it, with the checkpoint's observed length
    np.testing.assert_array_equal(again.windows("test"), dm.windows("test"))
    assert again.image_size == (32, 16) and again.total_length == 8
    definition = dm.test_set_definition()
    assert definition["split_dates"] == {"val": "2021-06-01T15:00:00", "test": "2021-06-01T16:00:00"}
    assert len(definition["files"]) == 8 and definition["windows"]["windows"] == 1
    description = dm.description()
    json.dumps(description)
    assert description["reader"] == "xarray" and description["no_data"] == "mask"
    assert description["units"] == ["dBZ"] and description["time_step"] == "5min"
    assert description["standard_names"] == ["equivalent_reflectivity_factor"]


def test_storage_options_never_reach_the_hyperparameters_or_the_printed_commands(radar):
    options = {"secret": "hunter2", "anon": True, "client_kwargs": {"aws_secret_access_key": "hunter3"}}
    dm = XarrayDataModule(radar["nc4"], storage_options=options, **SMALL)
    assert "storage_options" not in dm.hparams
    printed = "".join(map(data_arguments, dm.command_overrides()))
    assert "hunter" not in printed and "data.storage_options={anon:true}" in printed


def test_training_runs_end_to_end_on_a_radar_archive(radar, tmp_path, monkeypatch, capsys):
    argv = ["predrnn-train", "data=xarray", f"data.path={radar['folder']}", "trainer=cpu", "logger=csv",
            "model.hidden_channels=[8]", "model.patch_size=2", "data.input_length=4", "data.total_length=8",
            "data.batch_size=2", "data.num_workers=0", "trainer.max_steps=2", "callbacks.media=null",
            "data.split_dates={val:'2021-06-01T15:00',test:'2021-06-01T16:00'}", "data.stride=4"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert np.isfinite(metrics["mse"])
    # predrnn-eval with the overrides the data module prints scores the same test windows
    dm = XarrayDataModule(radar["folder"], split_dates=GAP_DATES, stride=4, **SMALL)
    eval_args = data_arguments(dm.command_overrides()[0])
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    evaluated = eval_score(ckpt, eval_args, tmp_path, monkeypatch, capsys)
    assert evaluated["mse"] == pytest.approx(metrics["mse"], rel=1e-4)


@pytest.mark.parametrize("missing", ["xarray", "h5netcdf"])
def test_a_missing_xarray_extra_is_one_line_naming_it(missing, radar, monkeypatch):
    monkeypatch.setitem(sys.modules, missing, None)  # import then raises ImportError, as when not installed
    with pytest.raises(ConfigError) as caught:
        XarrayDataModule(radar["nc4"], **SMALL)
    assert str(caught.value) == (
        f"data=xarray needs xarray and its netCDF / Zarr readers ({missing} is missing): pip install 'predrnn[xarray]'"
    )
