"""The first ten minutes: the preset that fits the machine, a quiet console, a progress bar in
steps, and a clear ending (a summary whose commands run, and a resumable checkpoint when a run
is stopped by Ctrl-C or SIGTERM)."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import time
from pathlib import Path

import pytest
import torch
from pytorch_lightning.callbacks import Callback

from helpers import SMOKE, compose, run
from predrnn.training.presets import choose_experiment
from predrnn.training.run import train

TINY = [
    "trainer.max_steps=6",
    "data.val_size=4",
    "data.test_size=4",
    "data.train_size=32",
    "callbacks.media.num_sequences=1",
]
NOISE = ("litlogger", "LitLogger", "anonymous setting", "LeafSpec", "_pytree", "Total FLOPs: 0", "Epoch 0/-2", "v_num")


@pytest.mark.parametrize("gpu, chosen", [(True, "paper_mnist"), (False, "cpu_quick")])
def test_the_preset_fits_the_machine(gpu, chosen, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    args, line = choose_experiment(["trainer.max_steps=5"])
    assert args[:2] == ["trainer.max_steps=5", f"experiment={chosen}"]  # then cpu_quick's precision (test_threads.py)
    assert line.startswith(f"predrnn-train: experiment={chosen} (") and "make train EXPERIMENT=NAME" in line
    assert choose_experiment(["experiment=smoke"]) == (["experiment=smoke"], None)  # an explicit choice is obeyed
    assert choose_experiment(["model=mim"]) == (["model=mim"], None)  # the presets are PredRNN's


@pytest.mark.slow
def test_a_run_is_quiet_counts_steps_and_ends_with_commands_that_run(tmp_path, monkeypatch, capsys):
    proc = run(["predrnn-train", "model.hidden_channels=[8]", "logger=[wandb]", *TINY], tmp_path)
    console = proc.stdout + proc.stderr
    for noise in NOISE:
        assert noise not in console, noise
    assert "predrnn-train: experiment=cpu_quick (no GPU" in console
    # not a terminal (a pipe, a log file): plain lines counting steps to trainer.max_steps (on a terminal: one bar)
    assert re.search(r"^train 6/6 \(100 %\), 0:\d\d:\d\d spent", console, re.M)
    assert re.search(r"FLOPs per sequence \(forward, analytic\): [\d.]+ [KMG]", console)
    assert "MSE zeros" in console and "MSE copy-last" in console  # the baselines beside the model
    assert re.search(r"finished at step 6 — run folder ", console)
    paths = re.findall(r"^  (?:strip|GIF|plot|last|wandb)\s+(\S+)", console, re.M)
    assert len(paths) == 5 and all(Path(p).exists() for p in paths)
    (line,) = [line for line in proc.stdout.splitlines() if line.startswith("train 6/6")]
    assert len(line) <= 80 and all(f in line for f in ("loss ", "p_true ", "val_mse "))  # one 80-column line
    # the printed commands, run as printed: the run's own test set, a saved sample of its test clips
    # (the scripts by name where PATH finds them, else by their absolute path: test_first_hour.py)
    (evaluate,) = re.findall(r"^evaluate:\s+(\S*predrnn-eval .*)$", console, re.M)
    (predict,) = re.findall(r"^predict:\s+(\S*predrnn-predict .*)$", console, re.M)
    assert "data.test_size=4" in evaluate and "<" not in predict
    start = time.monotonic()
    evaluated = run(shlex.split(evaluate), tmp_path).stdout
    assert "test metrics over 4 sequences" in evaluated and time.monotonic() - start < 120
    (eval_dir,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    assert json.loads((eval_dir / "metrics.json").read_text())["num_sequences"] == 4
    step = torch.load(evaluate.split("ckpt_path=")[1].split()[0], weights_only=True)["global_step"]
    assert (eval_dir / "media" / f"test_step{step:07d}_seq0.png").is_file()  # named after the checkpoint's step
    from helpers import run_main

    code, err = run_main(_by_name(predict), tmp_path, monkeypatch, capsys)  # in process: no start-up
    assert code == 0, err
    import numpy as np

    (output,) = re.findall(r"output=(\S+)", predict)
    assert np.load(output).shape == (2, 10, 1, 64, 64)  # two held-out test clips, laid out NTCHW


def _by_name(command: str) -> tuple[str, ...]:
    """A printed command split as a shell splits it, its script by name (for run_main)."""
    words = shlex.split(command)
    return (Path(words[0]).name, *words[1:])


class SendSignal(Callback):
    """Sends the process a real signal at the end of step `step` (as Ctrl-C or `timeout` would)."""

    def __init__(self, signum: int, step: int) -> None:
        self.signum, self.step = signum, step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def _weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "signum, schedules",
    [
        (signal.SIGINT, ["sampling.slope=0.05"]),
        # schedules fitted to the run: ε reaches 0 at half the run, the learning rate warms up
        # over a quarter of it, then a cosine; functions of (step, max_steps), so exact on resume
        (signal.SIGTERM, ["sampling.end=0.5", "optim.scheduler=cosine", "optim.warmup=0.25"]),
    ],
)
def test_a_signal_leaves_a_checkpoint_that_resumes_exactly(signum, schedules, tmp_path, capsys):
    common = [*SMOKE, "sampling=linear", *schedules, "callbacks.media=null", "test=false",
              "callbacks.progress_bar=null", "data.train_size=24"]  # fmt: skip
    train(compose("train", tmp_path / "straight", [*common, "trainer.max_steps=12"]))
    with pytest.raises(SystemExit) as exit_info:
        train(compose("train", tmp_path / "stopped", [*common, "trainer.max_steps=12"]),
              extra_callbacks=[SendSignal(signum, 5)])  # fmt: skip
    assert exit_info.value.code == 128 + signum
    err = capsys.readouterr()
    assert f"{signal.Signals(signum).name} received: stopping after this step" in err.err
    assert "interrupted at step 5" in err.out and re.search(r"^resume with:  \S*predrnn-train ", err.out, re.M)
    last = tmp_path / "stopped" / "run" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 5
    import json

    assert json.loads((last.parents[1] / "summary.json").read_text())["status"] == "interrupted"
    train(compose("train", tmp_path / "resumed", [*common, "trainer.max_steps=12", f"ckpt_path={last}"]))
    straight = _weights(tmp_path / "straight" / "run" / "checkpoints" / "last.ckpt")
    resumed = _weights(tmp_path / "resumed" / "run" / "checkpoints" / "last.ckpt")
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=1e-6, msg=key)
    if "sampling.end=0.5" in schedules:  # the straight run's logs: fitted to its 12 steps
        import csv

        with open(tmp_path / "straight" / "run" / "csv" / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        p = {int(float(r["sampling/step"])): float(r["sampling/decoder_p"]) for r in rows if r.get("sampling/step")}
        assert len(p) >= 2 and max(p) >= 6  # logged before and after the end of the curve
        assert all(v == pytest.approx(max(0.0, 1 - k / 6)) for k, v in p.items())  # 1 → 0 at step 6
        from predrnn.training.optim import warmup_cosine

        lrs = {int(r["step"]): float(r["lr-Adam"]) for r in rows if r.get("lr-Adam")}
        assert len(lrs) >= 2  # warm-up over round(0.25 × 12) = 3 steps, then the cosine to step 12
        assert all(lr == pytest.approx(1e-3 * warmup_cosine(k, total=12, warmup=3)) for k, lr in lrs.items())


def test_strips_name_their_rows():
    from predrnn.training import media

    frames = torch.zeros(3, 1, 16, 16)
    image = media.strip(frames, frames[:2], frames[:2])
    assert image.shape == (3 * 16 + 2 * 2, media.LABEL_WIDTH + 2 + 3 * 18 - 2)
    labels = image[:, : media.LABEL_WIDTH]
    for r in range(3):  # white text in each row of the label column, on grey
        assert (labels[r * 18 : r * 18 + 16] > 160).any()
    assert (image[:16, media.LABEL_WIDTH + 2 : media.LABEL_WIDTH + 18] == 0).all()  # the first frame, after it


def test_the_printed_eval_command_reproduces_the_run(tmp_path, monkeypatch, capsys):
    """A run on data whose path needs quoting (a space, a comma, an `=`), with its own window
    length, metrics and baselines: its printed eval command, split as a shell splits it, scores
    the run's test set as the run did."""
    import h5py
    import numpy as np

    from helpers import run_main

    folder = tmp_path / "my data,v2"
    folder.mkdir()
    with h5py.File(folder / "t=1.h5", "w") as f:
        f["x"] = np.random.default_rng(0).random((6, 12, 16, 16)).astype(np.float32)
    train_args = (
        "predrnn-train", "trainer=cpu", "logger=csv", "model.hidden_channels=[4]", "model.patch_size=2",
        "data=arrays", f"data.path='{folder / 't=1.h5'}'", "data.key=x", "data.input_length=4",
        "data.total_length=8", "data.batch_size=2", "trainer.max_steps=2", "callbacks.media=null", "~metrics.ssim",
        "+metrics.events._target_=predrnn.metrics.events.EventScores", "+metrics.events.thresholds=[0.5]",
        "baselines=[zeros]",
    )  # fmt: skip
    code, err, out = run_main(train_args, tmp_path, monkeypatch, capsys, stdout=True)
    assert code == 0, err
    (evaluate,) = re.findall(r"^evaluate:\s+(\S*predrnn-eval .*)$", out, re.M)
    assert "data.total_length=8" in evaluate and "\"data.path='" in evaluate
    code, err = run_main(_by_name(evaluate), tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    tested = json.loads((run_dir / "summary.json").read_text())["test"]
    (eval_dir,) = (tmp_path / "logs" / "eval" / "runs").iterdir()
    evaluated = json.loads((eval_dir / "metrics.json").read_text())
    assert "ssim" not in evaluated and set(evaluated["baselines"]) == {"zeros"}
    scores = [k for k, v in tested.items() if isinstance(v, float)]
    assert "csi_0.5" in scores and "mse" in scores
    for key in scores:
        assert evaluated[key] == pytest.approx(tested[key], rel=1e-6), key
