"""SEVIR (docs/benchmarks.md, "SEVIR"): a synthetic release in SEVIR's exact layout (CATALOG.csv
with the columns the reference loaders read; data/vil/YYYY/SEVIR_VIL_*.h5 with `vil` (N, 384, 384,
49) uint8) gives each protocol's windows per split (dates, strides, the missing-data rule, PreDiff's
validation draw); each experiment trains, evaluates and predicts on it; `metrics=sevir` equals a
direct numpy computation and Earthformer's reference values through the documented relations; a
missing or malformed release is one line naming where SEVIR is published."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import TESTS, run_main
from predrnn.command_line import data_arguments
from predrnn.data.sevir import SevirDataModule
from predrnn.errors import DataError
from predrnn.metrics.sevir import SevirScores

REFERENCE = TESTS / "fixtures" / "sevir_scores" / "reference.npz"
THRESHOLDS = (16, 74, 133, 160, 181, 219)
FILES = {
    "2018": "vil/2018/SEVIR_VIL_STORMEVENTS_2018_0101_1231.h5",
    "2019a": "vil/2019/SEVIR_VIL_STORMEVENTS_2019_0101_0630.h5",
    "2019b": "vil/2019/SEVIR_VIL_STORMEVENTS_2019_0701_1231.h5",
}
# (id, img_type, time_utc, file, index, pct_missing) and which split Earthformer's dates give it
EVENTS = [
    ("S1", "vil", "2018-06-01 12:00:00", "2018", 0, 0.0),  # train
    ("S2", "vil", "2018-12-31 23:00:00", "2018", 1, 0.0),  # train
    ("S3", "vil", "2019-01-01 00:00:00", "2019a", 0, 0.0),  # train: time_utc <= the val date
    ("S4", "vil", "2019-03-01 10:00:00", "2019a", 1, 0.25),  # dropped: missing data
    ("S5", "vil", "2019-04-01 10:00:00", "2019a", 2, 0.0),  # val
    ("S5", "ir069", "2019-04-01 10:00:00", "2019a", 2, 0.0),  # another image type: not read
    ("S6", "vil", "2019-06-01 00:00:00", "2019a", 3, 0.0),  # val: time_utc <= the test date
    ("S7", "vil", "2019-07-01 18:00:00", "2019b", 0, 0.0),  # test
    ("S8", "vil", "2019-08-01 18:00:00", "2019b", 1, 0.0),  # test
    ("S9", "vil", "2019-08-02 18:00:00", "2019b", 2, 0.0),  # dropped: listed twice
    ("S9", "vil", "2019-08-02 18:00:00", "2019b", 3, 0.0),
    ("R1", "ir069", "2018-07-01 00:00:00", "2018", 0, 0.0),  # no vil: not an event
]
HEADER = ("id,file_name,file_index,img_type,time_utc,minute_offsets,episode_id,event_id,event_type,llcrnrlat,"
          "llcrnrlon,urcrnrlat,urcrnrlon,proj,size_x,size_y,height_m,width_m,data_min,data_max,pct_missing")  # fmt: skip
OFFSETS = ":".join(str(5 * k - 120) for k in range(49))
TINY = ("trainer=cpu", "logger=csv", "model.hidden_channels=[4]", "model.kernel_size=3", "model.patch_size=16",
        "trainer.max_steps=2", "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1", "data.batch_size=1",
        "data.num_workers=0", "callbacks.media=null", "~metrics.lpips", "~metrics.ssim", "~metrics.ssim_official",
        "~metrics.psnr_official", "~metrics.ssim_openstl", "trainer.num_sanity_val_steps=0")  # fmt: skip


def event_frames(index: int) -> np.ndarray:
    """A storm cell crossing the frame: (384, 384, 49) uint8, SEVIR's NHWT without N."""
    y, x = np.mgrid[0:384, 0:384].astype(np.float32)
    t = np.arange(49, dtype=np.float32)
    cy, cx = 100 + 4 * t + 10 * index, 80 + 3 * t
    d2 = (y[..., None] - cy) ** 2 + (x[..., None] - cx) ** 2
    return np.clip(255 * np.exp(-d2 / (2 * 40.0**2)), 0, 255).astype(np.uint8)


def write_release(root: Path) -> dict[tuple[str, int], np.ndarray]:
    """CATALOG.csv and the HDF5 files; {(file, index): frames} of every row written."""
    import h5py

    rows, frames = [], {}
    for key, name in FILES.items():
        n = 1 + max(i for _, _, _, f, i, _ in EVENTS if f == key)
        (root / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(root / "data" / name, "w") as f:
            f["id"] = np.array([f"X{key}{i}".encode() for i in range(n)])
            vil = f.create_dataset("vil", (n, 384, 384, 49), np.uint8, chunks=(1, 384, 384, 49), compression="gzip",
                                   compression_opts=1)  # fmt: skip
            for i in range(n):
                frames[key, i] = vil[i] = event_frames(len(frames))
    for eid, kind, time, key, index, missing in EVENTS:
        rows.append(f"{eid},{FILES[key]},{index},{kind},{time},{OFFSETS},1,2,Hail,33.1,-98.2,36.4,-94.3,"
                    f"+proj=laea,384,384,384000.0,384000.0,0,254,{missing}")  # fmt: skip
    (root / "CATALOG.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    return frames


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("sevir")
    return root, write_release(root)


def module(root: Path, **settings) -> SevirDataModule:
    base = {"input_length": 13, "total_length": 25, "stride": 12, "batch_size": 1, "num_workers": 0,
            "split_dates": {"val": "2019-01-01", "test": "2019-06-01"}}  # fmt: skip
    return SevirDataModule(str(root), **{**base, **settings})


LR = {"input_length": 7, "total_length": 13, "stride": 6, "downsample": {"time": 2, "space": 3},
      "split_dates": {"val": None, "test": "2019-06-01"}, "val_ratio": 0.1}  # fmt: skip


def ids(dm: SevirDataModule, split: str) -> set[str]:
    return {str(dm.events.events.id.iloc[e]) for e, _ in dm.windows(split)}


def test_earthformer_windows_per_split(release):
    """Earthformer's rule: vil rows, pct_missing == 0, an id listed twice dropped, dates as
    start < time_utc <= end; 1 + (49 − 25) // 12 = 3 windows an event, at 0, 12, 24."""
    root, frames = release
    dm = module(root)
    assert {s: ids(dm, s) for s in ("train", "val", "test")} == {
        "train": {"S1", "S2", "S3"}, "val": {"S5", "S6"}, "test": {"S7", "S8"}}  # fmt: skip
    summary = dm.data_summary()
    assert {s: summary[s]["windows"] for s in summary} == {"train": 9, "val": 6, "test": 6}
    assert sorted({s for _, s in dm.windows("test")}) == [0, 12, 24]
    assert summary["train"]["last_time"] < summary["test"]["first_time"]  # no test time in train
    assert summary["test"]["time_step"] == "5min"
    assert summary["train"]["first_time"] == "2018-06-01T10:00:00"  # S1's first frame: time_utc − 120 min
    # a window is the HDF5 row's frames, (T, 1, H, W) VIL
    event, start = dm.windows("val")[4]
    row = dm.events.events.iloc[event]
    key = next(k for k, v in FILES.items() if v == row.file_name)
    want = np.moveaxis(frames[key, int(row.file_index)][:, :, start : start + 25], -1, 0)[:, None]
    np.testing.assert_array_equal(dm.dataset("val")[4].numpy(), want.astype(np.float32))


def test_prediff_windows_and_downsampling(release):
    """PreDiff's SEVIR-LR: every 2nd frame and 3 × 3 block maxima (128 × 128, 25 frames), 3 windows
    of 13 an event at stride 6, the 15 windows up to the test date split 14 / 1 by random_split."""
    root, frames = release
    dm = module(root, **LR)
    assert dm.image_size == (128, 128)
    summary = dm.data_summary()
    assert {s: summary[s]["windows"] for s in summary} == {"train": 14, "val": 1, "test": 6}
    assert ids(dm, "test") == {"S7", "S8"} and not (ids(dm, "train") | ids(dm, "val")) & ids(dm, "test")
    assert set(dm.windows("train")) | set(dm.windows("val")) == {(e, s) for e in range(5) for s in (0, 6, 12)}
    assert summary["val"]["time_step"] == "10min"
    event, start = dm.windows("test")[1]
    row = dm.events.events.iloc[event]
    key = next(k for k, v in FILES.items() if v == row.file_name)
    raw = np.moveaxis(frames[key, int(row.file_index)], -1, 0)[::2][start : start + 13]  # (13, 384, 384)
    want = np.max([raw[:, i::3, j::3] for i in range(3) for j in range(3)], axis=0)
    np.testing.assert_array_equal(dm.dataset("test")[1].numpy()[:, 0], want.astype(np.float32))


@pytest.mark.parametrize("experiment", ["sevir_lr", pytest.param("sevir", marks=pytest.mark.slow)])
def test_experiment_trains_evaluates_predicts(experiment, release, tmp_path, monkeypatch, capsys):
    root, _ = release
    code, err = run_main(["predrnn-train", f"experiment={experiment}", f"data.path={root}", *TINY, "test=false"],
                         tmp_path, monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    windows = {"sevir_lr": {"train": 14, "val": 1, "test": 6}, "sevir": {"train": 9, "val": 6, "test": 6}}[experiment]
    assert {s: v["windows"] for s, v in summary["data_summary"].items()} == windows
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    dm = module(root, **(LR if experiment == "sevir_lr" else {}))
    data = shlex.split(data_arguments(dm.command_overrides()[0]))  # what the run summary's eval command gives
    code, err = run_main(["predrnn-eval", f"ckpt_path={ckpt}", *data, "metrics=sevir", "logger=csv", "num_media=0",
                          "+trainer.limit_test_batches=1", "data.num_workers=0", "~metrics.lpips", "baselines=[]"], tmp_path,
                         monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    (eval_dir,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    test = metrics.get("test", metrics)
    text = json.dumps(test)
    for name in ("csi_16", "pod_219", "sucr_74", "bias_133", "csi_m", "pod_m", "sucr_m", "bias_m", "csi_181_pool4",
                 "csi_160_pool16", "csi_m_pool4", "csi_m_pool16"):  # fmt: skip
        assert f'"{name}"' in text, name
    observed = dm.dataset("test").__getitems__([0])[:, : dm.input_length, 0].numpy()  # (1, J, H, W) VIL
    np.save(tmp_path / "observed.npy", observed)
    code, err = run_main(["predrnn-predict", f"ckpt_path={ckpt}", "input=observed.npy", "data.layout=NTHW",
                          "output=pred.npy"], tmp_path, monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    pred = np.load(tmp_path / "pred.npy")
    assert pred.shape[0] == 1 and pred.shape[2:] == observed.shape[2:] and np.isfinite(pred).all()


# --- metrics=sevir -------------------------------------------------------------------------------
def counts_numpy(pred: np.ndarray, target: np.ndarray, t: float, axes) -> tuple[np.ndarray, ...]:
    o, f = target >= t, pred >= t
    return (o & f).sum(axes), (o & ~f).sum(axes), (~o & f).sum(axes)


def block_max(x: np.ndarray, p: int) -> np.ndarray:
    h, w = (s // p * p for s in x.shape[-2:])
    x = x[..., :h, :w]
    return x.reshape(*x.shape[:-2], h // p, p, w // p, p).max(axis=(-3, -1))


def scores_of(pred: np.ndarray, target: np.ndarray) -> dict:
    metric = SevirScores(num_frames=pred.shape[1])
    metric.update(torch.from_numpy(pred), torch.from_numpy(target))
    return {k: (v[0].numpy(), float(v[1])) for k, v in metric.compute().items()}


def test_scores_equal_numpy_and_earthformer():
    """The true definitions from numpy counts; Earthformer's values (reference.npz, both its
    swapped first release and the fixed code) follow from them as docs/metrics.md says."""
    ref = np.load(REFERENCE)
    pred, target = ref["pred"], ref["target"]
    got = scores_of(pred, target)
    assert len(got) == 4 * 7 + 2 * 7
    for t in THRESHOLDS:
        for axes, pick in (((0, 2, 3, 4), 0), ((0, 1, 2, 3, 4), 1)):
            h, m, f = (c.astype(np.float64) for c in counts_numpy(pred, target, t, axes))
            want = {"csi": h / (h + m + f), "pod": h / (h + m), "sucr": h / (h + f), "bias": (h + f) / (h + m)}
            for score, value in want.items():
                np.testing.assert_allclose(got[f"{score}_{t}"][pick], value, rtol=1e-12)
        for p in (4, 16):
            h, m, f = (c.astype(np.float64) for c in counts_numpy(block_max(pred, p), block_max(target, p), t,
                                                                    (0, 1, 2, 3, 4)))  # fmt: skip
            np.testing.assert_allclose(got[f"csi_{t}_pool{p}"][1], h / (h + m + f), rtol=1e-12)
    for score in ("csi", "pod", "sucr", "bias"):
        np.testing.assert_allclose(got[f"{score}_m"][1], np.mean([got[f"{score}_{t}"][1] for t in THRESHOLDS]))
    # Earthformer (eps = 1e-4 in each denominator: equal to ~1e-7 here)
    for tag, key in (("overall", 1), ("per_frame", 0)):
        ours = {s: np.array([got[f"{s}_{t}"][key] for t in THRESHOLDS]) for s in ("csi", "pod", "sucr", "bias")}
        ln2 = np.log(2.0)
        np.testing.assert_allclose(ref[f"fixed_{tag}_csi"], ours["csi"], rtol=1e-6)
        np.testing.assert_allclose(ref[f"fixed_{tag}_pod"], ours["pod"], rtol=1e-6)
        np.testing.assert_allclose(ref[f"fixed_{tag}_sucr"], ours["sucr"], rtol=1e-6)
        np.testing.assert_allclose(ref[f"fixed_{tag}_bias"], (ours["bias"] / ln2) ** 2, rtol=1e-6)
        np.testing.assert_allclose(ref[f"swapped_{tag}_csi"], ours["csi"], rtol=1e-6)
        np.testing.assert_allclose(ref[f"swapped_{tag}_pod"], ours["sucr"], rtol=1e-6)  # its POD is our SUCR
        np.testing.assert_allclose(ref[f"swapped_{tag}_sucr"], ours["pod"], rtol=1e-6)  # its SUCR is our POD
        np.testing.assert_allclose(ref[f"swapped_{tag}_bias"], (1 / ours["bias"] / ln2) ** 2, rtol=1e-6)
    assert not np.allclose(ours["pod"], ours["sucr"])  # the swap shows on this fixture


def test_scores_leave_nan_out_and_sum_over_batches():
    rng = np.random.default_rng(3)
    target = rng.integers(0, 256, (4, 2, 1, 16, 16)).astype(np.float32)
    pred = np.clip(target + rng.normal(0, 50, target.shape), 0, 255).astype(np.float32)
    holed = target.copy()
    holed[:, :, :, :4] = np.nan
    whole = scores_of(pred, holed)
    cut = scores_of(pred[..., 4:, :], target[..., 4:, :])
    for name in ("csi_74", "pod_133", "bias_16", "csi_m"):
        np.testing.assert_allclose(whole[name][1], cut[name][1])
    metric = SevirScores(num_frames=2)
    for b in range(4):
        metric.update(torch.from_numpy(pred[b : b + 1]), torch.from_numpy(target[b : b + 1]))
    np.testing.assert_allclose(float(metric.compute()["csi_m_pool4"][1]), scores_of(pred, target)["csi_m_pool4"][1])
    assert SevirScores.masks_nan and all(metric._reductions[s] is not None for s in ("hits", "misses", "false_alarms"))


# --- bad releases: one line naming s3://sevir ----------------------------------------------------------
@pytest.mark.parametrize(
    "damage, message",
    [
        ("no_catalog", "has no CATALOG.csv"),
        ("columns", "lacks the column(s) pct_missing"),
        ("time", "row 2 has time_utc='yesterday', not a time"),
        ("no_file", "CATALOG.csv names data/vil/2019/SEVIR_VIL_STORMEVENTS_2019_0701_1231.h5, which is missing"),
        ("shape", "not uint8 (N, 384, 384, 49)"),
    ],
)
def test_bad_release_is_one_line(damage, message, tmp_path, monkeypatch, capsys):
    import h5py

    root = tmp_path / "sevir"
    (root / "data" / "vil" / "2019").mkdir(parents=True)
    good = "\n".join([HEADER, f"S7,{FILES['2019b']},0,vil,2019-07-01 18:00:00,{OFFSETS},1,2,Hail,0,0,0,0,p,384,384,"
                              "0,0,0,254,0.0"])  # fmt: skip
    if damage != "no_catalog":
        text = {"columns": good.replace(",pct_missing", "").replace(",0.0", ""), "time": good.replace(
            "2019-07-01 18:00:00", "yesterday")}.get(damage, good)  # fmt: skip
        (root / "CATALOG.csv").write_text(text + "\n")
    if damage == "shape":
        with h5py.File(root / "data" / FILES["2019b"], "w") as f:
            f["vil"] = np.zeros((1, 48, 48, 49), np.uint8)
    with pytest.raises(DataError, match="s3://sevir") as info:
        module(root)
    assert message in str(info.value) and "\n" not in str(info.value)
    code, err = run_main(["predrnn-train", "experiment=sevir", f"data.path={root}", *TINY], tmp_path, monkeypatch,
                         capsys)  # fmt: skip
    assert code == 2 and len(err) == 1 and message in err[0] and "s3://sevir" in err[0], err
