"""The console scripts end to end, as a user runs them (subprocesses in a scratch folder)."""

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import ENV, broken_compiler, needs_cpu_compiler, run, run_main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("cli")
    run(["predrnn-train", "experiment=smoke"], cwd)
    (run_dir,) = (cwd / "logs" / "train" / "runs").iterdir()
    return run_dir


def test_train_writes_run_folder(smoke_run):
    assert (smoke_run / "checkpoints" / "last.ckpt").is_file()
    assert list((smoke_run / "checkpoints").glob("best-*.ckpt"))
    assert (smoke_run / ".hydra" / "config.yaml").is_file()  # the composed config
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert len(metrics["mse_per_frame"]) == 10 and metrics["num_sequences"] == 8
    assert 0 < metrics["mse"] < 1000 and 0 <= metrics["ssim"] <= 1
    assert (smoke_run / "metrics_per_frame.png").is_file()
    assert list((smoke_run / "media").glob("val_*.png")) and list((smoke_run / "media").glob("test_*.gif"))
    summary = json.loads((smoke_run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["global_step"] == 16
    # what is needed to reproduce it
    rec = summary["reproduce"]
    assert rec["predrnn"] and rec["torch"] and rec["lightning"] and rec["device"] == "cpu" and rec["seed"] == 42
    assert rec["git"] is None or len(rec["git"]["commit"]) == 40  # a checkout records its commit
    assert rec["test_set"]["seed"] == 2017 and rec["test_set"]["size"] == 8 and rec["test_set"]["digits"] == "bundled"
    # the baselines beside the model, on the same sequences and in the same conventions
    base = metrics["baselines"]
    assert set(base) == {"zeros", "copy_last"} and all({"mse", "mae", "ssim", "psnr"} <= set(b) for b in base.values())
    assert 150 < base["zeros"]["mse"] < 200 and base["copy_last"]["mse"] > base["zeros"]["mse"]


def test_eval_and_predict_on_checkpoint(smoke_run, tmp_path, monkeypatch, capsys):
    cwd = smoke_run.parents[3]
    ckpt = smoke_run / "checkpoints" / "last.ckpt"
    proc = run(["predrnn-eval", f"ckpt_path={ckpt}", "data.test_size=6", "data.num_workers=0"], cwd)
    assert "MSE" in proc.stdout  # the per-frame table
    broken = {**ENV, "CXX": str(broken_compiler(tmp_path))}
    bad = run(["predrnn-eval", f"ckpt_path={ckpt}", "module.compile=default"], cwd, False, broken)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith(
        "predrnn-eval: error: module.compile=default on the CPU needs a working C++ compiler for torch.compile (g++: fatal"
    )
    evals = list((cwd / "logs" / "eval" / "runs").glob("*/metrics.json"))
    assert len(evals) == 1
    metrics = json.loads(evals[0].read_text())
    for key in ("mse", "mae", "ssim", "psnr"):
        assert len(metrics[f"{key}_per_frame"]) == 10
    assert metrics["num_sequences"] == 6 and metrics["checkpoint"] == str(ckpt)
    assert (evals[0].parent / "metrics_per_frame.png").is_file()

    clip = (np.random.default_rng(0).random((2, 12, 64, 64)) * 255).astype(np.uint8)
    np.save(tmp_path / "clip.npy", clip)
    run(
        [
            "predrnn-predict",
            "ckpt_path=last",
            f"input={tmp_path / 'clip.npy'}",
            f"output={tmp_path / 'p.npy'}",
        ],
        cwd,
    )
    pred = np.load(tmp_path / "p.npy")
    assert pred.shape == (2, 10, 64, 64) and pred.dtype == np.uint8
    assert (tmp_path / "p_preview.gif").is_file()
    # a GIF input and a folder of PNGs work too; a float clip keeps its dtype
    import imageio.v2 as imageio

    imageio.mimsave(tmp_path / "clip.gif", list(clip[0]))
    (tmp_path / "pngs").mkdir()
    for i, frame in enumerate(clip[1]):
        imageio.imwrite(tmp_path / "pngs" / f"{i:03d}.png", frame)
    np.save(tmp_path / "f.npy", clip[0, :10].astype(np.float32) / 255)
    # predictions come in the input's layout: a video or frame folder (N, K, H, W), a (T, H, W) array (K, H, W)
    # (in this process: the console script itself ran above)
    for src, dtype, shape in (("clip.gif", np.uint8, (1, 10, 64, 64)), ("pngs", np.uint8, (1, 10, 64, 64)),
                              ("f.npy", np.float32, (10, 64, 64))):  # fmt: skip
        argv = ("predrnn-predict", f"ckpt_path={ckpt}", f"input={tmp_path / src}", f"output={tmp_path / 'o.npy'}",
                "overwrite=true")  # fmt: skip
        code, err = run_main(argv, cwd, monkeypatch, capsys)
        assert code == 0, err
        out = np.load(tmp_path / "o.npy")
        assert out.shape == shape and out.dtype == dtype
    argv = ("predrnn-predict", f"ckpt_path={ckpt}", f"input={tmp_path / 'f.npy'}", "module.compile=fastest")
    code, err = run_main(argv, cwd, monkeypatch, capsys)
    assert code == 2 and err[-1].startswith(
        "predrnn-predict: error: module.compile='fastest' is unknown: use one of null, default,"
    )
    # compiled cells on a CPU whose C++ compiler is broken: one line before any work, no output
    out = tmp_path / "never.npy"
    bad = run(["predrnn-predict", f"ckpt_path={ckpt}", f"input={tmp_path / 'f.npy'}", f"output={out}",
               "module.compile=default"], cwd, False, broken)  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "predrnn-predict: error: module.compile=default on the CPU needs a working C++ compiler for torch.compile "
        "(g++: fatal error: cannot execute 'cc1plus': execvp: No such file or directory): install one "
        "(Debian/Ubuntu: apt-get install g++), point $CXX at one, or set module.compile=null"
    ]
    assert not out.exists()
    np.save(tmp_path / "small.npy", clip[:, :, :32, :32])
    code, err = run_main(("predrnn-predict", f"ckpt_path={ckpt}", f"input={tmp_path / 'small.npy'}"), cwd,
                         monkeypatch, capsys)  # fmt: skip
    assert code == 2 and err[-1].startswith(
        f"predrnn-predict: error: input={tmp_path / 'small.npy'} frames are 32x32x1, the model was trained on 64x64x1"
    )
    argv = ("predrnn-predict", f"ckpt_path={ckpt}", f"input={tmp_path / 'f.npy'}", "num_predictions=0")
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 2 and "num_predictions=0 must be at least 1" in err[-1]


@needs_cpu_compiler
def test_predict_fast_path_matches_plain(smoke_run, tmp_path):
    """Compiled cells and channels-last memory predict the same frames as the plain path."""
    cwd = smoke_run.parents[3]
    frames = np.random.default_rng(1).random((2, 10, 64, 64), dtype=np.float32)
    np.save(tmp_path / "f.npy", frames)
    outputs = {}
    for name, extra in (("plain", []), ("fast", ["module.compile=default", "module.channels_last=true"])):
        outputs[name] = tmp_path / f"{name}.npy"
        run(["predrnn-predict", "ckpt_path=last", f"input={tmp_path / 'f.npy'}", f"output={outputs[name]}",
             *extra], cwd)  # fmt: skip
    np.testing.assert_allclose(np.load(outputs["fast"]), np.load(outputs["plain"]), atol=1e-4)


def test_errors_exit_2_with_one_line(tmp_path):
    proc = run(["predrnn-train", "experiment=smoke", "model.patch_size=3"], tmp_path, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "predrnn-train: error: model.patch_size=3 must divide the frame size 64x64: e.g. model.patch_size=4"
    ]
    assert not (tmp_path / "logs" / "train" / "runs").exists() or not list(
        (tmp_path / "logs" / "train" / "runs").iterdir()
    )
    # (every other error is a row of test_errors.py, run in process through the same main)
    full = run(
        ["predrnn-train", "experiment=smoke", "model.patch_size=3"], tmp_path, False, {**ENV, "HYDRA_FULL_ERROR": "1"}
    )
    assert full.returncode != 0 and "Traceback" in full.stderr
    # compiled cells on a CPU whose C++ compiler is broken fail before the run writes anything
    broken = {**ENV, "CXX": str(broken_compiler(tmp_path))}
    proc = run(["predrnn-train", "experiment=smoke", "module.compile=default"], tmp_path, False, broken)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "predrnn-train: error: module.compile=default on the CPU needs a working C++ compiler for torch.compile "
        "(g++: fatal error: cannot execute 'cc1plus': execvp: No such file or directory): install one "
        "(Debian/Ubuntu: apt-get install g++), point $CXX at one, or set module.compile=null"
    ]
    written = {p.name for p in (tmp_path / "logs").rglob("*") if p.is_file()}
    assert not written & {"summary.json", "last.ckpt", "metrics.json"}


@pytest.mark.parametrize(
    "value",
    ["/data/radar v2/a.h5", "/data/a,b.h5", "/data/x=1.h5", "/data/run#3.npy", "/data/it's.npy", '/data/"q".npy',
     "/data/[1].npy", "/data/é.npy", "~/a.npy", "/data/$HOME.npy", "123", "true", "null", "plain.npy"],
)  # fmt: skip
def test_a_printed_override_reads_back_through_the_shell_and_hydra(value):
    import shlex

    from hydra.core.override_parser.overrides_parser import OverridesParser

    from predrnn.command_line import check_syntax, override_text

    (word,) = shlex.split(override_text("data.path", value))
    check_syntax([word])  # no sweep, nothing Hydra can't read
    assert OverridesParser.create().parse_override(word).value() == value


def test_the_eval_command_carries_the_runs_metrics_and_baselines(tmp_path):
    from helpers import compose
    from predrnn.command_line import evaluation_overrides

    cfg = compose("train", tmp_path, ["experiment=smoke", "metrics=nowcast", "metrics.events.thresholds=[10]"])
    assert evaluation_overrides(cfg, "nowcast") == ["metrics=nowcast", '"metrics.events.thresholds=[10]"']
    cfg = compose("train", tmp_path, ["experiment=smoke", "~metrics.lpips", "metrics.ssim._target_=my.SSIM",
                                      "baselines=[zeros]"])  # fmt: skip
    assert evaluation_overrides(cfg) == ['"~metrics.lpips"', "metrics.ssim._target_=my.SSIM", '"baselines=[zeros]"']
    assert evaluation_overrides(compose("train", tmp_path, ["experiment=smoke"])) == []
    fast = compose("train", tmp_path, ["experiment=smoke", "trainer.precision=bf16-mixed"])
    assert evaluation_overrides(fast) == ["trainer.precision=bf16-mixed"]
