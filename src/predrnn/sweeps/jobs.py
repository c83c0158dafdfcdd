"""The jobs of a multirun folder (a sweep): one record per job folder (a folder with
`.hydra/overrides.yaml`), read from what the job wrote (`.hydra/`, `summary.json`,
`metrics.json`, `error.txt`), every file read as plain data and anything odd read as missing."""

from __future__ import annotations

import json
import sys
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


def shown(name: str) -> str:
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
                notes.append(f"{shown(str(job))} is a link to another folder, not a job of this sweep: left out")
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
                "job": shown(job.name), "status": status, "note": note, "steps": summary.get("global_step"),
                "overrides": overrides, "seed": overrides.get("seed", None if seed is None else str(seed)),
                "values": values, "curves": curves, "baselines": baselines, "optimised": _optimised(job),
            }
        )  # fmt: skip
    return jobs


def _job_key(path: Path) -> tuple[int, str]:
    """Hydra's job folders (0, 1, …) in number order, any other name after them."""
    name = path.name
    return (int(name), "") if name.isascii() and name.isdigit() else (sys.maxsize, shown(name))
