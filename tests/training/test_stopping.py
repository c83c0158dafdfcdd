"""Stopping and the first runs: a signal to the whole process group (a terminal's
Ctrl-C, `timeout`) stops a run with DataLoader workers cleanly, every entry point names the
checkpoint `last` resolved to, no entry point prints third-party noise unless `verbose=true`,
and `make install` says where torch comes from before anything is downloaded."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import ROOT, script

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


# Third-party lines no entry point shows unless verbose=true
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


# --- what a newcomer's shell sees: printed commands that run, progress in a file -----------------
OUTSIDE = {**ENV, "PATH": "/usr/bin:/bin"}  # a newcomer's shell: the environment not activated


def test_version_help_and_info_answer(monkeypatch, capsys, tmp_path):
    from helpers import run_main
    from predrnn.cli import help as cli_help

    code, _, out = run_main(("predrnn-train", "--version"), tmp_path, monkeypatch, capsys, stdout=True)
    assert code == 0 and out.strip() == cli_help.version_line("predrnn-train") and "predrnn 0." in out
    code, _, out = run_main(("predrnn-train", "--help"), tmp_path, monkeypatch, capsys, stdout=True)
    assert code == 0 and "what runs here with experiment=" in out  # the preset this machine gets
    for group in ("experiment", "model", "metrics"):  # every option with its one line, read from its file
        for name, line in cli_help.options(group):
            assert line, f"conf/{group}/{name}.yaml has no one-line description (its first comment line)"
            assert re.search(rf"^  {re.escape(name)} +{re.escape(line[:20])}", out, re.M), (group, name)
    for name, line in cli_help.baselines():
        assert line and re.search(rf"^  {name} +{re.escape(line[:20])}", out, re.M), name
    code, _, out = run_main(("predrnn-eval", "--help"), tmp_path, monkeypatch, capsys, stdout=True)
    assert code == 0 and "ckpt_path=(required)" in out and "metric sets (metrics=NAME)" in out
    code, _, out = run_main(("predrnn-train", "--info"), tmp_path, monkeypatch, capsys, stdout=True)
    assert code == 0 and "Config search path" in out  # the preset's override no longer reads as --info's value
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    "argv, line",
    [
        (["predrnn-train", "model.kernel_sze=3"], "model.kernel_sze is not a key of this config"),
        (["predrnn-train", "model=nope"], "model=nope is unknown: use one of"),
        (["predrnn-eval"], "ckpt_path is required and was not given"),
        (["predrnn-train", "trainer.max_steps=[1"], "is not an override Hydra can read"),
    ],
)
def test_a_config_error_answers_before_torch_is_imported(argv, line, tmp_path):
    module = {"predrnn-train": "train", "predrnn-eval": "evaluate"}[argv[0]]
    code = (f"import sys; sys.argv = {argv!r}\nfrom predrnn.cli.{module} import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n"
            "    print('exit', e.code, 'torch' in sys.modules, 'pytorch_lightning' in sys.modules)")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.stdout.strip() == "exit 2 False False", proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and line in proc.stderr


def test_printed_commands_name_the_script_where_path_lacks_it(monkeypatch):
    from predrnn.command_line import script_command

    local = Path(sys.executable).parent / "predrnn-eval"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert script_command("predrnn-eval") == (str(local) if local.is_file() else "predrnn-eval")
    monkeypatch.setenv("PATH", f"{local.parent}:/usr/bin:/bin")
    assert script_command("predrnn-eval") == "predrnn-eval"


def test_printed_commands_carry_the_search_path_and_model_of_an_own_network(tmp_path):
    from helpers import compose
    from predrnn.cli.hydra_state import current_launch
    from predrnn.command_line import network_overrides

    conf = tmp_path / "my conf" / "model"
    conf.mkdir(parents=True)
    (conf / "mine.yaml").write_text("# my network\n_target_: predrnn.models.PredRNN\nhidden_channels: [4]\n")
    search = f"hydra.searchpath=[file://{conf.parent}]"
    compose("train", tmp_path, [search, "model=mine", "experiment=smoke"])
    words = network_overrides(current_launch())
    assert [shlex.split(w)[0] for w in words] == [search, "model=mine"]
    compose("train", tmp_path, ["experiment=smoke"])
    assert network_overrides(current_launch()) == []  # predrnn's own networks need nothing


def test_the_closing_lines_set_every_metric_beside_the_baselines_and_say_when_the_model_loses():
    from predrnn.training.run_summary import beside_baselines

    test = {"mse": 150.0, "mse_per_frame": [150.0], "mae": 264.0, "mae_per_frame": [264.0], "ssim": 0.509,
            "ssim_per_frame": [0.509], "csi_35": None, "csi_35_per_frame": [None], "num_sequences": 200,
            "higher_is_better": {"mse": False, "mae": False, "ssim": True},
            "baselines": {"zeros": {"mse": 174.0, "mae": 201.0, "ssim": 0.801, "csi_35": None},
                          "copy_last": {"mse": 286.0, "mae": 300.0, "ssim": 0.7, "csi_35": None}}}  # fmt: skip
    lines = beside_baselines(test)
    assert lines[0] == "test over 200 sequences: the model beside black frames, copying the last frame"
    assert [line.split()[0] for line in lines[2:6]] == ["mse", "mae", "ssim", "csi_35"]
    assert lines[4].split() == ["ssim", "0.5090", "0.8010", "0.7000"]
    assert lines[6] == (
        "the model LOSES to black frames on mae (264.00 vs 201.00, lower is better), "
        "ssim (0.5090 vs 0.8010, higher is better); to copying the last frame on ssim (0.5090 vs 0.7000, "
        "higher is better)"
    )
    assert lines[7].startswith("– (undefined): csi_35; an event score is undefined where no pixel")


def test_metric_tables_print_every_heading_whole(capsys):
    from predrnn.training.metric_tables import print_metrics_table

    names = ["mse", "csi_35", "far_35", "pod_35", "hss_35", "ets_35", "bias_35", "fss_35_s8", "fss_35_s16"]
    results = {n: 0.5 for n in names} | {f"{n}_per_frame": [0.5] * 3 for n in names} | {"num_sequences": 4}
    results["baselines"] = {"zeros": dict(results), "copy_last": dict(results), "extrapolation": dict(results)}
    capsys.readouterr()
    print_metrics_table(results)
    out = capsys.readouterr().out
    assert "…" not in out and all(len(line) <= 80 for line in out.splitlines())
    for heading in [n.upper() for n in names] + ["MSE zeros", "MSE copy-last", "MSE extrapolation"]:
        assert heading in out, heading


@pytest.mark.slow
def test_a_newcomers_shell_runs_what_a_run_prints(tmp_path):
    """A newcomer's run end to end, with PATH lacking the environment: progress reaches a file as plain
    lines, the closing lines judge the model against the baselines, the printed evaluate and
    predict commands run as printed, `predrnn-eval ckpt_path=last` (make eval) scores the run's
    own test set, and a resume says one true line instead of Lightning's warning."""
    tiny = ["experiment=smoke", "data.val_size=4", "data.test_size=4", "callbacks.media=null",
            "callbacks.progress_bar={_target_:predrnn.training.progress.StepProgressBar}"]  # fmt: skip

    def console_script(args: list[str]) -> str:
        proc = subprocess.run([script(args[0]), *args[1:]], cwd=tmp_path, env=OUTSIDE, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    console = console_script(["predrnn-train", *tiny, "trainer.max_steps=6"])
    assert re.search(r"^train 6/6 \(100 %\), 0:00:\d\d spent, loss [\d.]+", console, re.M)  # not a terminal: lines
    assert re.search(r"^test over 4 sequences: the model beside black frames, copying the last frame$", console, re.M)
    for name in ("mse", "mae", "ssim", "psnr"):
        assert re.search(rf"^  {name} +[\d.]+ +[\d.]+ +[\d.]+$", console, re.M), name
    assert re.search(r"^the model (LOSES to|beats)", console, re.M)
    (evaluate,) = re.findall(r"^evaluate:\s+(.*)$", console, re.M)
    (predict,) = re.findall(r"^predict:\s+(.*)$", console, re.M)
    assert evaluate.startswith(str(Path(script("predrnn-eval")))) or shutil.which("predrnn-eval", path="/usr/bin:/bin")
    for command in (evaluate, predict):
        proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=OUTSIDE, capture_output=True, text=True,
                              timeout=300)  # fmt: skip
        assert proc.returncode == 0, command + proc.stderr[-2000:]
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    tested = json.loads((run_dir / "metrics.json").read_text())
    made_eval = console_script(["predrnn-eval", "ckpt_path=last", "num_media=0"])  # what make eval runs
    assert "the data, metrics, baselines settings of its training run" in made_eval
    (newest,) = sorted((tmp_path / "logs" / "eval" / "runs").iterdir())[-1:]
    evaluated = json.loads((newest / "metrics.json").read_text())
    assert evaluated["num_sequences"] == tested["num_sequences"] == 4  # the run's test set, not 10 000
    resumed = console_script(["predrnn-train", *tiny, "trainer.max_steps=10", "ckpt_path=last"])
    assert "predrnn-train: resuming at step 6: the run continues exactly" in resumed
    assert "not resumable" not in resumed and "weights_only` was not set" not in resumed
    assert 'ckpt_path="best")` is called' not in resumed
