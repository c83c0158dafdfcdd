"""DDP on CPU (2 processes, gloo): one run folder, rank-zero files, metrics over every
sequence once (equal to one process), and the multirun + relaunch pitfall stopped."""

import json

import pytest

from helpers import ENV, run
from predrnn.threads import available_cpus

pytestmark = pytest.mark.slow


def test_ddp_cpu_training_and_metric_reduction(tmp_path):
    env = {k: v for k, v in ENV.items() if k != "OMP_NUM_THREADS"}  # each rank picks its own share
    run(["predrnn-train", "experiment=smoke", "trainer=ddp_cpu", "data.val_size=10", "data.test_size=11"], tmp_path,
        env=env)  # fmt: skip
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()  # exactly one run folder
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["global_step"] == 16
    assert summary["reproduce"]["cpu_threads"] == max(1, available_cpus() // 2)  # two ranks share the CPUs
    assert json.loads((run_dir / "metrics.json").read_text())["num_sequences"] == 11
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert len(ckpts) == 2 and "last.ckpt" in ckpts
    # 4 steps per epoch (32 sequences, batch 4, 2 ranks): one strip per validation, from rank zero
    strips = sorted(p.name for p in (run_dir / "media").glob("val_*.png"))
    assert strips == [f"val_step{s:07d}_seq0.png" for s in (4, 8, 12, 16)]
    assert len(list((run_dir / "media").glob("test_*.png"))) == 1

    ckpt = run_dir / "checkpoints" / "last.ckpt"
    for trainer in ("cpu", "ddp_cpu"):
        run(
            ["predrnn-eval", f"ckpt_path={ckpt}", f"trainer={trainer}", "data.test_size=11", "data.num_workers=0"],
            tmp_path,
        )
    one, two = (json.loads(p.read_text()) for p in sorted((tmp_path / "logs" / "eval" / "runs").glob("*/metrics.json")))
    assert one["num_sequences"] == two["num_sequences"] == 11  # 6 + 5 across the ranks, none twice
    for key in ("mse", "mae", "ssim", "psnr"):
        assert two[key] == pytest.approx(one[key], rel=1e-5)
        assert two[f"{key}_per_frame"] == pytest.approx(one[f"{key}_per_frame"], rel=1e-5)


def test_multirun_with_relaunching_ddp_stops_with_one_line(tmp_path):
    proc = run(["predrnn-train", "-m", "experiment=smoke", "trainer=ddp_cpu", "sampling=linear,exponential"], tmp_path)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("predrnn-train: error:")]
    assert len(errors) == 2 and "hydra/launcher=slurm" in errors[0]
    assert not list((tmp_path / "logs").rglob("*.ckpt"))
