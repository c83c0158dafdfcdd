"""`data=arrays`: the same clips in every format give the same batches; windows, strides and
splits are deterministic and disjoint; DDP shards see each window once; the normalisation
travels in the checkpoint and predictions come back in the data's units; readers are lazy."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
import torch

from data_files import write_formats
from helpers import ROOT, run_main
from predrnn.data.arrays_datamodule import ArraysDataModule
from predrnn.data.moving_mnist import MovingMNIST
from predrnn.data.normalization import Normalization
from predrnn.data.sources import open_clips
from predrnn.data.windows import WindowBatchSampler, make_windows, split_clips

WINDOWS = {"input_length": 5, "total_length": 10, "stride": 4, "num_workers": 0, "batch_size": 2, "split_seed": 1,
           "val_fraction": 0.2, "test_fraction": 0.2}  # fmt: skip


@pytest.fixture(scope="module")
def clips(digits) -> np.ndarray:
    """Six real Moving MNIST clips, uint8 (N, T, H, W) = (6, 24, 32, 32). Pixel (0, 0) counts the
    frames: GIF writers merge identical consecutive frames, and a bouncing digit can repeat one."""
    frames = MovingMNIST(digits["test"], total_length=24, image_size=32, num_digits=1).generate(6, 3)[:, :, 0].numpy()
    frames[:, :, 0, 0] = np.arange(24) * 10
    return frames


@pytest.fixture(scope="module")
def formats(clips, tmp_path_factory) -> dict[str, dict]:
    return write_formats(tmp_path_factory.mktemp("formats"), clips)


def all_windows(dm: ArraysDataModule) -> dict[str, torch.Tensor]:
    return {s: dm.dataset(s).__getitems__(list(range(len(dm.dataset(s))))) for s in ("train", "val", "test")}


@pytest.mark.parametrize("name", ["npy_tnhw", "npz", "hdf5", "zarr", "zarr_zip", "gif", "png_tree", "mp4"])
def test_every_format_gives_the_same_batches(name, formats):
    reference = ArraysDataModule(**formats["npy"], **WINDOWS)
    dm = ArraysDataModule(**formats[name], **WINDOWS)
    assert (dm.channels, dm.image_size, dm.uint8) == (1, (32, 32), True)
    want, got = all_windows(reference), all_windows(dm)
    for split in want:
        assert got[split].shape == want[split].shape and got[split].dtype == torch.uint8
        diff = (got[split].int() - want[split].int()).abs()
        if name == "mp4":  # lossy: H.264 moves a few grey levels
            assert diff.float().mean() < 2 and diff.float().quantile(0.99) < 16
        else:
            assert diff.max() == 0, f"{name} {split}"
    first = next(iter(dm.train_dataloader()))
    ref_first = next(iter(reference.train_dataloader()))
    assert first.shape == (2, 10, 1, 32, 32)
    assert name == "mp4" or torch.equal(first, ref_first)


def test_windows_strides_and_splits_are_deterministic_and_disjoint(formats, clips):
    found = open_clips(formats["png_tree"]["path"])
    assert [c.name.rsplit("/", 1)[1] for c in found] == [f"person{i:02d}_boxing_d1" for i in range(1, 7)]
    a = split_clips(found, 0.2, 0.2, seed=5)
    b = split_clips(found, 0.2, 0.2, seed=5)
    assert {k: [c.name for c in v] for k, v in a.items()} == {k: [c.name for c in v] for k, v in b.items()}
    names = [set(c.name for c in a[s]) for s in ("train", "val", "test")]
    assert sum(len(n) for n in names) == 6 and not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    # a clip of 24 frames, windows of 10 every 4 frames: starts 0, 4, 8, 12; a 9-frame clip is skipped
    windows, skipped = make_windows([found[0], found[1].part(0, 9, "short")], 10, 4)
    assert windows == [(0, 0), (0, 4), (0, 8), (0, 12)] and skipped == 1
    # one long clip is split along time, the future held out: train, then val, then test
    (long,) = open_clips(formats["npy"]["path"], layout="NTHW")[:1]
    parts = split_clips([long], 0.25, 0.25, seed=0)
    assert [(p[0].offset, p[0].length) for p in (parts["train"], parts["val"], parts["test"])] == [
        (0, 12),
        (12, 6),
        (18, 6),
    ]
    np.testing.assert_array_equal(parts["test"][0].read(0, 6)[:, 0], clips[0, 18:24])


def test_ddp_ranks_see_each_window_once_per_epoch(formats):
    dm = ArraysDataModule(**{**formats["npy"], **WINDOWS, "stride": 1, "val_fraction": 0.2, "test_fraction": 0.2})
    size = len(dm.dataset("train"))
    assert size == 4 * 15  # 4 training clips × 15 windows (24 frames, windows of 10, stride 1)
    seen = {}
    for rank in (0, 1):
        dm.rank, dm.world_size = rank, 2
        loader = dm.train_dataloader()  # the loader each DDP rank builds (use_distributed_sampler=false)
        seen[rank] = [i for batch in loader.batch_sampler for i in batch]
    assert len(seen[0]) == len(seen[1]) == size // 2  # equal steps on both ranks: DDP never waits
    assert sorted(seen[0] + seen[1]) == list(range(size))  # every window once per epoch
    # the next epoch is another order; a resumed run (restored batch counter) draws the same batches
    sampler = WindowBatchSampler(size, 2, seed=0, start_fn=lambda: 7)
    again = WindowBatchSampler(size, 2, seed=0)
    again.set_epoch(0)
    stream = [b for b in again] + [b for b in (again.set_epoch(1) or again)]
    assert list(sampler) == stream[7 : 7 + len(sampler)]


def test_normalisation_round_trip_and_statistics(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal([100.0, -3.0, 0.5], [20.0, 0.1, 0.001], size=(5, 12, 8, 8, 3)).astype(np.float32)
    np.save(tmp_path / "d.npy", data)
    for kind in ("none", "minmax", "standard"):
        dm = ArraysDataModule(str(tmp_path / "d.npy"), layout="NTHWC", normalize=kind, total_length=6, input_length=3,
                              val_fraction=0.2, test_fraction=0.2, split_seed=0)  # fmt: skip
        norm = dm.normalization
        train = np.concatenate([c.read(0, c.length) for c in dm.splits["train"]])  # (T, C, H, W)
        if kind == "standard":
            np.testing.assert_allclose(norm.shift.flatten(), train.mean(axis=(0, 2, 3)), rtol=1e-5)
            np.testing.assert_allclose(norm.scale.flatten(), train.std(axis=(0, 2, 3)), rtol=1e-4)
        if kind == "minmax":
            np.testing.assert_allclose(norm.shift.flatten(), train.min(axis=(0, 2, 3)), rtol=1e-6)
        x = torch.from_numpy(data)
        encoded = norm.encode(x.permute(0, 1, 4, 2, 3))
        back = norm.decode(encoded).permute(0, 1, 3, 4, 2)
        assert (back - x).abs().max() <= 1e-5 * x.abs().max()
        rebuilt = Normalization(**norm.as_dict())  # how a checkpoint carries it
        assert torch.equal(rebuilt.shift, norm.shift) and torch.equal(rebuilt.scale, norm.scale)


def test_colour_float_data_trains_and_predicts_in_its_units(tmp_path, monkeypatch, capsys, digits):
    """C = 3 float data through predrnn-train, predrnn-eval and predrnn-predict (as docs/data.md shows)."""
    import h5py

    grey = MovingMNIST(digits["train"], total_length=12, image_size=32, num_digits=1).generate(10, 1)[:, :, 0].numpy()
    units = np.stack([grey * 0.5 + 280.0, 1000.0 - grey * 2.0, grey / 255.0 * 1e-3], axis=-1).astype(np.float32)
    with h5py.File(tmp_path / "weather.h5", "w") as f:
        f["fields"] = units  # (N, T, H, W, C)
    data = ["data=arrays", "data.path=weather.h5", "data.key=fields", "data.layout=NTHWC", "data.normalize=standard",
            "data.input_length=6", "data.total_length=12", "data.num_workers=0", "data.batch_size=2"]  # fmt: skip
    tiny = ["trainer=cpu", "logger=csv", "model.hidden_channels=[8]", "model.kernel_size=3", "trainer.max_steps=3"]
    code, err = run_main(["predrnn-train", *data, *tiny], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "min–max" in metrics["scale"] and metrics["baselines"]["zeros"]["mse"] > 0
    assert sorted(p.suffix for p in (run_dir / "media").iterdir()) == [".gif", ".png"]
    import imageio.v3 as iio

    assert iio.imread(next((run_dir / "media").glob("*.png"))).shape[-1] == 3  # colour strips for C = 3
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    np.save(tmp_path / "clips.npy", units[:2])
    code, err = run_main(["predrnn-predict", f"ckpt_path={ckpt}", "input=clips.npy", "data.layout=NTHWC",
                          "output=pred.npy", "num_predictions=9"], tmp_path, monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    pred = np.load(tmp_path / "pred.npy")
    assert pred.shape == (2, 9, 32, 32, 3) and pred.dtype == np.float32  # 9 > the 6 it was trained to predict
    # the same rollout by hand: encode with the checkpoint's statistics, run, decode
    from predrnn.checkpoints import open_checkpoint
    from predrnn.training.module import PredRNNModule

    module = open_checkpoint(ckpt, module_class=PredRNNModule).module
    norm = module.normalization
    x = norm.encode(torch.from_numpy(units[:2, 6:]).permute(0, 1, 4, 2, 3))
    with torch.no_grad():
        out = module.eval()(torch.cat([x, x.new_zeros(2, 9, *x.shape[2:])], 1))[:, 5:]
        want = norm.decode(out).permute(0, 1, 3, 4, 2).numpy()
    np.testing.assert_allclose(pred, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    # the exported rollout carries the normalisation: the same numbers from the same units
    code, err = run_main(["predrnn-export", f"ckpt_path={ckpt}", "format=torchscript", "output=m.pt",
                          "num_predictions=9"], tmp_path, monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    with torch.no_grad():
        exported = torch.jit.load(str(tmp_path / "m.pt"))(torch.from_numpy(units[:2, 6:]).permute(0, 1, 4, 2, 3))
    np.testing.assert_allclose(exported.permute(0, 1, 3, 4, 2).numpy(), pred, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert json.loads((tmp_path / "m.pt.json").read_text())["value_range"] == "the data's units"
    # in the data's units, channel by channel: near 280 K, near 1000, near 0
    assert 200 < pred[..., 0].mean() < 400 and 700 < pred[..., 1].mean() < 1300 and abs(pred[..., 2].mean()) < 0.01
    code, err = run_main(["predrnn-eval", f"ckpt_path={ckpt}", *data, "data.eval_total_length=12", "logger=csv",
                          "num_media=0"], tmp_path, monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    (eval_dir,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    assert json.loads((eval_dir / "metrics.json").read_text())["mse"] == pytest.approx(metrics["mse"], rel=1e-4)


def test_hdf5_and_zarr_readers_are_lazy(tmp_path):
    """Opening, fitting the statistics over the training split and a training epoch never hold
    more than a few blocks: peak traced allocations stay far below the file's size."""
    import h5py
    import zarr

    shape = (40, 40, 64, 64, 1)  # 40 clips × 40 frames, float32: 26 MB
    rng = np.random.default_rng(0)
    with h5py.File(tmp_path / "big.h5", "w") as f:
        dset = f.create_dataset("x", shape=shape, dtype="float32", chunks=(1, 10, 64, 64, 1))
        for n in range(shape[0]):
            dset[n] = rng.random(shape[1:], dtype=np.float32)
    z = zarr.open_array(str(tmp_path / "big.zarr"), mode="w", shape=shape, dtype="float32", chunks=(1, 10, 64, 64, 1))
    for n in range(shape[0]):
        z[n] = rng.random(shape[1:], dtype=np.float32)
    size = int(np.prod(shape)) * 4
    for path, key in (("big.h5", "x"), ("big.zarr", None)):
        tracemalloc.start()
        dm = ArraysDataModule(str(tmp_path / path), key=key, layout="NTHWC", total_length=20, input_length=10,
                              batch_size=4, num_workers=0)  # fmt: skip
        dm.check_sources()
        for batch in dm.train_dataloader():
            assert batch.shape == (4, 20, 1, 64, 64)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < size / 5, f"{path}: peak {peak / 1e6:.1f} MB of a {size / 1e6:.0f} MB file"


def test_documented_own_data_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """docs/data.md's worked example (a radar archive): its commands, in order, with only the step counts made tiny: a CF
    netCDF radar archive with gaps and no coverage, trained, swept, evaluated with the
    forecasters' scores and forecast to a CF file that sits on the archive's grid."""
    import re
    import runpy
    import shlex
    from pathlib import Path

    import pyproj
    import xarray as xr

    readme = (ROOT / "docs" / "data.md").read_text()  # its worked example
    block = re.search(
        r"<!-- tested by tests/data/test_arrays_datamodule.py -->\s*```bash\n(.*?)```", readme, re.S
    ).group(1)
    export = re.search(r"python - <<'EOF'\n(.*?)EOF\n", block, re.S).group(1)
    (tmp_path / "export.py").write_text(export)
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(tmp_path / "export.py"))
    data = re.search(r'^DATA="(.*)"$', block, re.M).group(1)
    tiny = ["trainer=cpu", "logger=csv", "data.num_workers=0", "trainer.limit_val_batches=1", "callbacks.media=null",
            "trainer.limit_test_batches=1"]  # fmt: skip
    for line in block.splitlines():
        if not line.startswith("predrnn-"):
            continue
        argv = shlex.split(line.replace("$DATA", data))
        argv = [re.sub(r"^trainer.max_steps=\d+$", "trainer.max_steps=2", a) for a in argv]
        if argv[0] == "predrnn-train":
            argv += tiny
        elif argv[0] == "predrnn-eval":
            argv += ["trainer.limit_test_batches=1", "num_media=0"]
        code, err = run_main(argv, tmp_path, monkeypatch, capsys)
        assert code == 0, (line, err)
    # what the first run used: five daily files, 5-minute step, windows that never cross the gap
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    used = json.loads((run_dir / "summary.json").read_text())["data_summary"]
    assert {s["time_step"] for s in used.values()} == {"5min"}
    assert sum(s["windows"] for s in used.values()) <= 58  # 1 180 scans, 20 a window, none across the gap
    assert 0.2 < used["train"]["masked_fraction"] < 0.3  # outside the radar's range
    assert (
        used["train"]["last_time"] < used["val"]["first_time"] <= used["val"]["last_time"] < used["test"]["first_time"]
    )
    # the forecast: CF, on the archive's grid and projection, NaN outside the range, in dBZ
    with xr.open_dataset(tmp_path / "forecast.nc") as forecast, xr.open_dataset(tmp_path / "recent.nc") as recent:
        dbz = forecast["dbz"]
        assert dbz.dims == ("forecast_reference_time", "forecast_period", "y", "x") and dbz.shape == (1, 15, 64, 64)
        assert dbz.attrs["units"] == "dBZ" and forecast["forecast_reference_time"].values[0] == recent.time.values[-1]
        assert (forecast["forecast_period"].values == np.arange(1, 16) * np.timedelta64(5, "m")).all()
        assert np.array_equal(forecast["lat"].values, recent["lat"].values)
        assert pyproj.CRS.from_cf(forecast["crs"].attrs) == pyproj.CRS.from_cf(recent["crs"].attrs)
        no_data = np.isnan(recent["dbz"].values[-1])
        assert np.isnan(dbz.values[0]).all(axis=0).tolist() == no_data.tolist()
        assert np.nanmin(dbz.values) >= 0 and np.nanmax(dbz.values) <= 60.01  # clip=true: the training range
    assert len(list((tmp_path / "logs" / "train" / "multiruns").rglob("metrics.json"))) == 2  # the sweep's two jobs
    # metrics=nowcast: event scores in dBZ for the model, persistence and extrapolation, by lead time
    (nowcast,) = [m for m in map(json.loads, map(Path.read_text, (tmp_path / "logs" / "eval").rglob("metrics.json")))
                  if "csi_35" in m]  # fmt: skip
    for name in ("csi_20", "csi_35", "csi_50", "pod_35", "far_35", "bias_35", "hss_35", "ets_35", "fss_35_s8"):
        assert f"{name}_per_frame" in nowcast and len(nowcast[f"{name}_per_frame"]) == 10, name
    assert nowcast["lead_times_minutes"] == [5 * k for k in range(1, 11)]
    assert set(nowcast["baselines"]) == {"zeros", "copy_last", "extrapolation"}
    assert "csi_35" in nowcast["baselines"]["extrapolation"]
    (plain,) = [m for m in map(json.loads, map(Path.read_text, (tmp_path / "logs" / "eval").rglob("metrics.json")))
                if "csi_35" not in m]  # fmt: skip
    assert "ssim" in plain["not_scored"] and "ssim" not in {k for k in plain if not k.startswith("not_")}


def test_kth_experiment_trains_on_a_tree_in_kths_layout(tmp_path, monkeypatch, capsys, digits):
    """experiment=kth on generated person/action/scenario folders of colour PNGs: grey frames,
    persons 17-25 as the test split, 10 -> 20 frames at test."""
    import imageio.v3 as iio

    from helpers import compose

    cfg = compose("train", tmp_path, ["experiment=kth", "data.path=kth"])
    assert (cfg.data.image_size, cfg.data.eval_total_length, cfg.model.patch_size) == (128, 30, 4)
    assert cfg.model.hidden_channels == [128, 128, 128, 128] and cfg.data.grey
    frames = MovingMNIST(digits["train"], total_length=32, image_size=32, num_digits=1).generate(6, 2).numpy()
    for i, person in enumerate((1, 2, 3, 4, 17, 18)):
        clip = tmp_path / "kth" / f"person{person:02d}_boxing_d1"
        clip.mkdir(parents=True)
        for t in range(32):
            iio.imwrite(clip / f"{t + 1:05d}.png", np.repeat(frames[i, t, 0, :, :, None], 3, -1))  # RGB files
    argv = ["predrnn-train", "experiment=kth", "data.path=kth", "data.image_size=32", "model.hidden_channels=[8]",
            "model.kernel_size=3", "trainer.max_steps=2", "trainer=cpu", "logger=csv", "data.num_workers=0",
            "callbacks.media=null", "data.batch_size=2"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["mse_per_frame"]) == 20  # 10 observed -> 20 predicted at test
    assert metrics["num_sequences"] == 2  # persons 17 and 18, one 30-frame window each
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [c.rsplit("/", 1)[1] for c in summary["reproduce"]["test_set"]["clips"]] == [
        "person17_boxing_d1",
        "person18_boxing_d1",
    ]
