"""`predrnn-report <multirun folder>`: compare the jobs of a sweep.

Prints a Markdown table (the overrides that vary across jobs against each job's final
validation and test metrics, best first; failed and unfinished jobs listed last), writes it
as `report.csv` and plots the test MSE per future frame of every job (`report_mse_per_frame.png`).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import yaml

COLUMNS = ("best_val_mse", "val_ssim", "test_mse", "test_mae", "test_ssim", "test_psnr", "steps")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def collect(folder: Path) -> list[dict[str, Any]]:
    """One record per job folder (a folder with `.hydra/overrides.yaml`)."""
    jobs = []
    for job in sorted((p for p in folder.iterdir() if (p / ".hydra").is_dir()), key=_job_key):
        try:
            overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) or []
        except (OSError, yaml.YAMLError):
            overrides = []
        summary = _read_json(job / "summary.json") or {}
        metrics = _read_json(job / "metrics.json") or summary.get("test") or {}
        val = summary.get("val") or {}
        if (job / "error.txt").is_file():
            status, note = "failed", (job / "error.txt").read_text().strip().split(": error: ")[-1]
        else:
            status, note = summary.get("status", "unfinished"), ""
        jobs.append(
            {
                "job": job.name,
                "status": status,
                "overrides": dict(o.split("=", 1) for o in overrides if "=" in o),
                "best_val_mse": summary.get("best_val_mse"),
                "val_ssim": val.get("ssim"),
                "test_mse": metrics.get("mse"),
                "test_mae": metrics.get("mae"),
                "test_ssim": metrics.get("ssim"),
                "test_psnr": metrics.get("psnr"),
                "steps": summary.get("global_step"),
                "mse_per_frame": metrics.get("mse_per_frame"),
                "note": note,
            }
        )
    return jobs


def _job_key(path: Path) -> tuple[int, str]:
    return (int(path.name), "") if path.name.isdigit() else (sys.maxsize, path.name)


def _rank(job: dict[str, Any]) -> tuple[int, float]:
    score = job["test_mse"] if job["test_mse"] is not None else job["best_val_mse"]
    ok = job["status"] == "finished" and score is not None and not math.isnan(score)
    return (0 if ok else 1, score if ok else math.inf)


def varying(jobs: list[dict[str, Any]]) -> list[str]:
    """Override keys whose value is not the same in every job."""
    keys = sorted({k for j in jobs for k in j["overrides"]})
    return [k for k in keys if len({j["overrides"].get(k) for j in jobs}) > 1]


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def markdown(jobs: list[dict[str, Any]], keys: list[str]) -> str:
    header = ["rank", "job", "status", *keys, *COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, job in enumerate(jobs, start=1):
        row = [str(i), job["job"], job["status"] + (f" ({job['note']})" if job["note"] else "")]
        row += [job["overrides"].get(k, "") for k in keys]
        row += [_fmt(job[c]) for c in COLUMNS]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_csv(path: Path, jobs: list[dict[str, Any]], keys: list[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", "job", "status", "note", *keys, *COLUMNS])
        for i, job in enumerate(jobs, start=1):
            writer.writerow(
                [i, job["job"], job["status"], job["note"], *(job["overrides"].get(k, "") for k in keys),
                 *(job[c] for c in COLUMNS)]
            )  # fmt: skip


def report(folder: Path) -> tuple[str, Path, Path | None]:
    from predrnn.training.media import plot_per_frame

    jobs = sorted(collect(folder), key=_rank)
    if not jobs:
        raise FileNotFoundError(f"no job folders (with .hydra/) in {folder}: give a multirun folder")
    keys = varying(jobs)
    table = markdown(jobs, keys)
    csv_path = folder / "report.csv"
    write_csv(csv_path, jobs, keys)
    curves = {
        f"{j['job']}: " + " ".join(f"{k}={j['overrides'].get(k, '')}" for k in keys): {
            "mse_per_frame": j["mse_per_frame"]
        }
        for j in jobs
        if j["mse_per_frame"]
    }
    plot = plot_per_frame(folder / "report_mse_per_frame.png", curves) if curves else None
    return table, csv_path, plot


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="predrnn-report", description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="a multirun folder, e.g. logs/train/multiruns/<time>")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"predrnn-report: error: {args.folder} is not a folder: give a multirun folder", file=sys.stderr)
        sys.exit(2)
    try:
        table, csv_path, plot = report(args.folder)
    except FileNotFoundError as err:
        print(f"predrnn-report: error: {err}", file=sys.stderr)
        sys.exit(2)
    print(table)
    print(f"\nCSV: {csv_path}" + (f"\nplot: {plot}" if plot else ""))


if __name__ == "__main__":
    main()
