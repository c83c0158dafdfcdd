"""Forecasts a forecaster can place on a map: the input's grid (`predrnn.data.grid.Grid`) read
from a CF dataset, carried through coarsening and checkpoints, and written into CF netCDF / Zarr
forecasts (`forecast_writer.py`) that give back the input's coordinates, units, names and CRS."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from predrnn.data.grid import Grid

RADAR_CRS = {  # a polar stereographic radar composite grid, as CF writes it
    "grid_mapping_name": "polar_stereographic",
    "straight_vertical_longitude_from_pole": 10.0,
    "latitude_of_projection_origin": 90.0,
    "standard_parallel": 60.0,
    "false_easting": 0.0,
    "false_northing": 0.0,
    "semi_major_axis": 6378137.0,
    "inverse_flattening": 298.257223563,
}


def radar_dataset(times: int = 24, size: int = 16, start: str = "2024-05-01T12:00", step: str = "10min") -> xr.Dataset:
    """A small radar-like CF dataset: reflectivity (time, y, x) in dBZ on a polar stereographic
    grid (y, x in metres, 2-D lat / lon), a `crs` grid-mapping variable, NaN outside the radar's
    circle (no coverage), a blob that moves one pixel per step."""
    from pyproj import CRS, Transformer

    y = 1.0e6 * -4.0 + 1000.0 * np.arange(size)[::-1]  # north to south, as composites are stored
    x = 1000.0 * np.arange(size) + 2.0e5
    xx, yy = np.meshgrid(x, y)
    to_lonlat = Transformer.from_crs(CRS.from_cf(RADAR_CRS), "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(xx, yy)
    t = np.arange(times)
    iy, ix = np.mgrid[0:size, 0:size]
    blob = 50.0 * np.exp(-(((ix[None] - (2 + t[:, None, None] % 10)) ** 2 + (iy[None] - size / 2) ** 2) / 8.0))
    dbz = (blob - 10.0).astype(np.float32)
    dbz[:, (iy - size / 2) ** 2 + (ix - size / 2) ** 2 > (size / 2 - 1) ** 2] = np.nan  # beyond the radar's range
    times_ = np.datetime64(start, "ns") + np.arange(times) * np.timedelta64(int(step.removesuffix("min")), "m")
    return xr.Dataset(
        {
            "reflectivity": (
                ("time", "y", "x"),
                dbz,
                {"units": "dBZ", "standard_name": "equivalent_reflectivity_factor", "long_name": "radar reflectivity",
                 "grid_mapping": "crs", "coordinates": "lat lon"},
            ),
            "crs": ((), np.int32(0), RADAR_CRS),
        },
        coords={
            "time": ("time", times_, {"standard_name": "time", "axis": "T"}),
            "y": ("y", y, {"standard_name": "projection_y_coordinate", "units": "m", "axis": "Y"}),
            "x": ("x", x, {"standard_name": "projection_x_coordinate", "units": "m", "axis": "X"}),
            "lat": (("y", "x"), lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": (("y", "x"), lon, {"standard_name": "longitude", "units": "degrees_east"}),
        },
        attrs={"Conventions": "CF-1.8", "title": "a tiny radar composite"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def radar_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("radar") / "radar.nc"
    radar_dataset().to_netcdf(path, engine="netcdf4")
    return path


# ---- the grid ------------------------------------------------------------------------------


def test_grid_reads_coordinates_crs_and_names_from_a_cf_file(radar_file):
    with xr.open_dataset(radar_file) as ds:  # CF-decoded, as the reader opens it
        grid = Grid.from_dataset(ds, ["reflectivity"], "y", "x")
        want = radar_dataset()
    assert (grid.y, grid.x, grid.shape) == ("y", "x", (16, 16))
    np.testing.assert_array_equal(grid.y_values, want.y.values)
    np.testing.assert_array_equal(grid.x_values, want.x.values)
    assert grid.y_attrs["standard_name"] == "projection_y_coordinate" and grid.x_attrs["units"] == "m"
    assert set(grid.auxiliary) == {"lat", "lon"}
    dims, lat, attrs = grid.auxiliary["lat"]
    assert dims == ("y", "x") and attrs["standard_name"] == "latitude"
    np.testing.assert_allclose(lat, want.lat.values)
    assert grid.grid_mapping is not None and grid.grid_mapping[0] == "crs"
    assert grid.grid_mapping[1]["grid_mapping_name"] == "polar_stereographic"
    assert grid.variables == ["reflectivity"]
    assert grid.variable_attrs == [{"units": "dBZ", "standard_name": "equivalent_reflectivity_factor",
                                    "long_name": "radar reflectivity", "grid_mapping": "crs"}]  # fmt: skip


def test_grid_without_coordinate_variables_or_crs():
    ds = xr.Dataset({"t2m": (("time", "row", "col"), np.zeros((2, 3, 4), np.float32), {"units": "K"})})
    grid = Grid.from_dataset(ds, ["t2m"], "row", "col")
    np.testing.assert_array_equal(grid.y_values, [0, 1, 2])
    assert grid.auxiliary == {} and grid.grid_mapping is None and grid.variable_attrs == [{"units": "K"}]


def test_grid_of_variables_on_two_grids_is_refused():
    from predrnn.errors import DataError

    ds = radar_dataset(times=2)
    ds["other"] = ds.reflectivity.assign_attrs(grid_mapping="crs2")
    ds["crs2"] = ((), np.int32(0), {"grid_mapping_name": "latitude_longitude"})
    with pytest.raises(DataError, match="reflectivity and other lie on different grids.*crs and crs2"):
        Grid.from_dataset(ds, ["reflectivity", "other"], "y", "x")


def test_grid_round_trips_through_json(radar_file):
    with xr.open_dataset(radar_file) as ds:
        grid = Grid.from_dataset(ds, ["reflectivity"], "y", "x")
    grid.auxiliary["lat"][1][0, 0] = np.nan  # NaN travels as null
    text = json.dumps(grid.to_dict(), allow_nan=False)
    back = Grid.from_dict(json.loads(text))
    assert back == grid and back is not grid
    assert back.y_values.dtype == grid.y_values.dtype and np.isnan(back.auxiliary["lat"][1][0, 0])
    np.testing.assert_array_equal(back.auxiliary["lon"][1], grid.auxiliary["lon"][1])
    assert back.grid_mapping == grid.grid_mapping
    back.variable_attrs[0]["units"] = "mm/h"
    assert back != grid


def test_coarsened_grid_matches_xarray_coarsen_with_trim(radar_file):
    with xr.open_dataset(radar_file) as ds:
        ds = ds.isel(y=slice(0, 15), x=slice(0, 14))  # remainders: 15 = 3·5, 14 = 3·4 + 2
        grid = Grid.from_dataset(ds, ["reflectivity"], "y", "x").coarsened(3, 4)
        want = ds.coarsen(y=3, x=4, boundary="trim").mean()
    assert grid.shape == (5, 3) == want.reflectivity.shape[1:]
    np.testing.assert_allclose(grid.y_values, want.y.values)
    np.testing.assert_allclose(grid.x_values, want.x.values)
    np.testing.assert_allclose(grid.auxiliary["lat"][1], want.lat.values)
    np.testing.assert_allclose(grid.auxiliary["lon"][1], want.lon.values)  # far from the date line: the plain mean
    assert grid.grid_mapping[0] == "crs" and grid.variable_attrs[0]["units"] == "dBZ"
    assert Grid.from_dataset(ds, ["reflectivity"], "y", "x").coarsened(1, 1).y_values.dtype == ds.y.dtype


def test_coarsened_longitudes_across_the_date_line_stay_there():
    lon = np.array([[179.0, -179.0, 170.0, 172.0]])
    ds = xr.Dataset(coords={"lon": (("y", "x"), lon, {"units": "degrees_east"})})
    ds["v"] = (("y", "x"), np.zeros((1, 4)))
    grid = Grid.from_dataset(ds, ["v"], "y", "x").coarsened(1, 2)
    np.testing.assert_allclose(np.abs(grid.auxiliary["lon"][1]), [[180.0, 171.0]], atol=1e-9)


# ---- the forecast file ---------------------------------------------------------------------

ISSUE = np.array(["2024-05-01T15:50", "2024-05-01T16:00"], dtype="datetime64[ns]")
LEAD = np.arange(1, 4) * np.timedelta64(10, "m")


def forecast_values(grid: Grid, observed_last: np.ndarray) -> np.ndarray:
    """(2, 3, 1, H, W) float32 values in dBZ, NaN where the last observed frame has none."""
    h, w = grid.shape
    values = np.linspace(-10.0, 50.0, 2 * 3 * h * w, dtype=np.float32).reshape(2, 3, 1, h, w)
    values[..., np.isnan(observed_last)] = np.nan
    return values


def open_forecast(path):
    import xarray as xr

    if str(path).endswith(".zarr"):
        return xr.open_zarr(path, decode_timedelta=True).load()
    with xr.open_dataset(path, decode_timedelta=True) as ds:
        return ds.load()


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_forecast_file_is_a_cf_dataset_on_the_input_grid(suffix, radar_file, tmp_path):
    from pyproj import CRS

    from predrnn.data.forecast_writer import write_forecast

    with xr.open_dataset(radar_file) as source:
        source = source.load()
    grid = Grid.from_dataset(source, ["reflectivity"], "y", "x")
    values = forecast_values(grid, source.reflectivity.values[-1])
    out = write_forecast(tmp_path / f"forecast{suffix}", values, grid, ISSUE, LEAD, history="predrnn-predict test")
    assert out == tmp_path / f"forecast{suffix}" and sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    ds = open_forecast(out)
    var = ds.reflectivity
    assert var.dims == ("forecast_reference_time", "forecast_period", "y", "x") and var.dtype == np.float32
    for key in ("units", "standard_name", "long_name"):
        assert var.attrs[key] == source.reflectivity.attrs[key]
    np.testing.assert_array_equal(var.values, values[:, :, 0])  # NaN where the input had no coverage, too
    assert np.isnan(var.values[:, :, np.isnan(source.reflectivity.values[-1])]).all()
    assert np.isfinite(var.values[:, :, ~np.isnan(source.reflectivity.values[-1])]).all()
    # times: issue, lead, valid = issue + lead
    np.testing.assert_array_equal(ds.forecast_reference_time.values, ISSUE)
    np.testing.assert_array_equal(ds.forecast_period.values, LEAD.astype("timedelta64[ns]"))
    np.testing.assert_array_equal(ds.time.values, ISSUE[:, None] + LEAD[None, :])
    assert ds.time.dims == ("forecast_reference_time", "forecast_period")
    assert ds.forecast_reference_time.attrs["standard_name"] == "forecast_reference_time"
    assert ds.forecast_period.attrs["standard_name"] == "forecast_period"
    assert ds.time.attrs["standard_name"] == "time"
    # the grid: y / x, 2-D lat / lon, the grid mapping and the CRS it gives
    for name in ("y", "x", "lat", "lon"):
        np.testing.assert_allclose(ds[name].values, source[name].values)
        for key in ("standard_name", "units"):
            assert ds[name].attrs[key] == source[name].attrs[key], (name, key)
    assert set(ds.reflectivity.coords) >= {"time", "lat", "lon", "y", "x"}
    assert var.attrs["grid_mapping"] == "crs"
    assert CRS.from_cf(ds.crs.attrs) == CRS.from_cf(source.crs.attrs)
    assert ds.attrs["Conventions"] == "CF-1.8" and ds.attrs["source"].startswith("predrnn ")
    assert ds.attrs["history"].endswith("predrnn-predict test")


def test_forecast_netcdf_encodes_cf_time_units(radar_file, tmp_path):
    """What a CF reader without xarray sees: period in minutes, times as `<unit> since <date>`."""
    import netCDF4

    from predrnn.data.forecast_writer import write_forecast

    with xr.open_dataset(radar_file) as source:
        grid = Grid.from_dataset(source, ["reflectivity"], "y", "x")
        values = forecast_values(grid, source.reflectivity.values[-1])
    out = write_forecast(tmp_path / "forecast.nc", values, grid, ISSUE, LEAD)
    with netCDF4.Dataset(out) as nc:
        assert nc.data_model == "NETCDF4"
        assert nc["forecast_period"].units == "minutes" and list(nc["forecast_period"][:]) == [10, 20, 30]
        for name in ("forecast_reference_time", "time"):
            assert " since " in nc[name].units
        issue = netCDF4.num2date(nc["forecast_reference_time"][:], nc["forecast_reference_time"].units)
        assert [t.isoformat() for t in issue] == ["2024-05-01T15:50:00", "2024-05-01T16:00:00"]
        assert nc["reflectivity"].grid_mapping == "crs" and set(nc["reflectivity"].coordinates.split()) >= {
            "lat",
            "lon",
            "time",
        }


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_forecast_output_is_never_replaced_unasked_nor_half_written(suffix, radar_file, tmp_path):
    from predrnn.data.forecast_writer import write_forecast
    from predrnn.errors import OutputError

    with xr.open_dataset(radar_file) as source:
        grid = Grid.from_dataset(source, ["reflectivity"], "y", "x")
        values = forecast_values(grid, source.reflectivity.values[-1])
    out = write_forecast(tmp_path / f"forecast{suffix}", values, grid, ISSUE, LEAD)
    first = open_forecast(out)
    with pytest.raises(OutputError, match=f"output=.*forecast{suffix} exists: .*overwrite=true"):
        write_forecast(out, values + 1, grid, ISSUE, LEAD)
    xr.testing.assert_identical(open_forecast(out), first)
    broken = Grid.from_dict(grid.to_dict())
    broken.y_attrs["comment"] = object()  # an attribute neither netCDF nor Zarr can hold
    with pytest.raises((TypeError, ValueError)):  # fails while writing: the old forecast stays whole
        write_forecast(out, values + 1, broken, ISSUE, LEAD, overwrite=True)
    xr.testing.assert_identical(open_forecast(out), first)
    if suffix == ".zarr":
        (out / "left-over").write_text("from the old store")
    write_forecast(out, values + 1, grid, ISSUE[:1].repeat(2), LEAD, overwrite=True)
    again = open_forecast(out)
    np.testing.assert_array_equal(again.reflectivity.values, values[:, :, 0] + 1)
    assert not (out / "left-over").exists()  # replaced whole, never merged
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporaries left


def test_forecast_refuses_other_suffixes_and_folders_that_are_no_zarr_store(tmp_path):
    from predrnn.data.forecast_writer import check_forecast_output
    from predrnn.errors import OutputError

    with pytest.raises(OutputError, match=r"output=.*forecast\.h5 must end in \.nc \(netCDF-4\) or \.zarr"):
        check_forecast_output(tmp_path / "forecast.h5")
    photos = tmp_path / "photos.zarr"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(OutputError, match="photos.zarr is a folder that this kind of output never writes"):
        check_forecast_output(photos, overwrite=True)
    assert (photos / "holiday.jpg").exists()
    (tmp_path / "file.zarr").write_text("")
    with pytest.raises(OutputError, match=r"file\.zarr is a file, a \.zarr output is a folder"):
        check_forecast_output(tmp_path / "file.zarr", overwrite=True)
    with pytest.raises(OutputError, match="forecast.nc is a folder"):
        (tmp_path / "forecast.nc").mkdir()
        check_forecast_output(tmp_path / "forecast.nc", overwrite=True)


def test_stale_temporary_stores_of_killed_writes_are_removed(tmp_path):
    from predrnn.data.forecast_writer import check_forecast_output

    dead = tmp_path / ".forecast.zarr.999999999.abc.tmp.zarr"  # a pid that can't be running
    (dead / "reflectivity").mkdir(parents=True)
    (dead / "reflectivity" / "0.0.0.0").write_bytes(b"chunk")
    alive = tmp_path / f".forecast.zarr.{__import__('os').getpid()}.abc.tmp.zarr"
    alive.mkdir()
    check_forecast_output(tmp_path / "forecast.zarr")
    assert not dead.exists() and alive.exists()


def test_lead_times_label_the_metric_table(capsys):
    from predrnn.training.metric_tables import print_metrics_table
    from predrnn.training.test_report import lead_times_minutes

    assert lead_times_minutes(np.timedelta64(5, "m"), 3) == [5, 10, 15]
    assert lead_times_minutes(np.timedelta64(90, "s"), 2) == [1.5, 3]
    assert lead_times_minutes(None, 3) is None
    print_metrics_table({"mse": 2.0, "mse_per_frame": [1.0, 3.0], "lead_times_minutes": [10, 20], "num_sequences": 1})
    table = capsys.readouterr().out
    assert "lead" in table and "+10 min" in table and "+20 min" in table
    print_metrics_table({"mse": 2.0, "mse_per_frame": [1.0, 3.0], "num_sequences": 1})
    assert "+10 min" not in capsys.readouterr().out


# ---- predrnn-predict and predrnn-eval on a model trained through data=xarray ---------------------

J, K = 4, 3  # observed and predicted times of the tiny model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained for 2 steps on a radar archive (64 scans, 5 min apart, NaN outside
    the radar's range) through data=xarray; the scans after the archive are the recent ones."""
    from _pytest.monkeypatch import MonkeyPatch

    from xarray_files import FIRST_SCAN, STEP
    from xarray_files import radar_dataset as xarray_radar

    folder = tmp_path_factory.mktemp("trained")
    times = FIRST_SCAN + np.arange(76) * STEP
    xarray_radar(times[:64]).to_netcdf(folder / "archive.nc", engine="netcdf4")
    data = ["data=xarray", "data.path=archive.nc", "data.variables=[dbz]", f"data.input_length={J}",
            f"data.total_length={J + K}", "data.val_fraction=0.2", "data.test_fraction=0.2", "data.num_workers=0",
            "data.batch_size=2"]  # fmt: skip
    tiny = ["trainer=cpu", "logger=csv", "model.hidden_channels=[4]", "model.kernel_size=3", "trainer.max_steps=2",
            "callbacks.media.num_sequences=0"]  # fmt: skip
    mp = MonkeyPatch()
    try:
        code, err, _ = _run(["predrnn-train", *data, *tiny], folder, mp)
    finally:
        mp.undo()
    assert code == 0, err
    (run_dir,) = (folder / "logs" / "train" / "runs").iterdir()
    return {"folder": folder, "ckpt": run_dir / "checkpoints" / "last.ckpt", "times": times, "data": data,
            "run_dir": run_dir}  # fmt: skip


def _run(argv, cwd, monkeypatch):
    """A console script's real main in this process: (exit code, stderr lines, stdout)."""
    import io
    import sys
    from contextlib import redirect_stderr, redirect_stdout

    from predrnn.cli import evaluate, predict, train

    mains = {"predrnn-train": train.main, "predrnn-eval": evaluate.main, "predrnn-predict": predict.main}
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", list(argv))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            mains[argv[0]]()
            code = 0
        except SystemExit as exit_info:
            code = exit_info.code
    return code, err.getvalue().strip().splitlines(), out.getvalue()


def write_recent(trained, name: str, keep=slice(64, 70), rename: dict | None = None, units: str | None = None):
    """The scans after the archive (6 by default) as `name` in the trained model's folder."""
    from xarray_files import radar_dataset as xarray_radar

    ds = xarray_radar(trained["times"][keep])
    if rename:
        ds = ds.rename(rename)
    if units:
        ds["dbz"].attrs["units"] = units
    path = trained["folder"] / name
    if name.endswith(".zarr"):
        ds.to_zarr(path, zarr_format=2, mode="w")
    else:
        ds.to_netcdf(path, engine="netcdf4")
    return path


def described(trained) -> str:
    """The trained checkpoint with its `data_description` (design A: the data module's
    `description()` in the module's hyper-parameters). Where training does not record one yet,
    a copy with the description the XarrayDataModule gives for the same data."""
    import torch

    from predrnn.checkpoints import open_checkpoint
    from predrnn.data.xarray_datamodule import XarrayDataModule
    from predrnn.training.module import PredRNNModule

    if open_checkpoint(str(trained["ckpt"]), module_class=PredRNNModule).module.hparams.get("data_description"):
        return str(trained["ckpt"])
    path = trained["folder"] / "described.ckpt"
    if not path.exists():
        state = torch.load(trained["ckpt"], map_location="cpu", weights_only=True)
        dm = XarrayDataModule(path=str(trained["folder"] / "archive.nc"), variables=["dbz"], input_length=J,
                              total_length=J + K, num_workers=0)  # fmt: skip
        state["hyper_parameters"]["data_description"] = dm.description()
        torch.save(state, path)
    return str(path)


def by_hand(ckpt, observed: np.ndarray) -> np.ndarray:
    """The checkpoint's rollout of `observed` (1, J, 1, H, W) dBZ with NaN: NaN filled with the
    training split's lowest value, encoded, K frames free, decoded, NaN where the last frame has
    no data."""
    import torch

    from predrnn.checkpoints import open_checkpoint
    from predrnn.training.module import PredRNNModule

    module = open_checkpoint(str(ckpt), module_class=PredRNNModule).module.eval()
    norm = module.normalization
    low = norm.low.flatten().numpy()[0]
    x = norm.encode(torch.from_numpy(np.where(np.isnan(observed), low, observed).astype(np.float32)))
    with torch.no_grad():
        out = module.network(torch.cat([x, x.new_zeros(1, K, *x.shape[2:])], 1))[:, J - 1 :]
    units = norm.decode(out).numpy()
    return np.where(np.isnan(observed[:, -1])[:, None], np.nan, units).astype(np.float32)


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_predict_writes_a_cf_forecast_on_the_input_grid(suffix, trained, tmp_path, monkeypatch):
    from pyproj import CRS

    recent = write_recent(trained, f"recent{suffix}")
    out = tmp_path / f"forecast{suffix}"
    argv = ["predrnn-predict", f"ckpt_path={trained['ckpt']}", f"input={recent}", f"output={out}",
            f"num_predictions={K}"]  # fmt: skip
    code, err, stdout = _run(argv, trained["folder"], monkeypatch)
    assert code == 0, err
    assert "issued 2021-06-01T17:45:00, lead times 5min to 15min" in stdout
    assert (tmp_path / "forecast_preview.gif").is_file()
    ds = open_forecast(out)
    with xr.open_dataset(recent) if suffix == ".nc" else xr.open_zarr(recent) as source:
        source = source.load()
    issue = trained["times"][69]
    lead = np.arange(1, K + 1) * np.timedelta64(5, "m")
    np.testing.assert_array_equal(ds.forecast_reference_time.values, [issue])
    np.testing.assert_array_equal(ds.forecast_period.values, lead.astype("timedelta64[ns]"))
    np.testing.assert_array_equal(ds.time.values, issue + lead[None, :])
    assert ds.dbz.dims == ("forecast_reference_time", "forecast_period", "y", "x")
    for key in ("units", "standard_name", "long_name"):
        assert ds.dbz.attrs[key] == source.dbz.attrs[key]
    for name in ("y", "x", "lat", "lon"):
        np.testing.assert_allclose(ds[name].values, source[name].values)
        assert ds[name].attrs["standard_name"] == source[name].attrs["standard_name"]
    gm = ds.dbz.attrs["grid_mapping"]
    assert gm == source.dbz.attrs["grid_mapping"]
    assert CRS.from_cf(ds[gm].attrs) == CRS.from_cf(source[gm].attrs)
    no_data = np.isnan(source.dbz.values[-1])
    assert no_data.any() and np.isnan(ds.dbz.values[..., no_data]).all()
    assert np.isfinite(ds.dbz.values[..., ~no_data]).all()
    want = by_hand(trained["ckpt"], source.dbz.values[None, -J:, None])
    np.testing.assert_allclose(ds.dbz.values, want[:, :, 0], rtol=1e-5, atol=1e-4)
    assert ds.attrs["Conventions"] == "CF-1.8" and "predrnn-predict" in ds.attrs["history"]
    again = _run(argv, trained["folder"], monkeypatch)  # never over an existing forecast unasked
    assert again[0] == 2 and f"output={out} exists" in again[1][-1]
    assert _run([*argv, "overwrite=true"], trained["folder"], monkeypatch)[0] == 0


def test_predict_npy_from_a_series_and_what_it_refuses(trained, tmp_path, monkeypatch):
    recent = write_recent(trained, "recent.nc")
    ckpt = f"ckpt_path={trained['ckpt']}"
    code, err, _ = _run(["predrnn-predict", ckpt, f"input={recent}", f"output={tmp_path / 'f.npy'}",
                         f"num_predictions={K}"], trained["folder"], monkeypatch)  # fmt: skip
    assert code == 0, err
    npy = np.load(tmp_path / "f.npy")
    with xr.open_dataset(recent) as source:
        observed = source.dbz.values[None, -J:, None]
    assert npy.shape == (1, K, 32, 32, 1) and npy.dtype == np.float32  # (N, K, H, W, C)
    np.testing.assert_allclose(npy[..., 0], by_hand(trained["ckpt"], observed)[:, :, 0], rtol=1e-5, atol=1e-4)

    def refused(input_path, *extra, output="r.nc"):
        argv = ["predrnn-predict", ckpt, f"input={input_path}", f"output={tmp_path / output}", *extra]
        code, err, _ = _run(argv, trained["folder"], monkeypatch)
        assert code == 2, err
        assert not (tmp_path / output).exists()
        return err[-1]

    gap = write_recent(trained, "gap.nc", keep=[64, 65, 66, 67, 69, 70, 71])
    assert refused(gap) == (
        f"predrnn-predict: error: input={gap}: its last 4 times are not consecutive at the step 5min "
        "(2021-06-01T17:35:00 is followed by 2021-06-01T17:45:00): the model needs 4 times without a gap, ending "
        "at the issue time"
    )
    rain = write_recent(trained, "rain.nc", rename={"dbz": "rain"})
    line = refused(rain)
    assert line.startswith(f"predrnn-predict: error: ckpt_path={trained['ckpt']} was trained on the variables dbz")
    assert "rain" in line and str(rain) in line
    assert "was trained on the variables dbz, data.variables=['rain'] gives rain" in refused(
        rain, "data.variables=[rain]"
    )
    assert "output=" in refused(recent, output="r.h5") and "must end in .npy" in refused(recent, output="r.h5")
    glob_out = refused(f"{trained['folder']}/rec*.nc", output=f"../{trained['folder'].name}/recent_forecast.nc")
    assert "matches input=" in glob_out and "a later run would read it as input" in glob_out
    npy_in = tmp_path / "frames.npy"  # no times, no grid: no CF forecast
    np.save(npy_in, np.zeros((6, 32, 32), np.float32))
    assert str(npy_in) in refused(npy_in)
    # what the checkpoint's data description tells: the model's time step and units
    ckpt = f"ckpt_path={described(trained)}"
    coarse = write_recent(trained, "coarse.nc", keep=slice(58, 76, 2))  # every 10 minutes
    assert refused(coarse).endswith(
        f"input={coarse} has a time step of 10min, the model was trained on steps of 5min: give data every 5min "
        "(data.coarsen={time: n} averages n times)"
    )
    mmh = write_recent(trained, "mmh.nc", units="mm/h")
    assert refused(mmh).endswith(f"input={mmh} gives dbz in mm/h, {ckpt} was trained on it in dBZ: give dbz in dBZ")
    rain_line = refused(rain)  # the description's variables, data.variables given or not
    assert f"{ckpt} was trained on the variables dbz, which input={rain} does not hold (its variables are rain)" in (
        rain_line
    )
    # the run's sample_input.npy (NaN where there is no data) is read as an array: NaN stays no data
    sample = tmp_path / "sample.npy"
    with xr.open_dataset(recent) as source:
        np.save(sample, source.dbz.values[None, -J:, None])
    code, err, _ = _run(["predrnn-predict", ckpt, f"input={sample}", "data.layout=NTCHW", f"output={tmp_path / 's.npy'}",
                         f"num_predictions={K}"], trained["folder"], monkeypatch)  # fmt: skip
    assert code == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), by_hand(trained["ckpt"], np.load(sample)), rtol=1e-5,
                               atol=1e-4)  # fmt: skip


def test_eval_labels_lead_times_and_refuses_other_variables(trained, monkeypatch):
    folder, ckpt = trained["folder"], f"ckpt_path={trained['ckpt']}"
    code, err, stdout = _run(["predrnn-eval", ckpt, *trained["data"], "logger=csv", "num_media=0"], folder, monkeypatch)
    assert code == 0, err
    (eval_dir,) = (folder / "logs" / "eval" / "runs").iterdir()
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert metrics["lead_times_minutes"] == [5, 10, 15]
    assert "+5 min" in stdout and "+15 min" in stdout
    train_metrics = json.loads((trained["run_dir"] / "metrics.json").read_text())  # the training run's test too
    assert train_metrics["lead_times_minutes"] == [5, 10, 15]
    from xarray_files import radar_dataset as xarray_radar

    xarray_radar(trained["times"][:64]).rename({"dbz": "rain"}).to_netcdf(folder / "rain.nc", engine="netcdf4")
    ckpt = f"ckpt_path={described(trained)}"
    data = [a for a in trained["data"] if not a.startswith(("data.path", "data.variables"))]
    code, err, _ = _run(["predrnn-eval", ckpt, *data, "data.path=rain.nc", "data.variables=[rain]", "logger=csv"],
                        folder, monkeypatch)  # fmt: skip
    assert code == 2
    assert err[-1] == (
        f"predrnn-eval: error: {ckpt} was trained on the variables dbz, data.path=rain.nc gives rain: give data of the "
        "variables it was trained on, in that order (data.variables=[dbz])"
    )
