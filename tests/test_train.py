"""Training through the real configs and Lightning Trainer: resume, wandb, guards, errors."""

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import SMOKE, compose
from predrnn.cli.train import _task, train
from predrnn.errors import CheckpointError
from predrnn.training.callbacks import NonFiniteLossError


def _weights(ckpt: Path) -> dict:
    return torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]


def _decoder_p(run: Path) -> dict[int, float]:
    with open(run / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return {int(float(r["sampling/step"])): float(r["sampling/decoder_p"]) for r in rows if r.get("sampling/step")}


@pytest.mark.slow
def test_resume_continues_exactly(tmp_path):
    """2 × N steps straight == N steps, then resume for N more (weights within 1e-6)."""
    common = [
        *SMOKE,
        "sampling=linear",
        "sampling.slope=0.05",
        "callbacks.media.num_sequences=0",
        "test=false",
    ]
    straight = compose("train", tmp_path / "a", [*common, "trainer.max_steps=16", "trainer.log_every_n_steps=1"])
    train(straight)
    first = compose("train", tmp_path / "b", [*common, "trainer.max_steps=8"])
    train(first)
    last = tmp_path / "b" / "run" / "checkpoints" / "last.ckpt"
    resumed = compose(
        "train",
        tmp_path / "c",
        [*common, "trainer.max_steps=16", "trainer.log_every_n_steps=1", f"ckpt_path={last}"],
    )
    train(resumed)
    a = _weights(tmp_path / "a" / "run" / "checkpoints" / "last.ckpt")
    c = _weights(tmp_path / "c" / "run" / "checkpoints" / "last.ckpt")
    assert a.keys() == c.keys()
    for key in a:
        torch.testing.assert_close(c[key], a[key], rtol=0, atol=1e-6, msg=key)
    b = _weights(last)
    assert any(not torch.equal(b[k], a[k]) for k in a)  # the second half did train
    pa, pc = _decoder_p(tmp_path / "a" / "run"), _decoder_p(tmp_path / "c" / "run")
    shared = sorted(set(pa) & set(pc))
    assert len(shared) >= 6 and all(pa[s] == pytest.approx(pc[s]) for s in shared)
    assert pa[shared[0]] > pa[shared[-1]]  # the schedule decays across the resume


@pytest.mark.slow
def test_wandb_offline_run_files(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose("train", tmp_path, [*SMOKE, "logger=wandb"])
    assert cfg.logger.wandb.offline is True
    train(cfg)
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("run-*.wandb"))
    media = list((runs[0] / "files" / "media").rglob("*"))
    assert any(p.suffix == ".png" for p in media) and any(p.suffix == ".gif" for p in media)
    keys = (b"test/mse", b"val/mse", b"sampling/decoder_p", b"hidden_channels")
    for _ in range(40):  # offline, the history lives in the .wandb file, which wandb-core writes async
        records = next(runs[0].glob("run-*.wandb")).read_bytes()
        if all(k in records for k in keys):
            break
        time.sleep(0.25)
    for key in keys:
        assert key in records, key


@pytest.mark.slow
def test_nonfinite_loss_stops_without_saving_bad_weights(tmp_path, capsys):
    cfg = compose("train", tmp_path, [*SMOKE, "trainer.max_steps=16", "module.lr=1e30", "module.loss=mse"])
    with pytest.raises(NonFiniteLossError, match="became NaN/inf by step .* lower module.lr"):
        train(cfg)
    saved = list((tmp_path / "run").rglob("*.ckpt"))
    for ckpt in saved:  # whatever was saved holds finite weights only
        assert all(torch.isfinite(v).all() for v in _weights(ckpt).values())
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed"
    with pytest.raises(SystemExit) as exit_info:
        _task(compose("train", tmp_path / "x", [*SMOKE, "trainer.max_steps=16", "module.lr=1e30", "module.loss=mse"]))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("predrnn-train: error: training loss became NaN/inf")


@pytest.mark.slow
def test_checkpoint_that_does_not_fit(tmp_path):
    cfg = compose("train", tmp_path / "a", [*SMOKE, "test=false", "callbacks.media.num_sequences=0"])
    train(cfg)
    last = tmp_path / "a" / "run" / "checkpoints" / "last.ckpt"
    other = compose("train", tmp_path / "b", [*SMOKE, "model.hidden_channels=[8,8,8]", f"ckpt_path={last}"])
    with pytest.raises(CheckpointError, match=r"trained with hidden_channels=\[8, 8\] \(config: \[8, 8, 8\]\)"):
        train(other)
    from predrnn.cli.checkpoint import load_module

    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_module(str(junk))


ERROR_CASES = [
    (["model.patch_size=3"], "model.patch_size=3 must divide data.image_size=64"),
    (["data.input_length=20"], "data.input_length (20) must be less than data.total_length (20)"),
    (["model.hidden_channels=[]"], "model.hidden_channels must be a non-empty list"),
    (["model.hidden_channels=[8,0]"], "model.hidden_channels must be a non-empty list"),
    (["model.kernel_size=4"], "model.kernel_size must be a positive odd number"),
    (["module.lr=0"], "module.lr must be positive"),
    (["module.lr=-1e-3"], "module.lr must be positive"),
    (["data.batch_size=0"], "data.batch_size must be positive"),
    (["sampling=exponential", "sampling.k=1.5"], "sampling.k must lie in (0, 1)"),
    (["sampling=inverse_sigmoid", "sampling.k=0.1"], "sampling.k must be >= 1"),
    (["sampling=reverse", "sampling.s1=9", "sampling.s2=3"], "sampling.s1 (9) and sampling.s2 (3)"),
    (["data.test_file=/no/such/mnist_test_seq.npy"], "data.test_file /no/such/mnist_test_seq.npy not found"),
    (["data.digits=/no/such/digits.npz"], "MNIST digits not found at /no/such/digits.npz"),
    (["ckpt_path=/no/such.ckpt"], "checkpoint /no/such.ckpt not found"),
    (["module.loss=huber"], "module.loss 'huber' is unknown"),
]


@pytest.mark.parametrize("overrides, message", ERROR_CASES)
def test_config_errors_are_one_line(overrides, message, tmp_path, capsys):
    cfg = compose("train", tmp_path, [*SMOKE, *overrides])
    with pytest.raises(SystemExit) as exit_info:
        _task(cfg)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("predrnn-train: error: ")
    assert message in err[-1]
    assert not list((tmp_path / "run").rglob("*.ckpt"))


def test_malformed_digit_file(tmp_path, capsys):
    bad = tmp_path / "digits.npz"
    np.savez(bad, x_train=np.zeros((3, 28, 28), np.float64), x_test=np.zeros((3, 28, 28), np.float64))
    with pytest.raises(SystemExit):
        _task(compose("train", tmp_path, [*SMOKE, f"data.digits={bad}"]))
    assert "must be uint8 (0-255), got float64" in capsys.readouterr().err


def test_malformed_test_file(tmp_path, capsys):
    bad = tmp_path / "mnist_test_seq.npy"
    np.save(bad, np.zeros((20, 2, 32, 32), np.uint8))
    with pytest.raises(SystemExit):
        _task(compose("train", tmp_path, [*SMOKE, f"data.test_file={bad}", "trainer.max_steps=1"]))
    assert "has 32x32 frames, the config image_size=64" in capsys.readouterr().err


def test_unknown_group_option_is_one_line():
    from predrnn.config import check_group_overrides
    from predrnn.errors import ConfigError

    with pytest.raises(ConfigError, match="sampling=sigmoid is unknown: use one of exponential, inverse_sigmoid"):
        check_group_overrides("train", ["sampling=sigmoid"])
    check_group_overrides("train", ["sampling=linear", "model.hidden_channels=[8]", "logger=[wandb,tensorboard]"])


def test_lpips_skipped_with_notice_without_torchvision():
    import importlib.util

    from predrnn.training.module import make_lpips

    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision present: LPIPS may be computed here")
    with pytest.warns(UserWarning, match="LPIPS skipped: ModuleNotFoundError"):
        assert make_lpips() is None


@pytest.mark.slow
def test_tensorboard_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose("train", tmp_path, [*SMOKE, "logger=[wandb,tensorboard]", "test=false"])
    assert set(cfg.logger) == {"csv", "wandb", "tensorboard"}
    train(cfg)
    events = list((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    assert (tmp_path / "run" / "csv" / "metrics.csv").is_file()
