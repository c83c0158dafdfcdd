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


def _report(sweep: Path, capsys) -> tuple[list[str], list[str], dict]:
    """predrnn-report in this process: the table's lines, stderr's lines, the CSV's rows by config."""
    from predrnn.cli import report

    capsys.readouterr()
    report.main([str(sweep)])
    captured = capsys.readouterr()
    table = [line for line in captured.out.splitlines() if line.startswith("|")]
    rows = list(csv.DictReader((sweep / "report.csv").read_text().splitlines()))
    return table, captured.err.strip().splitlines(), rows


def test_report_counts_a_repeated_seed_once_and_one_spelling_of_a_value(tmp_path, capsys):
    """`seed=1,1` is one seed, not two with zero spread; `[8,8]` and `[8, 8]` are one value."""
    import statistics

    sweep = tmp_path / "sweep"
    done = {"status": "finished", "best_val_mse": 1.0, "global_step": 8}
    for job, (width, seed, mse) in enumerate([("[8,8]", 1, 60.0), ("[8, 8]", 1, 60.0), ("[8, 8]", 2, 64.0),
                                              ("[16]", 1, 70.0)]):  # fmt: skip
        _fake_job(sweep, job, [f"model.hidden_channels={width}", f"seed={seed}"], done, {"mse": mse,
                  "mse_per_frame": [mse, mse]})  # fmt: skip
    table, err, rows = _report(sweep, capsys)
    assert len(rows) == 2 and not err and sum("| [8,8] |" in line for line in table) == 1
    by_width = {r["model.hidden_channels"]: r for r in rows}
    assert set(by_width) == {"[8,8]", "[16]"}
    eight = by_width["[8,8]"]
    assert eight["seeds"] == "2" and "job 1 repeated (seed 1 again, as job 0: counted once)" in eight["status"]
    assert float(eight["test_mse_std"]) == pytest.approx(statistics.stdev([60.0, 64.0]))


def test_report_leaves_out_linked_jobs_and_copes_with_odd_names_and_deep_files(tmp_path, capsys):
    """A job folder linked to another run is not tabulated (one note); a job folder named with
    bytes that are not UTF-8 or with a non-ASCII digit, and a summary.json nested too deeply
    to parse, are reported, not tracebacks."""
    import os

    sweep, other = tmp_path / "sweep", tmp_path / "unrelated"
    done = {"status": "finished", "best_val_mse": 1.0, "global_step": 8}
    _fake_job(sweep, 0, ["sampling=linear"], done, {"mse": 50.0, "mse_per_frame": [50.0]})
    _fake_job(other, 0, ["sampling=linear"], done, {"mse": 999.0, "mse_per_frame": [999.0]})
    (sweep / "1").symlink_to(other / "0")
    for name in ("²", os.fsdecode(b"job\xff")):
        (sweep / name / ".hydra").mkdir(parents=True)
        (sweep / name / ".hydra" / "overrides.yaml").write_text("- sampling=reverse\n")
        (sweep / name / "summary.json").write_text(json.dumps(done))
    _fake_job(sweep, 2, ["sampling=exponential"], None)
    (sweep / "2" / "summary.json").write_text("[" * 100_000)
    table, err, rows = _report(sweep, capsys)
    assert not any("999" in line for line in table)  # the linked run's score is not tabulated
    assert len(err) == 1 and "1 is a link to another folder, not a job of this sweep: left out" in err[0]
    by_sampling = {r["sampling"]: r for r in rows}
    assert by_sampling["linear"]["seeds"] == "1" and float(by_sampling["linear"]["test_mse_mean"]) == 50.0
    assert by_sampling["reverse"]["seeds"] == "2" and "job\ufffd" in by_sampling["reverse"]["jobs"]
    assert "job 2 unfinished" in by_sampling["exponential"]["status"]


def test_sigterm_during_the_report_leaves_nothing(tmp_path):
    """SIGTERM while the report writes (its plot of many configurations): one line, exit 143,
    no temporary file and no report left."""
    import signal
    import subprocess
    import time

    from helpers import script

    sweep = tmp_path / "sweep"
    done = {"status": "finished", "best_val_mse": 1.0, "global_step": 8}
    for job in range(300):
        _fake_job(sweep, job, [f"optim.lr={job + 1}e-4"], done, {"mse": job, "mse_per_frame": [job] * 10})
    proc = subprocess.Popen([script("predrnn-report"), str(sweep)], env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not list(sweep.glob(".report*.tmp*")):
            assert proc.poll() is None and time.monotonic() < deadline, "the report ended before it was signalled"
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=60)[1].strip().splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err == ["predrnn-report: SIGTERM received: stopped; no report written or changed"]
    assert sorted(p.name for p in sweep.iterdir() if not p.name.isdigit()) == []


def test_a_job_folder_that_holds_files_is_refused_the_others_run(tmp_path):
    """hydra.sweep.dir at a folder whose job folder 0 holds a user's files: that job is refused in
    one line and its files are kept; job 1 runs. overwrite=true writes into it."""
    sweep = tmp_path / "sweep"
    (sweep / "0" / "checkpoints").mkdir(parents=True)
    (sweep / "0" / "metrics.json").write_text('{"mine": 1}')
    (sweep / "0" / "checkpoints" / "last.ckpt").write_bytes(b"precious")
    args = ["predrnn-train", "-m", *FAST, "trainer.max_steps=2", "test=false", "logger=csv", f"hydra.sweep.dir={sweep}",
            "seed=1,2"]  # fmt: skip
    proc = run(args, tmp_path, check=False)
    lines = [line for line in proc.stderr.splitlines() if ": error: " in line]
    assert lines == [f"predrnn-train: error: hydra.sweep.dir={sweep / '0'} already holds files (checkpoints, metrics.json) "
                     "that a run would replace: choose another folder, or set overwrite=true to write into it"]  # fmt: skip
    assert (sweep / "0" / "metrics.json").read_text() == '{"mine": 1}'
    assert (sweep / "0" / "checkpoints" / "last.ckpt").read_bytes() == b"precious"
    assert json.loads((sweep / "1" / "summary.json").read_text())["status"] == "finished"
    assert "already holds files" in (sweep / "0" / "error.txt").read_text()
    run([*args[:-1], "seed=1", "overwrite=true"], tmp_path)  # the user asked: job 0 is written, its old error goes
    assert json.loads((sweep / "0" / "summary.json").read_text())["status"] == "finished"
    assert not (sweep / "0" / "error.txt").exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a device that is always full)")
def test_a_job_that_fills_the_disk_ends_with_its_line(tmp_path, monkeypatch, capsys):
    """A job whose write fails with ENOSPC (a full disk) is one line in a sweep, not a
    traceback that ends the sweep: the other jobs run."""
    import sys

    import hydra

    from predrnn.cli.entry import report_errors
    from predrnn.config_groups import CONF_DIR

    done = []

    def task(cfg):
        if cfg.seed == 1:
            with open("/dev/full", "w") as f:  # writes to it fail as on a full disk
                f.write("a run's output")
        done.append(cfg.seed)
        return 0.0

    main = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")(
        report_errors("predrnn-train")(task)
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["predrnn-train", "-m", f"hydra.sweep.dir={tmp_path / 'sweep'}", "seed=1,2"])
    main()
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert err == ["predrnn-train: error: the disk is full (No space left on device): free space, or set "
                   "paths.log_dir=DIR (or PREDRNN_ROOT=DIR) to a folder on another disk"]  # fmt: skip
    assert done == [2]
    assert (tmp_path / "sweep" / "0" / "error.txt").read_text().strip() == err[0]
