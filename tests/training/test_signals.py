"""Signals and kills (docs/safety.md): `last.ckpt` is written at a fixed cadence
of steps and time, whatever the validation says, so a `kill -9` loses little; SIGTERM / Ctrl-C
saves the step reached without a validation pass first (one that is running is cut short),
every entry point then ends with 143 / 130 and one line saying what was not written, and a
resumed run keeps the best-checkpoint record of the run it resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from pytorch_lightning.callbacks import Callback

from helpers import ENV, SMOKE, compose, script
from predrnn.files import remove_stale_temporaries, remove_stale_temporaries_in

# validate every 2 steps (4 sequences, 2 batches), no test
OFTEN = (*SMOKE, "trainer.max_steps=8", "+trainer.val_check_interval=2", "trainer.check_val_every_n_epoch=null",
         "test=false", "callbacks.media=null", "logger=csv", "data.batch_size=2")  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: these runs are tiny, and two threads on a busy machine are far slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


class SignalAt(Callback):
    """Sends this process `signum` at a chosen moment of a run."""

    def __init__(self, signum: int, step: int, phase: str) -> None:
        self.signum, self.step, self.phase = signum, step, phase

    def _maybe(self, trainer, phase: str) -> None:
        if phase == self.phase and trainer.global_step == self.step and not trainer.sanity_checking:
            self.step = -1  # once
            os.kill(os.getpid(), self.signum)

    def on_train_batch_end(self, trainer, *args) -> None:
        self._maybe(trainer, "train")

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0:
            self._maybe(trainer, "val")


class CopyLastAt(Callback):
    """Keeps a copy of last.ckpt as it is when step `step` starts: what a kill -9 then leaves."""

    def __init__(self, step: int, target: Path) -> None:
        self.step, self.target = step, target

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            last = Path(trainer.checkpoint_callback.dirpath) / "last.ckpt"
            self.target.write_bytes(last.read_bytes())


def _train(folder: Path, overrides, callbacks=()) -> tuple[int, dict]:
    from predrnn.training.run import train

    cfg = compose("train", folder, list(overrides))
    try:
        train(cfg, extra_callbacks=list(callbacks))
        code = 0
    except SystemExit as stop:
        code = stop.code
    return code, json.loads((folder / "run" / "summary.json").read_text())


def _step(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])


def _weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("whole")
    code, summary = _train(folder, OFTEN)
    assert code == 0 and summary["status"] == "finished"
    return summary


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum, step, phase",
    [(signal.SIGTERM, 3, "train"), (signal.SIGTERM, 4, "val"), (signal.SIGINT, 6, "val")],
    ids=["sigterm-train-step3", "sigterm-validation-step4", "sigint-validation-step6"],
)
def test_signal_saves_the_step_and_resume_keeps_the_best_record(signum, step, phase, uninterrupted, tmp_path, capsys):
    code, summary = _train(tmp_path / "a", OFTEN, [SignalAt(signum, step, phase)])
    assert code == 128 + signum
    assert summary["status"] == "interrupted" and summary["exit_code"] == code
    assert summary["signal"] == signal.Signals(signum).name and summary["global_step"] == step
    last = tmp_path / "a" / "run" / "checkpoints" / "last.ckpt"
    assert _step(last) == step  # the step reached, no validation run before the save
    err = capsys.readouterr().err.strip().splitlines()
    assert "not written" in err[-1] and "Traceback" not in "\n".join(err)
    # the resume ends where the uninterrupted run ended, with its best-checkpoint record
    code, resumed = _train(tmp_path / "b", [*OFTEN, f"ckpt_path={last}"])
    assert code == 0 and resumed["status"] == "finished" and resumed["global_step"] == 8
    assert resumed["best_val_mse"] == pytest.approx(uninterrupted["best_val_mse"], rel=1e-6)
    best, whole_best = Path(resumed["best_checkpoint"]), Path(uninterrupted["best_checkpoint"])
    assert best.name == whole_best.name and best.parent == tmp_path / "b" / "run" / "checkpoints"
    for name, value in _weights(whole_best).items():
        torch.testing.assert_close(_weights(best)[name], value, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_cadence_checkpoint_resumes_like_an_uninterrupted_run(uninterrupted, tmp_path):
    """What a kill -9 at step 6 leaves (last.ckpt written at step 5 by the cadence, between
    validations), resumed: the same end and the same best record."""
    copy = tmp_path / "at_step6.ckpt"
    code, _ = _train(tmp_path / "a", [*OFTEN, "callbacks.last_checkpoint.every_n_steps=5"], [CopyLastAt(6, copy)])
    assert code == 0 and _step(copy) == 5
    code, resumed = _train(tmp_path / "b", [*OFTEN, f"ckpt_path={copy}"])
    assert code == 0 and resumed["global_step"] == 8
    assert resumed["best_val_mse"] == pytest.approx(uninterrupted["best_val_mse"], rel=1e-6)
    assert Path(resumed["best_checkpoint"]).name == Path(uninterrupted["best_checkpoint"]).name


def test_stale_temporaries_are_removed_live_ones_kept(tmp_path):
    target = tmp_path / "last.ckpt"
    dead = tmp_path / f".last.ckpt.{_dead_pid()}.abc123.tmp.ckpt"
    live = tmp_path / f".last.ckpt.{os.getpid()}.def456.tmp.ckpt"
    other = tmp_path / f".best.ckpt.{_dead_pid()}.xyz.tmp.ckpt"
    for p in (dead, live, other):
        p.write_bytes(b"half")
    assert remove_stale_temporaries(target) == [dead]
    assert live.exists() and other.exists()
    assert remove_stale_temporaries_in(tmp_path) == [other]
    assert live.exists()


@pytest.mark.slow
def test_kill_9_leaves_a_recent_last_ckpt(tmp_path):
    """A run that validates rarely (every 10 000 steps), killed with SIGKILL at several
    moments: last.ckpt is never older than the cadence (every 3 steps, every 2 s) plus a step."""
    args = [script("predrnn-train"), *SMOKE, "trainer.max_steps=100000", "+trainer.val_check_interval=10000",
            "trainer.check_val_every_n_epoch=null", "data.train_size=100000", "test=false", "callbacks.media=null",
            "callbacks.last_checkpoint.every_n_steps=3", "callbacks.last_checkpoint.every_seconds=2",
            f"hydra.run.dir={tmp_path / 'run'}"]  # fmt: skip
    proc = subprocess.Popen(args, cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    try:
        deadline = time.monotonic() + 120
        while not last.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "slow"
            time.sleep(0.1)
        ages, steps = [], []
        for wait in (0.3, 1.7, 3.1):  # several moments between and after saves
            time.sleep(wait)
            ages.append(time.time() - last.stat().st_mtime)
            steps.append(_step(last))
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        killed_at = time.time()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    age = killed_at - last.stat().st_mtime
    assert max([*ages, age]) < 2 + 3.0, (ages, age)  # every_seconds, plus a few steps' time
    assert steps == sorted(steps) and steps[-1] > steps[0]  # written again and again, not once
    assert _step(last) > 0  # a readable, complete checkpoint


def _start(args, tmp_path) -> subprocess.Popen:
    return subprocess.Popen(
        [script(args[0]), *args[1:]], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_sigterm_during_a_large_validation_exits_fast(tmp_path):
    """SIGTERM while a 2000-sequence validation runs: the validation is cut short, last.ckpt
    holds the step reached, exit 143 with one line; the delay is the figure docs/safety.md gives."""
    run = tmp_path / "run"
    args = ["predrnn-train", *SMOKE, "trainer.max_steps=100", "+trainer.val_check_interval=2",
            "trainer.check_val_every_n_epoch=null", "data.val_size=2000", "data.batch_size=2", "test=false",
            "callbacks.media=null", "callbacks.last_checkpoint.every_n_steps=1", f"hydra.run.dir={run}"]  # fmt: skip
    proc = _start(args, tmp_path)
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not last.exists():  # step 1's cadence save; step 2 then starts the validation
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(3.0)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    delay = time.monotonic() - sent
    print(f"signal-to-exit delay during validation: {delay:.2f} s")
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert "SIGTERM received" in lines[-1] and "not written" in lines[-1]
    assert _step(last) == 2
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["exit_code"] == 143
    assert delay < 20


@pytest.mark.slow
def test_sigterm_during_the_test_phase_is_not_a_success(tmp_path):
    run = tmp_path / "run"
    args = ["predrnn-train", *SMOKE, "trainer.max_steps=2", "data.test_size=3000", "data.batch_size=2",
            "callbacks.media=null", f"hydra.run.dir={run}"]  # fmt: skip
    proc = _start(args, tmp_path)
    deadline = time.monotonic() + 120
    while not (run / "checkpoints" / "last.ckpt").exists():  # written when training ends, before the test
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(3.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert "SIGTERM received" in err.strip().splitlines()[-1] and "metrics.json" in err.strip().splitlines()[-1]
    assert not (run / "metrics.json").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["exit_code"] == 143 and "test" not in summary


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_signal_during_eval_and_predict_is_not_a_success(signum, workdir, tmp_path):
    import numpy as np

    clips = (np.random.default_rng(0).random((3000, 10, 64, 64)) * 255).astype(np.uint8)
    np.save(tmp_path / "many.npy", clips)
    commands = {
        "predrnn-eval": ["predrnn-eval", f"ckpt_path={workdir / 'model.ckpt'}", "data.test_size=3000",
                         "num_media=0", f"hydra.run.dir={tmp_path / 'eval'}"],
        "predrnn-predict": ["predrnn-predict", f"ckpt_path={workdir / 'model.ckpt'}", "input=many.npy",
                            "output=out.npy", "batch_size=2"],
    }  # fmt: skip
    if signum == signal.SIGINT:  # the same path as SIGTERM: one command is enough
        del commands["predrnn-eval"]
    for name, args in commands.items():
        before = set(p.name for p in tmp_path.iterdir())
        proc = _start(args, tmp_path)
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("eval/.hydra" if name == "predrnn-eval" else "logs/**/.hydra")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
            time.sleep(0.1)  # until Hydra has started the job (its handlers are in place)
        for line in proc.stdout:  # torch imported, the checkpoint opened (its line printed) …
            if ": checkpoint " in line:
                break
        time.sleep(1.0)  # … and the work under way
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 128 + signum, (name, err)
        lines = err.strip().splitlines()
        assert "Traceback" not in err and f"{signal.Signals(signum).name} received" in lines[-1], (name, err)
        assert "not written" in lines[-1], lines[-1]
        assert not (tmp_path / "eval" / "metrics.json").exists() and not (tmp_path / "out.npy").exists()
        left = set(p.name for p in tmp_path.iterdir()) - before - {"eval", "logs"}
        assert not left, left  # no temporary file either


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["train", "val"])
def test_sigterm_to_the_first_rank_alone_stops_every_ddp_rank(phase, tmp_path):
    """`kill PID` of the first of two DDP ranks (as a container's SIGTERM to its first process):
    the other rank stops at the same step instead of waiting for it forever, last.ckpt holds
    that step, exit 143 with one line."""
    run = tmp_path / "run"
    during = ("+trainer.val_check_interval=2", "trainer.check_val_every_n_epoch=null", "data.val_size=1000")
    args = ["predrnn-train", *SMOKE, "trainer=ddp_cpu", "trainer.max_steps=400", "data.batch_size=2",
            "data.train_size=2000", "test=false", "callbacks.media=null", "callbacks.last_checkpoint.every_n_steps=1",
            f"hydra.run.dir={run}", *(during if phase == "val" else ())]  # fmt: skip
    proc = _start(args, tmp_path)
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    try:
        while not last.exists():  # step 1 is done; in "val", step 2 starts a 1000-sequence validation
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(2.0)
        os.kill(proc.pid, signal.SIGTERM)  # this process only, not its group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    stopped = [line for line in err.splitlines() if "stopped at step" in line]
    assert len(stopped) == 1, err  # said once, by rank zero
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and _step(last) == summary["global_step"]
    if phase == "val":
        assert summary["global_step"] == 2  # the validation was cut short, not run to its end


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGUSR1], ids=["sighup", "sigusr1"])
def test_a_closed_terminal_or_sigusr1_ends_the_run_with_its_summary(signum, tmp_path, capsys):
    """SIGHUP (the terminal closed) and SIGUSR1 (a scheduler's notice) stop a run as SIGTERM
    does: the step reached saved, summary.json saying which signal, one line, 128 + signal."""
    quick = (*SMOKE, "trainer.max_steps=4", "test=false", "callbacks.media=null", "logger=csv", "data.batch_size=2")
    code, summary = _train(tmp_path, quick, [SignalAt(signum, 1, "train")])
    assert code == 128 + signum
    assert summary["status"] == "interrupted" and summary["signal"] == signal.Signals(signum).name
    assert summary["exit_code"] == code and summary["global_step"] == 1
    assert _step(tmp_path / "run" / "checkpoints" / "last.ckpt") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "not written" in err[-1] and "Traceback" not in "\n".join(err)
