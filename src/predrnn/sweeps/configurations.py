"""The configurations of a sweep: jobs that differ only in `seed` are one configuration, with the
mean and standard deviation over its finished seeds of every value and per-frame curve, ranked
by the metric the sweep optimised."""

from __future__ import annotations

import math
import statistics
from typing import Any

from predrnn.sweeps.jobs import BEST


def columns(jobs: list[dict[str, Any]]) -> list[str]:
    """Every value column any job has, in the order they first appear, then `steps`."""
    return [*dict.fromkeys(k for j in jobs for k in j["values"]), "steps"]


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
