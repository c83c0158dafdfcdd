"""Training through the real configs and Lightning Trainer: resume, wandb, guards, errors."""

import csv
import json
import time
from pathlib import Path

import pytest
import torch

from helpers import SMOKE, compose
from predrnn.cli.train import task
from predrnn.errors import TrainingStopped
from predrnn.training.run import train


def _weights(ckpt: Path) -> dict:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


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
    """The guard reads the loss before every save, so with a checkpoint every 2 steps nothing
    non-finite is ever written, and the error names a checkpoint that was verified finite."""
    overrides = [*SMOKE, "trainer.max_steps=16", "optim.lr=1e30", "module.loss=mse", "callbacks.media=null",
                 "callbacks.training_guard.check_every_n_steps=50", "data.train_size=8"]  # fmt: skip
    cfg = compose("train", tmp_path, overrides)
    with pytest.raises(TrainingStopped, match=r"training loss became (nan|inf) at step \d+; .* lower optim.lr") as err:
        train(cfg)
    saved = list((tmp_path / "run").rglob("*.ckpt"))
    for ckpt in saved:  # whatever was saved holds finite weights only
        assert all(torch.isfinite(v).all() for v in _weights(ckpt).values())
    named = str(err.value).split("last good checkpoint: ")[-1]
    assert named == "none yet" or Path(named) in saved
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed"
    with pytest.raises(SystemExit) as exit_info:
        task(compose("train", tmp_path / "x", overrides))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("predrnn-train: error: training loss became")


@pytest.mark.slow
def test_divergence_stops_a_finite_blow_up(tmp_path):
    """lr 1e10 blows the loss up to ~1e17 without a NaN: the running-median guard stops it."""
    cfg = compose("train", tmp_path, [*SMOKE, "trainer.max_steps=16", "optim.lr=1e10", "module.loss=mse",
                                      "callbacks.media=null", "test=false"])  # fmt: skip
    with pytest.raises(TrainingStopped, match=r"training (diverged at step \d+: the median loss|loss became)"):
        train(cfg)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["status"] == "failed"


def test_checkpoint_io_refuses_nonfinite_weights_and_writes_atomically(tmp_path, monkeypatch):
    """SafeCheckpointIO writes through a temporary file in the target's own folder (so the rename
    never crosses file systems), leaves nothing behind when a save fails, never writes
    non-finite weights, and loads weights-only."""
    import os

    from predrnn.checkpoints import SafeCheckpointIO

    io = SafeCheckpointIO()
    target = tmp_path / "ckpts" / "last.ckpt"
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renames.append((Path(a), Path(b))), real_replace(a, b))[1])
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}, "global_step": 3}, target)
    assert renames == [(renames[0][0], target)] and renames[0][0].parent == target.parent
    assert io.last_verified == str(target) and io.load_checkpoint(target)["global_step"] == 3
    target.write_bytes(b"old")
    with pytest.raises(
        TrainingStopped, match=r"weights became NaN/inf \(1 tensors, e.g. w\) by step 4; nothing was saved"
    ):
        io.save_checkpoint({"state_dict": {"w": torch.tensor([1.0, float("nan")])}, "global_step": 4}, target)
    assert target.read_bytes() == b"old" and io.last_verified == str(target)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        io.save_checkpoint({"state_dict": {}, "x": Unpicklable()}, target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]  # no temporary file left


@pytest.mark.slow
def test_resume_last_stays_within_the_experiment_and_notes_dropped_overrides(tmp_path, monkeypatch, capsys):
    from predrnn.cli import train as train_cli

    monkeypatch.chdir(tmp_path)
    common = ["experiment=smoke", "logger=csv", "test=false", "callbacks.media=null", "data.val_size=4",
              "trainer.max_steps=2"]  # fmt: skip
    for argv in (common, ["experiment=cpu_quick", *common[1:]]):
        monkeypatch.setattr("sys.argv", ["predrnn-train", *argv])
        train_cli.main()
    smoke_run = next(
        p
        for p in (tmp_path / "logs" / "train" / "runs").iterdir()
        if "smoke" in (p / ".hydra" / "overrides.yaml").read_text()
    )
    capsys.readouterr()
    monkeypatch.setattr("sys.argv", ["predrnn-train", *common[:-1], "trainer.max_steps=4", "ckpt_path=last",
                                     "optim.lr=5e-3"])  # fmt: skip
    train_cli.main()
    err = capsys.readouterr().err
    resumed = f"resuming {(smoke_run / 'checkpoints' / 'last.ckpt').resolve()} restores its optimiser state"
    assert resumed in err and "optim.lr=0.005 (restored: 0.001) does not take effect" in err
    assert len([line for line in err.splitlines() if "note:" in line]) == 1


def test_lpips_skipped_with_notice_without_torchvision(caplog):
    import importlib.util

    from predrnn.metrics.collection import MetricSet
    from predrnn.training.module import default_metrics

    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision present: LPIPS may be computed here")
    notices = []
    metrics = MetricSet(default_metrics(), 3, "test", notices)
    assert "lpips" not in metrics.metrics and "mse" in metrics.metrics
    assert len(notices) == 1 and notices[0].startswith("LPIPS skipped (ModuleNotFoundError")


@pytest.mark.slow
def test_tensorboard_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = compose("train", tmp_path, [*SMOKE, "logger=[wandb,tensorboard]", "test=false"])
    assert set(cfg.logger) == {"csv", "wandb", "tensorboard"}
    train(cfg)
    events = list((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    assert (tmp_path / "run" / "csv" / "metrics.csv").is_file()
