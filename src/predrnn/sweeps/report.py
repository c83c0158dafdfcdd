"""A sweep's report: the Markdown table, `report.csv` and the per-frame plot of its
configurations (`configurations.group`), written together, atomically."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from predrnn.files import atomic_outputs, check_output
from predrnn.sweeps.configurations import columns, group, varying
from predrnn.sweeps.jobs import collect


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


def report(
    folder: Path, overwrite: bool = False, note: Callable[[str], None] | None = None
) -> tuple[str, Path, Path | None]:
    """The Markdown table of the sweep in `folder`, and the paths of `report.csv` and the plot
    (None where no job has per-frame curves), written together (both or neither); an existing
    report is replaced only with `overwrite`. `note` is told of each job folder left out."""
    from predrnn.training.media import plot_per_frame  # matplotlib: only when a report is written

    notes: list[str] = []
    jobs = collect(folder, notes)
    for text in notes if note is not None else []:
        note(text)
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
