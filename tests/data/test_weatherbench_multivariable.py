"""OpenSTL's multi-variable WeatherBench protocol (docs/benchmarks.md, "WeatherBench,
multi-variable") and the per-network presets (conf/experiment/<set>_<model>.yaml): r, t, u and v
at 150, 500 and 850 hPa from four folders of yearly files as WeatherBench v1 ships them
(tests/weather_files.py), thinned to 6 hours, give OpenSTL's years per split and every window of
consecutive 6-hour times inside a split; the experiments train, evaluate and predict on them."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, compose, run_main
from predrnn.build import build_data
from predrnn.command_line import data_arguments
from weather_files import seed_of, weatherbench_values, write_weatherbench

CONF = ROOT / "conf"
FOLDERS = (("relative_humidity", "r", "%"), ("temperature", "t", "K"), ("u_component_of_wind", "u", "m s**-1"),
           ("v_component_of_wind", "v", "m s**-1"))  # fmt: skip
TINY = ("trainer=cpu", "logger=csv", "model.hidden_channels=[4]", "model.kernel_size=3", "trainer.max_steps=2",
        "data.batch_size=2", "data.eval_batch_size=7", "data.num_workers=0", "callbacks.media=null")  # fmt: skip


def write_mv(root: Path, years, hours: int) -> list[Path]:
    """The four folders of OpenSTL's 'mv' set, hourly (time, level, lat, lon) float32 files."""
    return [
        write_weatherbench(root, folder, v, units, levels=True, years=years, hours=hours)
        for folder, v, units in FOLDERS
    ]


def path_of(folders) -> str:
    return f"data.path=[{','.join(str(f) for f in folders)}]"


@pytest.fixture(scope="module")
def mv(tmp_path_factory) -> list[Path]:
    # 1978: before OpenSTL's first training year; 55 hours a year: 00 … 54 h, 10 times 6 h apart
    return write_mv(tmp_path_factory.mktemp("mv"), years=(1978, 2015, 2016, 2017), hours=55)


# --- the protocol -----------------------------------------------------------------------------
def test_mv_4_4_windows_levels_and_6_hour_step(mv, tmp_path):
    cfg = compose("train", tmp_path, ["experiment=weatherbench_mv_4_4_s6", path_of(mv)])
    dm = build_data(cfg)
    # 10 six-hourly times a year: 10 − 8 + 1 = 3 windows of 8 in each year read; train 2015 (1978
    # is before 1979), val 2016, test 2017
    assert {s: len(dm.windows(s)) for s in ("train", "val", "test")} == {"train": 3, "val": 3, "test": 3}
    names = [f"{v}{level}" for _, v, _ in FOLDERS for level in (150, 500, 850)]
    assert dm.series.variables == names and dm.channels == 12
    summary = dm.data_summary()
    assert summary["train"]["first_time"] == "2015-01-01T00:00:00" and summary["test"]["time_step"] == "6h"
    # the second test window: hours 6, 12, … 48 of 2017 in the data's units, each level its own channel
    first = dm.dataset("test")[1].numpy()
    assert first.shape == (8, 12, 32, 64)
    hours = np.arange(55) * np.timedelta64(1, "h")
    for c, (v, level) in enumerate([(v, level) for _, v, _ in FOLDERS for level in (150, 500, 850)]):
        want = weatherbench_values(np.datetime64("2017-01-01T00:00", "ns") + hours, seed=seed_of(2017, v))
        np.testing.assert_array_equal(first[:, c], want[6:49:6] + np.float32(level / 1000))
    # standard normalisation per channel, fitted on the training year's 6-hourly values (t500)
    train = weatherbench_values(np.datetime64("2015-01-01T00:00", "ns") + hours, seed=seed_of(2015, "t"))[::6]
    train = train.astype(np.float64) + np.float32(0.5)
    norm = dm.normalization.as_dict()
    assert norm["kind"] == "standard" and len(norm["shift"]) == 12
    assert norm["shift"][4] == pytest.approx(train.mean(), rel=1e-6)
    assert norm["scale"][4] == pytest.approx(train.std(), rel=1e-4)


def test_mv_4_28_takes_32_six_hour_frames(tmp_path):
    # 193 hours: 00 … 192 h, 33 times 6 h apart, 2 windows of 32 a year
    folders = write_mv(tmp_path / "wb", years=(2015, 2016, 2017), hours=193)
    cfg = compose("train", tmp_path, ["experiment=weatherbench_mv_4_28_s6", path_of(folders)])
    assert (cfg.data.input_length, cfg.data.total_length) == (4, 32)
    dm = build_data(cfg)
    assert {s: len(dm.windows(s)) for s in ("train", "val", "test")} == {"train": 2, "val": 2, "test": 2}


def test_a_list_of_levels_must_be_values_the_data_holds(mv, tmp_path):
    from predrnn.errors import DataError

    cfg = compose(
        "train", tmp_path, ["experiment=weatherbench_mv_4_4_s6", path_of(mv), "data.select.level=[150,500,875]"]
    )
    with pytest.raises(DataError, match=r"data.select.level=875 is not a value of level"):
        build_data(cfg)


# --- the runs ---------------------------------------------------------------------------------
def test_mv_4_4_trains_evaluates_and_predicts(mv, tmp_path, monkeypatch, capsys):
    import xarray as xr

    argv = ["predrnn-train", "experiment=weatherbench_mv_4_4_s6_predrnn", path_of(mv), *TINY]
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert {s: v["windows"] for s, v in summary["data_summary"].items()} == {"train": 3, "val": 3, "test": 3}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["wrmse_per_frame"]) == 4 and np.isfinite(metrics["wrmse"]) and metrics["num_sequences"] == 3
    cfg = compose("train", tmp_path, ["experiment=weatherbench_mv_4_4_s6_predrnn", path_of(mv)])
    eval_args, predict_args = map(data_arguments, build_data(cfg).command_overrides())
    assert "data.time_step=6h" in predict_args and "data.variables=[r,t,u,v]" in predict_args
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    argv = ["predrnn-eval", f"ckpt_path={ckpt}", *shlex.split(eval_args), "metrics=weather", "trainer=cpu",
            "logger=csv", "num_media=0", "data.num_workers=0"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (eval_dir,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    assert json.loads((eval_dir / "metrics.json").read_text())["wrmse"] == pytest.approx(metrics["wrmse"], rel=1e-4)
    # predict from one hourly file holding the four variables at every level: the checkpoint's
    # levels and the 6-hour step the data module names pick the same channels and times
    parts = [xr.open_dataset(f / f"{f.name}_2017_5.625deg.nc") for f in mv]
    try:
        xr.merge(parts).isel(time=slice(0, 19)).to_netcdf(tmp_path / "recent.nc")
    finally:
        for p in parts:
            p.close()
    out = tmp_path / "forecast.nc"
    argv = ["predrnn-predict", f"ckpt_path={ckpt}", f"input={tmp_path / 'recent.nc'}", f"output={out}",
            "num_predictions=4", *shlex.split(predict_args)]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    with xr.open_dataset(out) as ds:
        assert ds["t500"].shape == ds["v850"].shape == (1, 4, 32, 64) and ds["t500"].attrs["units"] == "K"


@pytest.mark.parametrize("name", ["taxibj_mau", pytest.param("human36m_e3dlstm", marks=pytest.mark.slow)])
def test_a_new_preset_trains(name, tmp_path, monkeypatch, capsys):
    """One tiny run of a new preset on its synthetic release."""
    from weather_files import write_human36m, write_taxibj

    path = write_taxibj(tmp_path / "taxibj" / "dataset.npz") if name.startswith("taxibj") else write_human36m(tmp_path)
    tiny = [t for t in TINY if not t.startswith("model.")] + ["model.hidden_channels=[4]"]
    argv = ["predrnn-train", f"experiment={name}", f"data.path={path}", *tiny, "data.eval_batch_size=2"]
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
