"""`predrnn-report <multirun folder>`: compare the configurations of a sweep across seeds.

Jobs that differ only in `seed` are one configuration. The report prints a Markdown table (the
overrides that vary across configurations, how many seeds finished, and the mean ± standard
deviation over seeds of every validation and test metric the jobs wrote, best first by the
metric the sweep optimised; configurations with no finished job last, with why), writes it as
`report.csv` (one row per configuration with `<column>_mean`, `<column>_std` and `seeds`
columns) and plots the mean test metrics per future frame of each configuration with a ± std
band, the zeros and copy-last baselines dashed (`report_per_frame.png`).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import signal
import statistics
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

BEST = "best_val_mse"  # the checkpoint callback's best validation value (summary.json)


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at `path`; None if it is missing, unreadable, not a plain file (a FIFO
    would block), nested too deeply to parse, or not an object."""
    try:
        if not path.is_file():
            return None
        value = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _read_yaml(path: Path) -> Any:
    """The YAML document at `path` (safe: plain data only); None as `_read_json` says."""
    try:
        return yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, ValueError, RecursionError, yaml.YAMLError):
        return None


def _shown(name: str) -> str:
    """A file name as it can be printed and written to the CSV: bytes that are not UTF-8 (kept
    by Python as surrogates) become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _canonical(override: str) -> tuple[str, str] | None:
    """(key, value) of an override as Hydra reads it, the value in one spelling (`[8,8]` and
    `[8, 8]` are one value); None for something that is not an override."""
    key, sep, value = override.partition("=")
    if not sep:
        return None
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parsed = OverridesParser.create().parse_overrides([override])[0]
        return parsed.get_key_element(), parsed.get_value_element_as_str()
    except Exception:  # Hydra's grammar errors: the text as written
        return key.strip(), value.strip()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _scalars(results: dict[str, Any], prefix: str) -> dict[str, Any]:
    """`prefix_<name>` for every metric of a results dict (each has a `<name>_per_frame`)."""
    names = [k.removesuffix("_per_frame") for k in results if k.endswith("_per_frame")]
    return {f"{prefix}_{n}": results.get(n) for n in names}


def _optimised(job: Path) -> tuple[str | None, str]:
    """The column a job's sweep optimised (`optimized_metric`, e.g. val/mse -> best_val_mse) and
    its direction (the sweeper's, minimize by default)."""
    config, hydra = _dict(_read_yaml(job / ".hydra" / "config.yaml")), _dict(_read_yaml(job / ".hydra" / "hydra.yaml"))
    metric = config.get("optimized_metric")
    direction = str(((hydra.get("hydra") or {}).get("sweeper") or {}).get("direction") or "minimize").lower()
    if not isinstance(metric, str) or "/" not in metric:
        return None, direction
    stage, name = metric.split("/", 1)
    column = BEST if metric == "val/mse" else f"{stage}_{name.replace('/', '_')}"
    return column, "maximize" if direction.startswith("max") else "minimize"


def _linked(job: Path) -> bool:
    """A job folder that is a link, or whose `.hydra` is: another run's, not a job of this sweep."""
    return job.is_symlink() or (job / ".hydra").is_symlink()


def collect(folder: Path, notes: list[str] | None = None) -> list[dict[str, Any]]:
    """One record per job folder (a folder with `.hydra/overrides.yaml`); a job folder that is
    a link is left out (with a note), as it is not a job of this sweep."""
    jobs = []
    for job in sorted((p for p in folder.iterdir() if (p / ".hydra").is_dir()), key=_job_key):
        if _linked(job):
            if notes is not None:
                notes.append(f"{_shown(str(job))} is a link to another folder, not a job of this sweep: left out")
            continue
        overrides = _read_yaml(job / ".hydra" / "overrides.yaml") or []
        if not isinstance(overrides, list):
            overrides = []
        pairs = [_canonical(o) for o in overrides if isinstance(o, str)]
        seed = _dict(_read_yaml(job / ".hydra" / "config.yaml")).get("seed")
        summary = _read_json(job / "summary.json") or {}
        metrics = _read_json(job / "metrics.json") or _dict(summary.get("test"))
        if (job / "error.txt").is_file():
            status, note = "failed", (job / "error.txt").read_text(errors="replace").strip().split(": error: ")[-1]
        else:
            status, note = str(summary.get("status", "unfinished")), ""
        values = {BEST: summary.get(BEST), **_scalars(_dict(summary.get("val")), "val"), **_scalars(metrics, "test")}
        curves = {k: v for k, v in metrics.items() if k.endswith("_per_frame") and isinstance(v, list)}
        baselines = {b: {k: v for k, v in _dict(r).items() if k.endswith("_per_frame")}
                     for b, r in _dict(metrics.get("baselines")).items()}  # fmt: skip
        overrides = dict(p for p in pairs if p is not None)
        jobs.append(
            {
                "job": _shown(job.name), "status": status, "note": note, "steps": summary.get("global_step"),
                "overrides": overrides, "seed": overrides.get("seed", None if seed is None else str(seed)),
                "values": values, "curves": curves, "baselines": baselines, "optimised": _optimised(job),
            }
        )  # fmt: skip
    return jobs


def columns(jobs: list[dict[str, Any]]) -> list[str]:
    """Every value column any job has, in the order they first appear, then `steps`."""
    return [*dict.fromkeys(k for j in jobs for k in j["values"]), "steps"]


def _job_key(path: Path) -> tuple[int, str]:
    """Hydra's job folders (0, 1, …) in number order, any other name after them."""
    name = path.name
    return (int(name), "") if name.isascii() and name.isdigit() else (sys.maxsize, _shown(name))


def varying(jobs: list[dict[str, Any]]) -> list[str]:
    """Override keys whose value is not the same in every job."""
    keys = sorted({k for j in jobs for k in j["overrides"]})
    return [k for k in keys if len({j["overrides"].get(k) for j in jobs}) > 1]


def _number(value: Any) -> float | None:
    """A finite number, or None (a value that is missing, null, NaN or not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _mean_curves(curves: list[list], prefix: str = "") -> dict[str, list]:
    """The mean and std over seeds of each per-frame list the curves share."""
    out: dict[str, list] = {}
    for key in dict.fromkeys(k for c in curves for k in c):
        lists = [c[key] for c in curves if isinstance(c.get(key), list)]
        if not lists or len({len(x) for x in lists}) != 1:
            continue
        frames = [[v for v in f if _number(v) is not None] for f in zip(*lists, strict=True)]
        out[key] = [statistics.fmean(f) if f else None for f in frames]
        out[f"{key}_std"] = [statistics.stdev(f) if len(f) > 1 else 0.0 for f in frames]
    return out


def group(jobs: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """One record per configuration (the varying overrides other than `seed`), with the mean
    and sample standard deviation of each column over its finished jobs, best first by the
    optimised column."""
    config_keys = [k for k in keys if k != "seed"]
    names = columns(jobs)
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for job in jobs:
        groups.setdefault(tuple(job["overrides"].get(k, "") for k in config_keys), []).append(job)
    records = []
    for values, members in groups.items():
        done, seen = [], {}
        for j in members:  # a seed given twice (seed=1,1) is one seed: the repeat is not counted again
            if j["status"] == "finished" and j["seed"] is not None and j["seed"] in seen:
                j["status"], j["note"] = "repeated", f"seed {j['seed']} again, as job {seen[j['seed']]}: counted once"
            elif j["status"] == "finished":
                seen[j["seed"]] = j["job"]
                done.append(j)
        record: dict[str, Any] = {"config": dict(zip(config_keys, values, strict=True)), "seeds": len(done),
                                  "jobs": [j["job"] for j in members]}  # fmt: skip
        others = [j for j in members if j["status"] != "finished"]
        record["status"] = f"{len(done)}/{len(members)} finished" + "".join(
            f"; job {j['job']} {j['status']}" + (f" ({j['note']})" if j["note"] else "") for j in others
        )
        for column in names:
            found = [_number(j["steps"] if column == "steps" else j["values"].get(column)) for j in done]
            found = [v for v in found if v is not None]
            record[f"{column}_mean"] = statistics.fmean(found) if found else None
            record[f"{column}_std"] = statistics.stdev(found) if len(found) > 1 else None
        record["curves"] = _mean_curves([j["curves"] for j in done])
        record["baselines"] = {
            b: _mean_curves([j["baselines"][b] for j in done if b in j["baselines"]])
            for b in dict.fromkeys(b for j in done for b in j["baselines"])
        }
        records.append(record)
    column, direction = next((j["optimised"] for j in jobs if j["optimised"][0]), (None, "minimize"))
    ranking = [c for c in (column, BEST, "test_mse") if c in names]
    return sorted(records, key=lambda r: _rank(r, ranking[0] if ranking else None, direction))


def _rank(record: dict[str, Any], column: str | None, direction: str) -> tuple[int, float]:
    score = record.get(f"{column}_mean") if column else None
    if not record["seeds"] or score is None:
        return (1, math.inf)
    return (0, -score if direction == "maximize" else score)


def _fmt(mean: float | None, std: float | None = None) -> str:
    if mean is None:
        return "–"
    return f"{mean:.4g}" if std is None else f"{mean:.4g} ± {std:.2g}"


def markdown(records: list[dict[str, Any]], names: list[str]) -> str:
    keys = list(records[0]["config"]) if records else []
    header = ["rank", *keys, "seeds", "status", *names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, r in enumerate(records, start=1):
        row = [str(i), *(str(r["config"][k]) for k in keys), str(r["seeds"]), r["status"]]
        row += [_fmt(r[f"{c}_mean"], r[f"{c}_std"]) for c in names]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_csv(path: Path, records: list[dict[str, Any]], names: list[str]) -> None:
    keys = list(records[0]["config"]) if records else []
    stats = [f"{c}_{s}" for c in names for s in ("mean", "std")]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", *keys, "seeds", "status", "jobs", *stats])
        for i, r in enumerate(records, start=1):
            writer.writerow([i, *(r["config"][k] for k in keys), r["seeds"], r["status"], " ".join(r["jobs"]),
                             *("" if r[s] is None else r[s] for s in stats)])  # fmt: skip


def report(folder: Path, overwrite: bool = False) -> tuple[str, Path, Path | None]:
    """The table; `report.csv` and the plot are written together (both or neither), and an
    existing report is replaced only with `overwrite`."""
    from predrnn.files import atomic_outputs, check_output
    from predrnn.training.media import plot_per_frame

    notes: list[str] = []
    jobs = collect(folder, notes)
    for note in notes:
        print(f"predrnn-report: note: {note}", file=sys.stderr)
    if not jobs:
        raise FileNotFoundError(f"no job folders (with .hydra/) in {folder}: give a multirun folder")
    records = group(jobs, varying(jobs))
    names = columns(jobs)
    table = markdown(records, names)
    csv_path = check_output(folder / "report.csv", ".csv", "report", overwrite=overwrite)
    curves = {(" ".join(f"{k}={v}" for k, v in r["config"].items()) or "all jobs"): r["curves"]
              for r in records if r["curves"]}  # fmt: skip
    baselines = {}
    for r in records:  # the baselines score the same test sequences in every configuration: drawn once
        for name, curve in r["baselines"].items():
            baselines.setdefault(name, curve)
    plot = check_output(folder / "report_per_frame.png", ".png", "report", overwrite=overwrite) if curves else None
    with atomic_outputs([csv_path, plot] if plot else [csv_path], overwrite, "report") as temps:
        write_csv(temps[0], records, names)
        if plot is not None:
            plot_per_frame(temps[1], {**curves, **baselines}, dashed=list(baselines))
    return table, csv_path, plot


def main(argv: list[str] | None = None) -> None:
    from predrnn.errors import PredRNNError

    parser = argparse.ArgumentParser(prog="predrnn-report", description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="a multirun folder, e.g. logs/train/multiruns/<time>")
    parser.add_argument("overwrite", nargs="?", default="overwrite=false", help="overwrite=true replaces a report")
    args = parser.parse_args(argv)
    if args.overwrite not in ("overwrite=true", "overwrite=false"):
        print(f"predrnn-report: error: {args.overwrite} is not understood: use overwrite=true", file=sys.stderr)
        sys.exit(2)
    if not args.folder.is_dir():
        print(f"predrnn-report: error: {args.folder} is not a folder: give a multirun folder", file=sys.stderr)
        sys.exit(2)
    from predrnn.cli.entry import STOP_SIGNALS, Stopped, _stop

    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:  # a signal unwinds the writes: their temporary files go, nothing changed
            signal.signal(signum, _stop)
    try:
        table, csv_path, plot = report(args.folder, overwrite=args.overwrite == "overwrite=true")
    except (FileNotFoundError, PredRNNError) as err:
        print(f"predrnn-report: error: {' '.join(str(err).split())}", file=sys.stderr)
        sys.exit(2)
    except Stopped as stop:
        print(f"predrnn-report: {stop} received: stopped; no report written or changed", file=sys.stderr)
        sys.exit(128 + stop.signum)
    print(table)
    print(f"\nCSV: {_shown(str(csv_path))}" + (f"\nplot: {_shown(str(plot))}" if plot else ""))


if __name__ == "__main__":
    main()
