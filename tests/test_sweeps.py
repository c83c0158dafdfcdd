"""Sweeps through the real CLI: basic, joblib and SLURM-config (submitit local) launchers,
Optuna with sqlite storage, wandb runs grouped per sweep, and the report."""

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from helpers import ENV, run
from predrnn.threads import available_cpus

pytestmark = pytest.mark.slow
FAST = ["experiment=smoke", "trainer.max_steps=8", "data.val_size=4", "data.test_size=4", "callbacks.media=null"]


def _sweep_dir(cwd: Path) -> Path:
    (folder,) = (cwd / "logs" / "train" / "multiruns").iterdir()
    return folder


def test_basic_multirun_with_a_failed_job_and_report(tmp_path):
    proc = run(
        ["predrnn-train", "-m", *FAST, "logger=wandb", "sampling=linear,exponential", "model.kernel_size=3,4"], tmp_path
    )
    sweep = _sweep_dir(tmp_path)
    jobs = sorted(p for p in sweep.iterdir() if p.name.isdigit())
    assert len(jobs) == 4
    assert proc.stderr.count("predrnn-train: error: model.kernel_size=4 must be odd") == 2
    ok = [j for j in jobs if (j / "metrics.json").is_file()]
    failed = [j for j in jobs if (j / "error.txt").is_file()]
    assert len(ok) == 2 and len(failed) == 2
    # each finished job has its own wandb run, grouped by the sweep folder's name
    for job in ok:
        (wandb_run,) = (job / "wandb").glob("offline-run-*")
        assert sweep.name.encode() in next(wandb_run.glob("run-*.wandb")).read_bytes()

    out = run(["predrnn-report", str(sweep)], tmp_path).stdout
    lines = [line for line in out.splitlines() if line.startswith("|")]
    assert "model.kernel_size" in lines[0] and "sampling" in lines[0] and "experiment" not in lines[0]
    assert "1/1 finished" in lines[2] and "0/1 finished; job" in lines[-1] and "failed" in lines[-1]
    rows = list(csv.DictReader((sweep / "report.csv").read_text().splitlines()))
    assert [r["seeds"] for r in rows] == ["1", "1", "0", "0"]
    mses = [float(r["test_mse_mean"]) for r in rows[:2]]
    assert all(0 < m < 1000 for m in mses)
    optimised = [float(r["best_val_mse_mean"]) for r in rows[:2]]  # the sweep optimises val/mse: ranked by it
    assert optimised == sorted(optimised)
    assert rows[0]["test_mse_std"] == ""  # one seed: no spread to report
    assert (sweep / "report_per_frame.png").stat().st_size > 0


def _fake_job(sweep: Path, job: int, overrides: list[str], summary: dict | None, metrics: dict | None = None) -> None:
    folder = sweep / str(job)
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))


def test_report_groups_seeds_into_mean_and_std(tmp_path):
    """Jobs that differ only in the seed are one configuration: mean ± sample std over seeds,
    one CSV row per configuration, a band in the plot; a failed seed is counted, not averaged."""
    import statistics

    sweep = tmp_path / "sweep"
    results = {"linear": [60.0, 64.0, 68.0], "reverse": [50.0, 51.0, None]}  # None: that job failed
    job = 0
    for curve, mses in results.items():
        for seed, mse in enumerate(mses):
            summary = None if mse is None else {"status": "finished", "best_val_mse": mse + 1, "global_step": 100}
            metrics = None if mse is None else {"mse": mse, "mae": 2 * mse, "ssim": 0.8, "psnr": 20.0,
                                                "mse_per_frame": [mse - 1, mse + 1]}  # fmt: skip
            _fake_job(sweep, job, [f"sampling={curve}", f"seed={seed}"], summary, metrics)
            if mse is None:
                (sweep / str(job) / "error.txt").write_text("predrnn-train: error: something broke\n")
            job += 1
    out = run(["predrnn-report", str(sweep)], tmp_path).stdout
    lines = [line for line in out.splitlines() if line.startswith("|")]
    assert "sampling" in lines[0] and "| seed |" not in lines[0]
    assert "| reverse | 2 | 2/3 finished; job 5 failed (something broke) |" in lines[2]
    assert "| linear | 3 | 3/3 finished |" in lines[3] and "64 ± 4" in lines[3]
    rows = {r["sampling"]: r for r in csv.DictReader((sweep / "report.csv").read_text().splitlines())}
    assert float(rows["linear"]["test_mse_mean"]) == pytest.approx(64.0)
    assert float(rows["linear"]["test_mse_std"]) == pytest.approx(statistics.stdev([60, 64, 68]))
    assert float(rows["reverse"]["test_mse_mean"]) == pytest.approx(50.5) and rows["reverse"]["seeds"] == "2"
    assert float(rows["linear"]["best_val_mse_mean"]) == pytest.approx(65.0)
    assert (sweep / "report_per_frame.png").stat().st_size > 0


def test_report_copes_with_unfinished_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    for name in ("0", "1"):
        (sweep / name / ".hydra").mkdir(parents=True)
        (sweep / name / ".hydra" / "overrides.yaml").write_text(f"- model.kernel_size={3 + 2 * int(name)}\n")
    (sweep / "0" / "summary.json").write_text(json.dumps({"status": "finished", "best_val_mse": 90.0}))
    out = run(["predrnn-report", str(sweep)], tmp_path).stdout
    assert "1/1 finished" in out and "0/1 finished; job 1 unfinished" in out
    bad = run(["predrnn-report", str(tmp_path / "nope")], tmp_path, check=False)
    assert bad.returncode == 2 and "is not a folder" in bad.stderr


@pytest.mark.parametrize("launcher", ["joblib", "slurm_local"])
def test_parallel_launchers(tmp_path, launcher):
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    env = {k: v for k, v in ENV.items() if k != "OMP_NUM_THREADS"}  # each job picks its own share
    run(["predrnn-train", "-m", *FAST, f"hydra/launcher={launcher}", *extra, "sampling=linear,reverse"], tmp_path,
        env=env)  # fmt: skip
    sweep = _sweep_dir(tmp_path)
    summaries = [json.loads((sweep / j / "summary.json").read_text()) for j in ("0", "1")]
    assert all(s["status"] == "finished" and s["global_step"] == 8 for s in summaries)
    if launcher == "joblib":  # two jobs side by side share the CPUs
        assert all(s["reproduce"]["cpu_threads"] == max(1, available_cpus() // 2) for s in summaries)
    assert summaries[0]["output_dir"] != summaries[1]["output_dir"]
    if launcher == "slurm_local":
        assert list((sweep / ".submitit").rglob("*_result.pkl"))


def test_slurm_config_composes_from_trainer(tmp_path):
    from helpers import compose

    cfg = compose(
        "train", tmp_path, ["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2"]
    )
    launcher = cfg.hydra.launcher
    assert launcher.tasks_per_node == 4 and launcher.gpus_per_node == 4 and launcher.nodes == 2
    assert launcher._target_.endswith("SlurmLauncher")


def test_optuna_two_trials_with_sqlite(tmp_path):
    db = tmp_path / "study.db"
    run(["predrnn-train", "-m", *FAST, "hparams_search=optuna", "hydra.sweeper.n_trials=2",
         f"hydra.sweeper.storage=sqlite:///{db}"], tmp_path)  # fmt: skip
    sweep = _sweep_dir(tmp_path)
    results = (sweep / "optimization_results.yaml").read_text()
    assert "best_params" in results and "best_value" in results
    with sqlite3.connect(db) as con:
        states = [s for (s,) in con.execute("select state from trials")]
        values = [v for (v,) in con.execute("select value from trial_values")]
    assert states == ["COMPLETE", "COMPLETE"] and all(0 < v < 1000 for v in values)
