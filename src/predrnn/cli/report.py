"""`predrnn-report <multirun folder>`: compare the configurations of a sweep across seeds.

Jobs that differ only in `seed` are one configuration. The report prints a Markdown table (the
overrides that vary across configurations, how many seeds finished, and the mean ± standard
deviation over seeds of the validation and test metrics, best first; configurations with no
finished job last, with why), writes it as `report.csv` (one row per configuration with
`<metric>_mean`, `<metric>_std` and `seeds` columns) and plots the mean test MSE per future
frame of each configuration with a ± std band (`report_mse_per_frame.png`).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
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


def varying(jobs: list[dict[str, Any]]) -> list[str]:
    """Override keys whose value is not the same in every job."""
    keys = sorted({k for j in jobs for k in j["overrides"]})
    return [k for k in keys if len({j["overrides"].get(k) for j in jobs}) > 1]


def group(jobs: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """One record per configuration (the varying overrides other than `seed`), with the mean
    and sample standard deviation of each metric over its finished jobs, best first."""
    config_keys = [k for k in keys if k != "seed"]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for job in jobs:
        groups.setdefault(tuple(job["overrides"].get(k, "") for k in config_keys), []).append(job)
    records = []
    for values, members in groups.items():
        done = [j for j in members if j["status"] == "finished"]
        record: dict[str, Any] = {"config": dict(zip(config_keys, values, strict=True)), "seeds": len(done),
                                  "jobs": [j["job"] for j in members]}  # fmt: skip
        others = [j for j in members if j["status"] != "finished"]
        record["status"] = f"{len(done)}/{len(members)} finished" + "".join(
            f"; job {j['job']} {j['status']}" + (f" ({j['note']})" if j["note"] else "") for j in others
        )
        for column in COLUMNS:
            values_ = [float(j[column]) for j in done if j[column] is not None and not math.isnan(float(j[column]))]
            record[f"{column}_mean"] = statistics.fmean(values_) if values_ else None
            record[f"{column}_std"] = statistics.stdev(values_) if len(values_) > 1 else None
        curves = [j["mse_per_frame"] for j in done if j["mse_per_frame"]]
        if curves and len({len(c) for c in curves}) == 1:
            frames = list(zip(*curves, strict=True))
            record["mse_per_frame_mean"] = [statistics.fmean(f) for f in frames]
            record["mse_per_frame_std"] = [statistics.stdev(f) if len(f) > 1 else 0.0 for f in frames]
        records.append(record)
    return sorted(records, key=_rank)


def _rank(record: dict[str, Any]) -> tuple[int, float]:
    score = record["test_mse_mean"] if record["test_mse_mean"] is not None else record["best_val_mse_mean"]
    return (0, score) if record["seeds"] and score is not None else (1, math.inf)


def _fmt(mean: float | None, std: float | None = None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.4g}" if std is None else f"{mean:.4g} ± {std:.2g}"


def markdown(records: list[dict[str, Any]]) -> str:
    keys = list(records[0]["config"]) if records else []
    header = ["rank", *keys, "seeds", "status", *COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, r in enumerate(records, start=1):
        row = [str(i), *(str(r["config"][k]) for k in keys), str(r["seeds"]), r["status"]]
        row += [_fmt(r[f"{c}_mean"], r[f"{c}_std"]) for c in COLUMNS]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_csv(path: Path, records: list[dict[str, Any]]) -> None:
    keys = list(records[0]["config"]) if records else []
    stats = [f"{c}_{s}" for c in COLUMNS for s in ("mean", "std")]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", *keys, "seeds", "status", "jobs", *stats])
        for i, r in enumerate(records, start=1):
            writer.writerow([i, *(r["config"][k] for k in keys), r["seeds"], r["status"], " ".join(r["jobs"]),
                             *("" if r[s] is None else r[s] for s in stats)])  # fmt: skip


def report(folder: Path) -> tuple[str, Path, Path | None]:
    from predrnn.training.media import plot_per_frame

    jobs = collect(folder)
    if not jobs:
        raise FileNotFoundError(f"no job folders (with .hydra/) in {folder}: give a multirun folder")
    records = group(jobs, varying(jobs))
    table = markdown(records)
    csv_path = folder / "report.csv"
    write_csv(csv_path, records)
    curves = {
        " ".join(f"{k}={v}" for k, v in r["config"].items()) or "all jobs": {
            "mse_per_frame": r["mse_per_frame_mean"], "mse_per_frame_std": r["mse_per_frame_std"],
        }
        for r in records
        if r.get("mse_per_frame_mean")
    }  # fmt: skip
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
