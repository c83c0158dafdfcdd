"""TaxiBJ and Human3.6M under OpenSTL's protocols (docs/benchmarks.md): the files in OpenSTL's
layout (tests/weather_files.py) give its samples, its test set and its rescaling; each
experiment trains, evaluates and predicts on them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import compose, eval_score, run_main
from predrnn.build import build_data
from predrnn.command_line import data_arguments
from weather_files import write_human36m, write_taxibj

TINY = ("trainer=cpu", "logger=csv", "model.hidden_channels=[4]", "model.kernel_size=3", "trainer.max_steps=2",
        "data.batch_size=2", "data.num_workers=0", "callbacks.media=null")  # fmt: skip


@pytest.fixture(scope="module")
def taxibj(tmp_path_factory):
    return write_taxibj(tmp_path_factory.mktemp("taxibj") / "taxibj" / "dataset.npz")


def test_taxibj_samples_are_openstls(taxibj, tmp_path):
    cfg = compose("train", tmp_path, ["experiment=taxibj", f"data.path={taxibj}"])
    dm = build_data(cfg)
    # 12 training samples (5 % of them, rounded, validate), the 5 published test samples
    windows = {s: len(dm.windows(s)) for s in ("train", "val", "test")}
    assert windows["test"] == 5 and windows["train"] + windows["val"] == 12 and windows["val"] >= 1
    with np.load(taxibj) as archive:
        x, y = archive["X_test"], archive["Y_test"]
    clip = dm.dataset("test")[0]
    frames = clip["frames"] if isinstance(clip, dict) else clip
    want = ((np.concatenate([x[0], y[0]]) + 1) / 2).astype(np.float32)  # OpenSTL's (x + 1) / 2
    np.testing.assert_array_equal(np.asarray(frames, np.float32), want)
    assert dm.normalization.as_dict()["low"] == [0.0, 0.0] and dm.normalization.as_dict()["high"] == [1.0, 1.0]


def test_taxibj_trains_evaluates_and_predicts(taxibj, tmp_path, monkeypatch, capsys):
    argv = ["predrnn-train", "experiment=taxibj_predrnn", f"data.path={taxibj}", *TINY]
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["num_sequences"] == 5 and len(metrics["mse_per_frame"]) == 4
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    # predrnn-eval with the overrides the data module gives scores the same samples the same
    dm = build_data(compose("train", tmp_path, ["experiment=taxibj", f"data.path={taxibj}"]))
    eval_args = data_arguments(dm.command_overrides()[0])
    evaluated = eval_score(ckpt, eval_args, tmp_path, monkeypatch, capsys)
    assert evaluated["mse"] == pytest.approx(metrics["mse"], rel=1e-4)
    sample = np.load(run_dir / "sample_input.npy")
    out = tmp_path / "predictions.npy"
    argv = ["predrnn-predict", f"ckpt_path={ckpt}", f"input={run_dir / 'sample_input.npy'}", "data.layout=NTCHW",
            f"output={out}"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert np.load(out).shape[2:] == (2, 32, 32) and sample.shape[1:] == (4, 2, 32, 32)


@pytest.fixture(scope="module")
def human(tmp_path_factory):
    return write_human36m(tmp_path_factory.mktemp("h36m"))


def test_human36m_samples_follow_openstls_lists(human, tmp_path):
    import imageio.v3 as iio

    cfg = compose("train", tmp_path, ["experiment=human36m", f"data.path={human}"])
    dm = build_data(cfg)
    windows = {s: len(dm.windows(s)) for s in ("train", "val", "test")}
    assert windows["test"] == 3 and windows["train"] + windows["val"] == 6 and windows["val"] >= 1
    # the first test sample: frames 1, 6, …, 36 of S11's sequence, 5 apart
    clip = dm.dataset("test")[0]
    frames = np.asarray(clip["frames"] if isinstance(clip, dict) else clip)
    want = np.stack([iio.imread(human / "images" / f"S11_Walking.60457274_{f:06d}.jpg") for f in range(1, 37, 5)])
    assert frames.shape == (8, 3, 32, 32)
    np.testing.assert_array_equal(frames, want.transpose(0, 3, 1, 2))


def test_human36m_trains_evaluates_and_predicts(human, tmp_path, monkeypatch, capsys):
    argv = ["predrnn-train", "experiment=human36m_predrnn", f"data.path={human}", *TINY, "~metrics.ssim",
            "~metrics.ssim_official", "~metrics.ssim_openstl", "~metrics.lpips"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["num_sequences"] == 3 and len(metrics["mse_per_frame"]) == 4
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["data_summary"] is not None
    out = tmp_path / "predictions.npy"
    argv = ["predrnn-predict", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
            f"input={run_dir / 'sample_input.npy'}", "data.layout=NTCHW", f"output={out}"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert np.load(out).shape[2:] == (3, 32, 32)
