"""WeatherBench under OpenSTL's protocol (docs/benchmarks.md, "WeatherBench") and metrics=weather
(docs/metrics.md, "Weather scores"): yearly netCDF files per variable folder as WeatherBench v1
ships them (tests/weather_files.py) give OpenSTL's years per split and every window of 24 hours
inside a split; the experiment trains, evaluates and predicts on them; the latitude-weighted
scores equal a transcription of WeatherBench 2's formulas (tests/fixtures/weather_scores/)."""

from __future__ import annotations

import importlib.util
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import TESTS, compose, run_main
from predrnn.build import build_data, evaluation_settings
from predrnn.command_line import data_arguments
from predrnn.metrics.api import summarise
from predrnn.metrics.weather import WeatherScores, latitude_weights
from weather_files import HOURS, LAT, LEVELS, seed_of, weatherbench_values, write_weatherbench

SCORES = TESTS / "fixtures" / "weather_scores"
TINY = ("trainer=cpu", "logger=csv", "model.hidden_channels=[4]", "model.kernel_size=3", "trainer.max_steps=2",
        "data.batch_size=2", "data.eval_batch_size=7", "data.num_workers=0", "callbacks.media=null")  # fmt: skip


def reference():
    spec = importlib.util.spec_from_file_location("make_reference", SCORES / "make_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fixture(), np.load(SCORES / "reference.npz")


@pytest.fixture(scope="module")
def weatherbench(tmp_path_factory) -> Path:
    return write_weatherbench(tmp_path_factory.mktemp("weather"))


# --- the scores ---------------------------------------------------------------------------------
def test_weather_scores_equal_the_weatherbench2_transcription():
    (lat, _, forecast, truth), ref = reference()
    assert str(ref["commit"]) == "021c0b33d9dd165d1e7aa476fcc985be855fbc7b"
    # on WeatherBench's grid the cell-area weights are cos φ normalised to mean 1
    cos = np.cos(np.deg2rad(lat))
    np.testing.assert_allclose(latitude_weights(lat), cos / cos.mean(), rtol=1e-12)
    np.testing.assert_allclose(latitude_weights(lat), ref["weights"], rtol=1e-12)
    metric = WeatherScores(num_frames=forecast.shape[1], latitudes=list(lat))
    for b in range(len(forecast)):  # one forecast at a time: the sums make the same mean
        metric.update(torch.from_numpy(forecast[b : b + 1]), torch.from_numpy(truth[b : b + 1]))
    out = metric.compute()
    per_frame, whole = out["wrmse"]
    np.testing.assert_allclose(per_frame.numpy(), np.sqrt(ref["mse"].mean(0)), rtol=1e-6)  # the variables' mean
    np.testing.assert_allclose(float(whole), np.sqrt(ref["mse"].mean()), rtol=1e-6)
    np.testing.assert_allclose(out["wmae"].numpy(), ref["mae"].mean(0), rtol=1e-6)
    # OpenSTL's unweighted scores (openstl/core/metrics.py:17-38, spatial_norm: a mean over every value)
    error = forecast.astype(np.float64) - truth
    np.testing.assert_allclose(out["openstl_mse"].numpy(), (error**2).mean(axis=(0, 2, 3, 4)), rtol=1e-6)
    np.testing.assert_allclose(float(out["openstl_rmse"][1]), np.sqrt((error**2).mean()), rtol=1e-6)
    np.testing.assert_allclose(out["openstl_mae"].numpy(), np.abs(error).mean(axis=(0, 2, 3, 4)), rtol=1e-6)
    # a grid stored north to south scores the same
    flipped = WeatherScores(num_frames=forecast.shape[1], latitudes=list(lat[::-1]))
    flipped.update(torch.from_numpy(forecast[..., ::-1, :].copy()), torch.from_numpy(truth[..., ::-1, :].copy()))
    single = WeatherScores(num_frames=forecast.shape[1], latitudes=list(lat))
    single.update(torch.from_numpy(forecast), torch.from_numpy(truth))
    torch.testing.assert_close(flipped.compute()["wmae"], single.compute()["wmae"])


def test_weather_scores_take_the_latitudes_from_the_data(weatherbench, tmp_path):
    cfg = compose("train", tmp_path, ["experiment=weatherbench_t2m", f"data.path={weatherbench}"])
    metrics = evaluation_settings(cfg, build_data(cfg))["metrics"]
    assert metrics["weather"]["latitudes"] == pytest.approx(list(LAT))


# --- the anomaly correlation (ACC) --------------------------------------------------------------
def wb2_acc(forecast: np.ndarray, truth: np.ndarray, climatology: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """WeatherBench 2's ACC (weatherbench2/metrics.py at 021c0b33, `ACC.compute_chunk` with
    `_spatial_average` and `get_lat_weights`) of one (lat, lon) field, transcribed in numpy."""
    phi = np.deg2rad(lat)
    bounds = np.concatenate([[-np.pi / 2], (phi[:-1] + phi[1:]) / 2, [np.pi / 2]])
    weights = np.sin(bounds[1:]) - np.sin(bounds[:-1])
    weights = np.broadcast_to((weights / weights.mean())[:, None], forecast.shape)

    def spatial_average(x):  # xarray's dataset.weighted(weights).mean(["latitude", "longitude"])
        return (x * weights).sum() / weights.sum()

    forecast_anom, truth_anom = forecast - climatology, truth - climatology
    return spatial_average(forecast_anom * truth_anom) / np.sqrt(
        spatial_average(forecast_anom**2) * spatial_average(truth_anom**2)
    )


def test_acc_equals_the_weatherbench2_transcription():
    from predrnn.data.climatology import Climatology, day_and_hour
    from predrnn.metrics.weather import AnomalyCorrelation

    rng = np.random.default_rng(26)
    lat = -78.75 + 22.5 * np.arange(8)  # an equiangular 8 x 16 grid, two variables
    b, k, c = 5, 3, 2
    # valid times: five forecasts of three 6-hourly lead times, across a year end and a leap day
    first = np.array(["2016-12-31T12", "2016-02-28T18", "2017-07-01T00", "2016-12-31T18", "2017-03-01T06"],
                     dtype="datetime64[s]")  # fmt: skip
    times = first[:, None] + np.arange(1, k + 1) * np.timedelta64(6, "h")
    day, hour = day_and_hour(times)
    pairs = sorted(set(zip(day.ravel().tolist(), hour.ravel().tolist())))
    means = (280 + rng.normal(0, 3, (len(pairs), c, 8, 16))).astype(np.float32)
    climatology = Climatology([p[0] for p in pairs], [p[1] for p in pairs], means)
    normal = np.stack([[means[pairs.index((d, h))] for d, h in zip(dd, hh)] for dd, hh in zip(day, hour)])
    truth = (normal + rng.normal(0, 2, normal.shape)).astype(np.float32)
    forecast = (0.6 * truth + 0.4 * normal + rng.normal(0, 1, normal.shape)).astype(np.float32)
    seconds = torch.from_numpy(times.astype(np.int64))
    metric = AnomalyCorrelation(num_frames=k, latitudes=list(lat), climatology=climatology)
    for i in range(0, b, 2):  # batches of two: the sums make the same mean
        pick = slice(i, i + 2)
        metric.update(torch.from_numpy(forecast[pick]), torch.from_numpy(truth[pick]), times=seconds[pick])
    acc = metric.compute()["acc"].numpy()
    # per forecast, lead time and variable; the mean over forecasts (WeatherBench 2 averages
    # compute_chunk over init times), then over the variables
    ref = np.array([[[wb2_acc(forecast[i, t, v].astype(np.float64), truth[i, t, v], normal[i, t, v], lat)
                      for v in range(c)] for t in range(k)] for i in range(b)])  # fmt: skip
    np.testing.assert_allclose(acc, ref.mean(axis=(0, 2)), rtol=1e-6)
    assert acc.min() > 0.5 and acc.max() < 1
    summary = summarise(metric.compute())
    assert summary["acc"] == pytest.approx(ref.mean(), rel=1e-6) and len(summary["acc_per_frame"]) == k
    # a perfect forecast scores 1; the climatology itself scores NaN (no anomaly: null)
    perfect = AnomalyCorrelation(num_frames=k, latitudes=list(lat), climatology=climatology)
    perfect.update(torch.from_numpy(truth), torch.from_numpy(truth), times=seconds)
    np.testing.assert_allclose(perfect.compute()["acc"].numpy(), 1.0, rtol=1e-9)
    with pytest.raises(ValueError, match="valid times"):
        perfect.update(torch.from_numpy(truth), torch.from_numpy(truth), times=seconds[:, :1])
    # through the metrics config as the module builds it: the times go to the metrics that take them
    from predrnn.data.normalization import Normalization
    from predrnn.errors import ConfigError
    from predrnn.metrics.collection import MetricSet

    config = {"acc": {"_target_": "predrnn.metrics.weather.AnomalyCorrelation", "latitudes": list(lat),
                      "climatology": climatology}}  # fmt: skip
    metrics = MetricSet(config, k, "test")
    norm = Normalization.identity(c)  # the ACC scores in data units: the map is not used
    metrics.update(torch.from_numpy(forecast), torch.from_numpy(truth), norm, seconds)
    assert metrics.compute()["acc_per_frame"] == pytest.approx(list(ref.mean(axis=(0, 2))), rel=1e-6)
    with pytest.raises(ConfigError, match="metrics.acc needs each frame's valid time"):
        metrics.update(torch.from_numpy(forecast), torch.from_numpy(truth), norm)


def test_climatology_fills_missing_days_from_the_nearest_held_day():
    from predrnn.data.climatology import Climatology

    values = np.arange(4, dtype=np.float32)[:, None, None, None] * np.ones((4, 1, 2, 3), np.float32)
    clim = Climatology(days=[1, 10, 365, 10], hours=[0, 0, 0, 6], values=values)
    when = np.array(["2015-01-05T00", "2015-01-06T00", "2015-07-19T00", "2016-12-31T00", "2016-12-31T06"],
                    dtype="datetime64[s]").astype(np.int64)  # fmt: skip
    got = clim.lookup(torch.from_numpy(when)[None])[0, :, 0, 0, 0].tolist()
    # day 5 -> day 1, day 6 -> day 10, day 200 -> day 365 (across the year's end), day 366 (a leap
    # year's 31 December) -> day 365 (tied with day 1: the day before), hour 6 -> its only day
    assert got == [0, 1, 2, 2, 3]
    assert clim.missing_hours(np.array(["2015-03-01T12"], dtype="datetime64[ns]")) == [12]
    with pytest.raises(ValueError, match="no hour 12:00"):
        clim.lookup(torch.tensor([[int(np.datetime64("2015-03-01T12", "s").astype(np.int64))]]))
    again = Climatology.from_state(clim.state())
    assert again.table.tolist() == clim.table.tolist() and torch.equal(again.values, clim.values)


def test_climatology_is_fitted_on_the_training_years_only(tmp_path):
    import xarray as xr

    def fitted(folder):
        cfg = compose("train", tmp_path, ["experiment=weatherbench_t2m", f"data.path={folder}"])
        return evaluation_settings(cfg, build_data(cfg))["metrics"]["acc"]["climatology"]

    folder = write_weatherbench(tmp_path / "wb", years=(2015, 2016, 2017))
    clim = fitted(folder)
    # one training year (2015) of 30 hours from 1 January: its values are the means
    train = weatherbench_values(np.datetime64("2015-01-01T00:00", "ns") + np.arange(HOURS) * np.timedelta64(1, "h"),
                                seed=seed_of(2015, "t2m"))  # fmt: skip
    held = [(1, h) for h in range(24)] + [(2, h) for h in range(6)]
    assert sorted(zip(clim.days.tolist(), clim.hours.tolist())) == held
    when = np.datetime64("2017-01-02T03:00", "s").astype(np.int64)
    np.testing.assert_array_equal(clim.lookup(torch.tensor([[when]]))[0, 0, 0].numpy(), train[27])

    def shift(year):  # the year's file with every value 10 K warmer
        path = folder / f"2m_temperature_{year}_5.625deg.nc"
        with xr.open_dataset(path) as ds:
            warmer = ds.load()
        warmer["t2m"] = warmer["t2m"] + np.float32(10)
        warmer.to_netcdf(path, encoding={"time": {"units": "hours since 1979-01-01", "dtype": "int64"}})

    shift(2017)  # a test year changed: the same climatology
    np.testing.assert_array_equal(fitted(folder).values.numpy(), clim.values.numpy())
    shift(2015)  # the training year changed: 10 K more
    np.testing.assert_allclose(fitted(folder).values.numpy(), clim.values.numpy() + 10, rtol=1e-6)
    # the ACC takes each frame's valid time: the evaluation batches carry them
    cfg = compose("train", tmp_path, ["experiment=weatherbench_t2m", f"data.path={folder}"])
    dm = build_data(cfg)
    assert not dm.times_in_batches
    evaluation_settings(cfg, dm)
    batch = dm.eval_dataset("test").__getitems__([0, 3])
    assert set(batch) == {"frames", "times"} and batch["frames"].shape == (2, 24, 1, 32, 64)
    want = np.stack([dm.window_times("test")[i] for i in (0, 3)]).astype("datetime64[s]").astype(np.int64)
    np.testing.assert_array_equal(batch["times"].numpy(), want)
    first = np.datetime64("2017-01-01T00:00", "s").astype(np.int64)  # the first test window: 1 January, hourly
    np.testing.assert_array_equal(batch["times"][0].numpy(), first + 3600 * np.arange(24))
    assert isinstance(dm.dataset("train").__getitems__([0]), torch.Tensor)  # training batches: frames only


def test_acc_refuses_scored_hours_the_training_years_lack(tmp_path, monkeypatch, capsys):
    folder = write_weatherbench(tmp_path / "wb", years=(2015,), hours=6)  # training: 00:00 to 05:00 only
    write_weatherbench(tmp_path / "wb", years=(2016, 2017))
    argv = ["predrnn-train", "experiment=weatherbench_t2m", f"data.path={folder}", *TINY, "data.input_length=2",
            "data.total_length=4"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 2 and len(err) == 1, err
    assert "the val split of" in err[0] and "has times at 06:00, an hour of day the training split" in err[0]
    assert "~metrics.acc" in err[0] and not list(tmp_path.glob("logs/*/runs/*"))  # no run folder left
    # without the ACC, no climatology is needed
    cfg = compose("train", tmp_path, [*argv[1:], "~metrics.acc"])
    assert "acc" not in evaluation_settings(cfg, build_data(cfg))["metrics"]


# --- the protocol -----------------------------------------------------------------------------
def test_weatherbench_windows_follow_openstl_years(weatherbench, tmp_path):
    cfg = compose("train", tmp_path, ["experiment=weatherbench_t2m", f"data.path={weatherbench}"])
    dm = build_data(cfg)
    # 30 hours a year: 30 − 24 + 1 = 7 windows of 24 hours in each year read; 2009 is before
    # OpenSTL's first training year; train 2015, val 2016, test 2017 and 2018
    windows = {s: len(dm.windows(s)) for s in ("train", "val", "test")}
    assert windows == {"train": 7, "val": 7, "test": 14}
    summary = dm.data_summary()
    assert summary["train"]["first_time"] == "2015-01-01T00:00:00"
    assert summary["train"]["last_time"] < "2016" <= summary["val"]["first_time"] < summary["val"]["last_time"] < "2017"
    assert summary["test"]["first_time"] == "2017-01-01T00:00:00" and summary["test"]["last_time"] < "2019"
    # standard normalisation of the training year's values, as OpenSTL's mean / std
    train = weatherbench_values(np.datetime64("2015-01-01T00:00", "ns") + np.arange(HOURS) * np.timedelta64(1, "h"),
                                seed=seed_of(2015, "t2m")).astype(np.float64)  # fmt: skip
    norm = dm.normalization.as_dict()
    assert norm["kind"] == "standard"
    assert norm["shift"] == [pytest.approx(train.mean(), rel=1e-6)]
    assert norm["scale"] == [pytest.approx(train.std(), rel=1e-5)]
    first = dm.dataset("test")[0].numpy()
    assert first.shape == (24, 1, 32, 64)


def test_relative_humidity_reads_the_1000_hpa_level(tmp_path):
    folder = write_weatherbench(tmp_path, "relative_humidity", "r", "%", levels=True, years=(2015, 2016, 2017))
    cfg = compose("train", tmp_path, ["experiment=weatherbench_r", f"data.path={folder}"])
    dm = build_data(cfg)
    times = np.datetime64("2017-01-01T00:00", "ns") + np.arange(24) * np.timedelta64(1, "h")
    want = weatherbench_values(times, seed=seed_of(2017, "r")) + np.float32(LEVELS[-1] / 1000)
    np.testing.assert_array_equal(dm.dataset("test")[0].numpy()[:, 0], want)


# --- the runs ---------------------------------------------------------------------------------
def test_weatherbench_trains_evaluates_and_predicts(weatherbench, tmp_path, monkeypatch, capsys):
    argv = ["predrnn-train", "experiment=weatherbench_t2m_predrnn", f"data.path={weatherbench}", *TINY]
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {s: v["windows"] for s, v in summary["data_summary"].items()} == {"train": 7, "val": 7, "test": 14}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["wrmse_per_frame"]) == 12 and np.isfinite(metrics["wrmse"]) and np.isfinite(metrics["wmae"])
    assert metrics["num_sequences"] == 14
    # the ACC against the training year's climatology, per lead time (docs/metrics.md, "Weather scores")
    assert len(metrics["acc_per_frame"]) == 12 and -1 <= metrics["acc"] <= 1
    assert metrics["acc"] == pytest.approx(np.mean(metrics["acc_per_frame"]))
    # predrnn-eval with the overrides the data module gives scores the same windows the same; in
    # its folder the training year is 10 K warmer: the ACC's climatology comes from the checkpoint
    import xarray as xr

    cfg = compose("train", tmp_path, ["experiment=weatherbench_t2m_predrnn", f"data.path={weatherbench}"])
    eval_args = data_arguments(build_data(cfg).command_overrides()[0])
    later = tmp_path / "later"
    later.mkdir()
    for year in (2016, 2017, 2018):
        name = f"2m_temperature_{year}_5.625deg.nc"
        (later / name).write_bytes((weatherbench / name).read_bytes())
    with xr.open_dataset(weatherbench / "2m_temperature_2015_5.625deg.nc") as ds:
        warmer = ds.load()
    warmer["t2m"] = warmer["t2m"] + np.float32(10)
    warmer.to_netcdf(later / "2m_temperature_2015_5.625deg.nc")
    eval_args = [a if not a.startswith("data.path=") else f"data.path={later}" for a in shlex.split(eval_args)]
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    argv = ["predrnn-eval", f"ckpt_path={ckpt}", *eval_args, "metrics=weather", "trainer=cpu",
            "logger=csv", "num_media=0", "data.num_workers=0"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (eval_dir,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    scored = json.loads((eval_dir / "metrics.json").read_text())
    assert scored["num_sequences"] == 14 and scored["wrmse"] == pytest.approx(metrics["wrmse"], rel=1e-4)
    assert scored["acc_per_frame"] == pytest.approx(metrics["acc_per_frame"], rel=1e-4)
    # predrnn-predict from the last 12 hours of a later year's file
    recent = write_weatherbench(tmp_path / "recent", years=(2019,), hours=12)
    out = tmp_path / "forecast.nc"
    argv = ["predrnn-predict", f"ckpt_path={ckpt}", f"input={recent / '2m_temperature_2019_5.625deg.nc'}",
            f"output={out}", "num_predictions=12"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    with xr.open_dataset(out) as ds:
        assert ds["t2m"].shape == (1, 12, 32, 64) and ds["t2m"].attrs["units"] == "K"
        np.testing.assert_allclose(ds["lat"].values, LAT)


# the presets: OpenSTL's network settings per set (configs/<set>/<Method>.py at c74deb5)
PRESETS = {
    "weatherbench_t2m": (12, 24, None, None), "weatherbench_t2m_predrnn": (12, 24, "PredRNN", 5e-4),
    "weatherbench_t2m_predrnn_v2": (12, 24, "PredRNNV2", 5e-4), "weatherbench_r_predrnn": (12, 24, "PredRNN", 1e-3),
    "weatherbench_r_predrnn_v2": (12, 24, "PredRNNV2", 1e-3), "weatherbench_tcc_predrnn": (12, 24, "PredRNN", 5e-4),
    "weatherbench_tcc_predrnn_v2": (12, 24, "PredRNNV2", 1e-3),
    "weatherbench_t2m_1_40625_predrnn": (12, 24, "PredRNN", 1e-4),
    "weatherbench_t2m_1_40625_predrnn_v2": (12, 24, "PredRNNV2", 1e-4), "taxibj_predrnn": (4, 8, "PredRNN", 1e-4),
    "weatherbench_uv10_predrnn": (12, 24, "PredRNN", 5e-4), "weatherbench_uv10_predrnn_v2": (12, 24, "PredRNNV2", 5e-4),
    "taxibj_predrnn_v2": (4, 8, "PredRNNV2", 5e-4), "human36m_predrnn": (4, 8, "PredRNN", 1e-4),
    "human36m_predrnn_v2": (4, 8, "PredRNNV2", 1e-4),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_compose_with_openstls_settings(name, tmp_path):
    cfg = compose("train", tmp_path, [f"experiment={name}", "data.path=x"])
    observed, total, network, lr = PRESETS[name]
    assert (cfg.data.input_length, cfg.data.total_length, cfg.data.batch_size) == (observed, total, 16)
    assert cfg.module.loss == "mse" and cfg.optim.name == "adam"
    if network is not None:
        assert cfg.model._target_ == f"predrnn.models.{network}" and cfg.optim.lr == lr
        assert list(cfg.model.hidden_channels) == [128] * 4 and cfg.model.kernel_size == 5
        assert cfg.model.patch_size == (4 if name.startswith("human") else 2)
        v2 = network == "PredRNNV2"
        assert cfg.sampling._target_.endswith("ReverseScheduledSampling" if v2 else "LinearDecay")
        assert cfg.module.decouple_beta == (0.1 if v2 else 0.0)


def test_uv10_joins_two_folders_trains_evaluates_and_predicts(tmp_path, monkeypatch, capsys):
    """OpenSTL's uv10: u10 and v10 from their own folders, side by side as two channels."""
    import xarray as xr

    folders = [
        write_weatherbench(tmp_path / "wb", name, v, "m s**-1", years=(2015, 2016, 2017))
        for name, v in (("10m_u_component_of_wind", "u10"), ("10m_v_component_of_wind", "v10"))
    ]
    path = f"data.path=[{folders[0]},{folders[1]}]"
    cfg = compose("train", tmp_path, ["experiment=weatherbench_uv10", path])
    dm = build_data(cfg)
    assert {s: len(dm.windows(s)) for s in ("train", "val", "test")} == {"train": 7, "val": 7, "test": 7}
    assert dm.series.variables == ["u10", "v10"] and dm.channels == 2
    with xr.open_dataset(folders[1] / "10m_v_component_of_wind_2017_5.625deg.nc") as ds:
        np.testing.assert_array_equal(dm.dataset("test")[1].numpy()[:, 1], ds["v10"].values[1:25])
    argv = ["predrnn-train", "experiment=weatherbench_uv10_predrnn", path, *TINY]
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    eval_args = data_arguments(dm.command_overrides()[0])
    argv = ["predrnn-eval", f"ckpt_path={ckpt}", *shlex.split(eval_args), "metrics=weather", "trainer=cpu",
            "logger=csv", "num_media=0", "data.num_workers=0"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (eval_dir,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    assert json.loads((eval_dir / "metrics.json").read_text())["wmae"] == pytest.approx(metrics["wmae"], rel=1e-4)
    # predict from one file holding both variables
    with (
        xr.open_dataset(folders[0] / "10m_u_component_of_wind_2017_5.625deg.nc") as u,
        xr.open_dataset(folders[1] / "10m_v_component_of_wind_2017_5.625deg.nc") as v,
    ):
        xr.merge([u, v]).isel(time=slice(0, 12)).to_netcdf(tmp_path / "recent.nc")
    out = tmp_path / "forecast.nc"
    argv = ["predrnn-predict", f"ckpt_path={ckpt}", f"input={tmp_path / 'recent.nc'}", f"output={out}",
            "num_predictions=12"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    with xr.open_dataset(out) as ds:
        assert ds["u10"].shape == ds["v10"].shape == (1, 12, 32, 64)
