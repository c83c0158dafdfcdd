"""The first hour, round two (issue 21): a signal to the whole process group (a terminal's
Ctrl-C, `timeout`) stops a run with DataLoader workers cleanly, every entry point names the
checkpoint `last` resolved to, no entry point prints third-party noise unless `verbose=true`,
and `make install` says where torch comes from before anything is downloaded."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import script

ROOT = Path(__file__).resolve().parents[1]
# as a user's shell has it: warnings not silenced (helpers.ENV ignores them), one thread
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"} | {"WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
# a smoke run with two DataLoader workers: 8 steps an epoch, a validation (and best-*.ckpt) after each
STOPPABLE = ("experiment=smoke", "data.num_workers=2", "data.val_size=4", "test=false", "callbacks.media=null",
             "trainer.max_steps=24")  # fmt: skip


def _start(args: list[str], cwd: Path) -> tuple[subprocess.Popen, Path, Path]:
    """A console script in a process group of its own (as a terminal's job), output to files."""
    out, err = cwd / f"{args[0]}.out", cwd / f"{args[0]}.err"
    proc = subprocess.Popen(
        [script(args[0]), *args[1:]], cwd=cwd, env=ENV, stdout=out.open("w"), stderr=err.open("w"),
        start_new_session=True,
    )  # fmt: skip
    return proc, out, err


def _wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{what} never happened (exit {proc.returncode})")
        time.sleep(0.05)


def _signal_group(proc: subprocess.Popen, signum: int) -> int:
    os.killpg(proc.pid, signum)  # the whole group, workers included: what Ctrl-C and `timeout` do
    return proc.wait(timeout=120)


def _run(args: list[str], cwd: Path) -> str:
    proc = subprocess.run([script(args[0]), *args[1:]], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def _weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> Path:
    """The last.ckpt of the uninterrupted run."""
    folder = tmp_path_factory.mktemp("straight")
    _run(["predrnn-train", *STOPPABLE], folder)
    (last,) = folder.glob("logs/train/runs/*/checkpoints/last.ckpt")
    return last


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_process_group_stops_a_run_with_workers_resumably(signum, straight, tmp_path):
    proc, out, err = _start(["predrnn-train", *STOPPABLE], tmp_path)
    _wait_for(lambda: any(tmp_path.glob("logs/train/runs/*/checkpoints/best-*.ckpt")), proc, "a first validation")
    assert _signal_group(proc, signum) == 128 + signum
    console = out.read_text() + err.read_text()
    assert f"{signal.Signals(signum).name} received: stopping after this step" in console
    assert "DataLoader worker" not in console and "Traceback" not in console
    (last,) = tmp_path.glob("logs/train/runs/*/checkpoints/last.ckpt")
    summary = json.loads((last.parents[1] / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    step = torch.load(last, weights_only=True)["global_step"]
    assert step == summary["global_step"] and 8 <= step < 24  # at the step reached
    if signum == signal.SIGTERM:  # the resume is the same for both signals: checked once (SIGINT)
        return
    resumed = _run(["predrnn-train", *STOPPABLE, "ckpt_path=last"], tmp_path)
    assert f"predrnn-train: checkpoint {last} (ckpt_path=last)" in resumed  # names what `last` resolved to
    (folder,) = re.findall(r"finished at step 24 — run folder (\S+)", resumed)
    weights, expected = _weights(Path(folder) / "checkpoints" / "last.ckpt"), _weights(straight)
    for key in expected:
        torch.testing.assert_close(weights[key], expected[key], rtol=0, atol=1e-6, msg=key)


@pytest.mark.slow
def test_a_signal_stops_eval_and_predict_with_nothing_half_written(workdir, tmp_path):
    ckpt = workdir / "model.ckpt"
    proc, out, _ = _start(["predrnn-eval", f"ckpt_path={ckpt}", "data.test_size=4000", "data.num_workers=2",
                           "num_media=0"], tmp_path)  # fmt: skip
    _wait_for(lambda: "predrnn-eval: checkpoint" in out.read_text(), proc, "the evaluation's start")
    time.sleep(1.5)
    assert _signal_group(proc, signal.SIGINT) == 130
    assert not list(tmp_path.glob("logs/eval/**/metrics.json"))
    np.save(tmp_path / "clips.npy", np.zeros((2000, 10, 64, 64), np.uint8))
    before = sorted(p.name for p in tmp_path.iterdir())
    proc, out, err = _start(["predrnn-predict", f"ckpt_path={ckpt}", "input=clips.npy", "output=pred.npy",
                             "batch_size=2"], tmp_path)  # fmt: skip
    _wait_for(lambda: "predrnn-predict: checkpoint" in out.read_text(), proc, "the prediction's start")
    time.sleep(0.5)
    assert _signal_group(proc, signal.SIGTERM) == 143
    assert "SIGTERM received: stopped before finishing" in err.read_text()
    after = sorted(p.name for p in tmp_path.iterdir() if p.suffix not in (".out", ".err"))
    assert after == [n for n in before if not n.endswith((".out", ".err"))]  # no output, no temporary file


# Third-party lines no entry point shows unless verbose=true (issue 21, item 4)
NOISE = {
    "tip": "💡 Tip",
    "gpu": "GPU available:",
    "tpu": "TPU available:",
    "leafspec": "LeafSpec",
    "torchvision": "torchvision is not installed",
    "log_every": "smaller than the logging interval",
    "monitored": "could not find the monitored key",
    "epoch_bar": "Epoch 0/-2",
}


@pytest.fixture(scope="module")
def logs_with_a_sweep(workdir, tmp_path_factory) -> tuple[Path, Path]:
    """A folder whose logs/ hold a single run (the workdir's checkpoint, older) and a newer sweep
    job: `last` in eval / predict / export means the single run."""
    folder = tmp_path_factory.mktemp("last")
    single = folder / "logs/train/runs/2026-01-01_00-00-00_000000/checkpoints/last.ckpt"
    job = folder / "logs/train/multiruns/2026-01-02_00-00-00_000000/0/checkpoints/last.ckpt"
    for path in (single, job):
        path.parent.mkdir(parents=True)
        shutil.copy(workdir / "model.ckpt", path)
    os.utime(single, (1_700_000_000, 1_700_000_000))
    shutil.copy(workdir / "clip.npy", folder / "clip.npy")
    shutil.copy(workdir / "frames.h5", folder / "frames.h5")
    return folder, single


ARRAYS_TRAIN = ["predrnn-train", "data=arrays", "data.path=frames.h5", "data.key=fields", "data.layout=NTHWC",
                "data.input_length=4", "data.total_length=8", "data.batch_size=2", "data.num_workers=0",
                "data.val_fraction=0.25", "data.test_fraction=0.25", "model.hidden_channels=[4]",
                "trainer=cpu", "trainer.max_steps=2", "logger=csv", "callbacks.media=null"]  # fmt: skip
ENTRY_POINTS = {
    # what runs, and the noise it would print without the quiet console
    "train_arrays": (ARRAYS_TRAIN, ("tip", "gpu", "tpu", "log_every")),
    "eval": (["predrnn-eval", "ckpt_path=last", "data.test_size=2", "num_media=0"], ("tip", "gpu")),
    "predict": (["predrnn-predict", "ckpt_path=last", "input=clip.npy", "output=p.npy", "overwrite=true"], ()),
    "export": (["predrnn-export", "ckpt_path=last", "output=m.onnx", "overwrite=true"], ("torchvision",)),
    "sweep": (["predrnn-train", "-m", "experiment=smoke", "trainer.max_steps=2", "data.val_size=2",
               "data.test_size=2", "test=false", "seed=0,1"], ("gpu", "epoch_bar")),
}  # fmt: skip


def _cwd(args: list[str], folder: Path) -> Path:
    """Where to run `args`: training in a folder of its own (its run must not become `last`)."""
    if args[0] != "predrnn-train":
        return folder
    own = folder / "training"
    own.mkdir(exist_ok=True)
    shutil.copy(folder / "frames.h5", own / "frames.h5")
    return own


@pytest.mark.slow
@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_no_entry_point_prints_third_party_noise_and_each_names_its_checkpoint(name, logs_with_a_sweep):
    folder, single = logs_with_a_sweep
    args, _ = ENTRY_POINTS[name]
    console = _run(args, _cwd(args, folder))
    for key, line in NOISE.items():
        assert line not in console, (key, console[-2000:])
    if "ckpt_path=last" in args:  # the single run, not the newer sweep job, and said so
        assert f"checkpoint {single} (PredRNN, step 2, run {single.parents[1]})" in console


@pytest.mark.slow
@pytest.mark.parametrize("name", ["train_arrays"])  # export's lines: ONNX export again, 30 s; the switch is shared
def test_verbose_shows_the_noise(name, logs_with_a_sweep):
    folder, _ = logs_with_a_sweep
    args, expected = ENTRY_POINTS[name]
    console = _run([*args, "verbose=true"], _cwd(args, folder))
    for key in expected:
        assert NOISE[key] in console, (key, console[-2000:])


# --- make install: where torch comes from ---------------------------------------------------
CHOOSE = ROOT / "scripts" / "choose_torch.sh"


def _choose(tmp_path: Path, gpu: bool = False, torch_installed: bool = False, wheel: str | None = None,
            index_answers: bool = False) -> tuple[str, str]:  # fmt: skip
    """scripts/choose_torch.sh on a faked machine: its pip arguments and what it said."""
    bin_dir, wheels = tmp_path / "bin", tmp_path / "wheels"
    bin_dir.mkdir(exist_ok=True)
    wheels.mkdir(exist_ok=True)
    fake_python = bin_dir / "python"
    fake_python.write_text(f"#!/bin/sh\nexit {0 if torch_installed else 1}\n")  # `import torch` works or not
    probe = bin_dir / "probe"
    probe.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/probed\nexit {0 if index_answers else 1}\n')
    for tool in (fake_python, probe):
        tool.chmod(0o755)
    if wheel:
        (wheels / wheel).write_bytes(b"")
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(fake_python), "WHEEL_DIRS": f"file://{wheels}",
           "PROBE": str(probe), "NVIDIA_SMI": "nvidia-smi" if gpu else "no-such-nvidia-smi",
           "CPU_TORCH": "torch==2.13.0"}  # fmt: skip
    if gpu:
        smi = bin_dir / "nvidia-smi"
        smi.write_text("#!/bin/sh\nexit 0\n")
        smi.chmod(0o755)
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
    proc = subprocess.run(["bash", str(CHOOSE)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip(), proc.stderr.strip()


def test_a_gpu_machine_lets_pip_choose_torch(tmp_path):
    args, said = _choose(tmp_path, gpu=True)
    assert args == "" and "GPU found" in said


def test_an_installed_torch_is_kept(tmp_path):
    args, said = _choose(tmp_path, torch_installed=True, index_answers=True)
    assert args == "" and "installed already" in said


def test_a_local_cpu_wheel_is_used_before_any_download(tmp_path):
    args, said = _choose(tmp_path, wheel="torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl", index_answers=True)
    assert args == "torch==2.13.0" and "local CPU wheel" in said
    assert not (tmp_path / "probed").exists()  # the network was not even asked


def test_without_a_wheel_the_cpu_index_is_chosen_when_it_answers(tmp_path):
    args, said = _choose(tmp_path, wheel="torch-2.12.0+cpu-cp311-cp311-linux_x86_64.whl", index_answers=True)
    assert args.startswith("torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu")
    assert "downloading the CPU build" in said and "about 200 MB" in said
    assert (tmp_path / "probed").read_text().strip() == "https://download.pytorch.org/whl/cpu/torch/"


def test_without_wheel_or_index_it_warns_before_pip_fetches_the_cuda_build(tmp_path):
    args, said = _choose(tmp_path)
    assert args == "torch==2.13.0"
    assert "WARNING" in said and "CUDA build (several GB)" in said
    assert "--index-url https://download.pytorch.org/whl/cpu" in said  # how to get the CPU build instead


def test_make_install_asks_the_script():
    makefile = (ROOT / "Makefile").read_text()
    assert "scripts/choose_torch.sh" in makefile and "pip install -q $$torch_args" in makefile


@pytest.mark.slow
def test_predict_clips_to_the_training_range_only_when_asked(workdir, tmp_path, monkeypatch, capsys):
    from helpers import run_main

    shutil.copy(workdir / "frames.h5", tmp_path / "frames.h5")
    _run(ARRAYS_TRAIN, tmp_path)
    (ckpt,) = tmp_path.glob("logs/train/runs/*/checkpoints/last.ckpt")
    read = ("predrnn-predict", "data.key=fields", "data.layout=NTHWC", "input=frames.h5", f"ckpt_path={ckpt}")
    for extra in (("output=raw.npy",), ("output=clipped.npy", "clip=true")):  # in this process: no start-up
        code, err = run_main((*read, "num_predictions=6", *extra), tmp_path, monkeypatch, capsys)
        assert code == 0, err
    raw, clipped = np.load(tmp_path / "raw.npy"), np.load(tmp_path / "clipped.npy")
    import h5py

    with h5py.File(tmp_path / "frames.h5") as f:
        fields = f["fields"][:]
    low, high = fields.min(axis=(0, 1, 2, 3)), fields.max(axis=(0, 1, 2, 3))  # per channel, over every clip
    assert (clipped >= low - 1e-6).all() and (clipped <= high + 1e-6).all()
    inside = (raw >= clipped.min(axis=(0, 1, 2, 3))) & (raw <= clipped.max(axis=(0, 1, 2, 3)))
    np.testing.assert_array_equal(clipped[inside], raw[inside])  # only values outside the range change
