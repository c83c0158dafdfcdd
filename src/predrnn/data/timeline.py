"""Times of a series, its gaps, its windows and its splits in time (docs/data.md, "Time,
windows and splits").

Pure numpy over datetime64[ns] arrays, no files: the reader (`xarray_source.py`) gives the times,
the data module (`xarray_datamodule.py`) asks which windows exist and which split each is in.

- The times must increase strictly: a time out of order or given twice is a DataError naming it.
- The step is `time_step` when given (a step the data never has is an error), else the most
  common difference between consecutive times.
- A gap-free run is a stretch of times one step apart; a window is `length` consecutive times of
  one run, so no window crosses a gap. Window starts follow `stride` from the start of each run.
- Splits are by time: train before the val date, val from it to the test date, test from the test
  date on; a window is in a split only if all its times are (none straddles a boundary). Without
  dates, the boundaries are the times that leave the last `val_fraction` / `test_fraction` of the
  record for validation / test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from predrnn.errors import BadValue, DataError
from predrnn.extras import require

SPLITS = ("train", "val", "test")
NS = np.dtype("datetime64[ns]")
_UNITS = ((86_400 * 10**9, "D"), (3_600 * 10**9, "h"), (60 * 10**9, "min"), (10**9, "s"), (10**6, "ms"), (10**3, "us"))


# --- text ------------------------------------------------------------------------------------
def iso(time: np.datetime64) -> str:
    """A time as ISO 8601 text, to the second where it has no fraction (2020-01-01T00:10:00)."""
    text = str(np.datetime64(time, "ns"))
    head, _, fraction = text.partition(".")
    return head if not fraction.strip("0") else f"{head}.{fraction.rstrip('0')}"


def step_text(step: np.timedelta64) -> str:
    """A duration in pandas' words: 10min, 1h, 1D, 30s (what `time_step` reads back)."""
    ns = int(np.timedelta64(step, "ns").astype(np.int64))
    for size, unit in _UNITS:
        if ns and ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"


def span_text(times: np.ndarray) -> str:
    return f"{iso(times[0])} to {iso(times[-1])}" if len(times) > 1 else iso(times[0])


def parse_step(value: object, key: str = "time_step") -> np.timedelta64:
    """A duration given as text ("5min", "10min", "1h", "PT10M") -> a positive timedelta64[ns]."""
    pd = require("pandas", "xarray", f"{key} (a duration)")

    if not isinstance(value, str) or not value.strip():
        raise BadValue(key, value, "must be a duration such as 5min, 10min or 1h", "10min")
    try:
        step = pd.Timedelta(value.strip())
    except (ValueError, TypeError):
        raise BadValue(key, value, "is not a duration (pandas-style: 5min, 10min, 1h, 1D)", "10min") from None
    if pd.isna(step) or step <= pd.Timedelta(0):
        raise BadValue(key, value, "must be a positive duration", "10min")
    return np.timedelta64(step.value, "ns")


def parse_time(value: object, key: str) -> np.datetime64:
    """A date or time as text ("2019-01-01", "2019-01-01T06:00", a time zone turned UTC) or a
    datetime -> datetime64[ns]."""
    pd = require("pandas", "xarray", f"{key} (a date)")

    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        stamp = pd.NaT
    if pd.isna(stamp) or isinstance(value, (bool, int, float)):
        raise BadValue(key, value, "is not a date or time", "'2019-06-01'")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return np.datetime64(stamp.as_unit("ns").value, "ns")


# --- the times and their step ------------------------------------------------------------------
def check_times(times: np.ndarray, where: str, source_of: Callable[[int], str] | None = None) -> np.ndarray:
    """`times` as datetime64[ns] if they increase strictly; else a DataError naming the first time
    out of order or given twice (and, with `source_of(i)`, the file holding time i) and the fix."""
    times = np.asarray(times).astype(NS)
    if np.isnat(times).any():
        i = int(np.argmax(np.isnat(times)))
        raise DataError(f"{where} has a missing time (NaT) at position {i}{_in(source_of, i)}: give every time a value")
    diffs = np.diff(times.astype(np.int64))
    if (diffs > 0).all():
        return times
    i = int(np.argmax(diffs <= 0)) + 1
    if diffs[i - 1] == 0:
        raise DataError(
            f"{where} holds the time {iso(times[i])} twice{_in(source_of, i - 1, i)}: drop the duplicates "
            "(xarray: ds.drop_duplicates('time'))"
        )
    raise DataError(
        f"{where} times are not in order: {iso(times[i])}{_in(source_of, i)} comes after {iso(times[i - 1])}"
        f"{_in(source_of, i - 1)}: sort them (xarray: ds.sortby('time')) and drop duplicates"
    )


def _in(source_of: Callable[[int], str] | None, *indices: int) -> str:
    if source_of is None:
        return ""
    names = list(dict.fromkeys(source_of(i) for i in indices))
    return f" (in {' and '.join(names)})" if names and names[0] else ""


def infer_step(times: np.ndarray) -> np.timedelta64:
    """The most common difference between consecutive times (the smallest among equally common
    ones). A single time has no step: DataError."""
    if len(times) < 2:
        raise DataError(f"the data holds {len(times)} time(s): a series needs at least two to have a time step")
    values, counts = np.unique(np.diff(times.astype(np.int64)), return_counts=True)
    return np.timedelta64(int(values[np.argmax(counts)]), "ns")


def check_step(times: np.ndarray, step: np.timedelta64, where: str) -> None:
    """A given step must be one the data has between some consecutive times."""
    diffs = np.diff(times.astype(np.int64))
    if not (diffs == int(step.astype("timedelta64[ns]").astype(np.int64))).any():
        common = step_text(infer_step(times)) if len(times) > 1 else "none"
        raise DataError(
            f"data.time_step={step_text(step)} is never the difference between two consecutive times of {where} "
            f"(the most common one is {common}): give data.time_step={common}, or null for the most common step"
        )


# --- gap-free runs and windows -----------------------------------------------------------------
def runs(times: np.ndarray, step: np.timedelta64) -> list[tuple[int, int]]:
    """[(start, stop)] index ranges of the gap-free runs: consecutive times exactly `step` apart."""
    if len(times) == 0:
        return []
    breaks = np.flatnonzero(np.diff(times.astype(np.int64)) != int(np.timedelta64(step, "ns").astype(np.int64))) + 1
    edges = [0, *breaks.tolist(), len(times)]
    return list(itertools.pairwise(edges))


def window_starts(spans: Sequence[tuple[int, int]], length: int, stride: int) -> np.ndarray:
    """The first index of every window of `length` times, `stride` apart from the start of each
    span (a run, or the part of a run inside a split)."""
    starts = [np.arange(a, b - length + 1, stride) for a, b in spans if b - a >= length]
    return np.concatenate(starts).astype(np.int64) if starts else np.zeros(0, np.int64)


def check_runs(times: np.ndarray, spans: Sequence[tuple[int, int]], length: int, step: np.timedelta64,
               length_key: str) -> None:  # fmt: skip
    """A window must fit in some gap-free run: else a DataError naming the longest run."""
    a, b = max(spans, key=lambda s: s[1] - s[0])
    if b - a >= length:
        return
    raise DataError(
        f"a window of {length_key}={length} times {step_text(step)} apart is longer than any gap-free run of the "
        f"data: the longest holds {b - a} times ({span_text(times[a:b])}): give a shorter {length_key}, a "
        "time_step the data has without gaps, or data with fewer gaps"
    )


# --- splits ----------------------------------------------------------------------------------
def fraction_boundaries(times: np.ndarray, val_fraction: float, test_fraction: float) -> dict[str, np.datetime64]:
    """The first val and test times when the last `val_fraction` / `test_fraction` of the times
    (counted in time order) are held out; a split that gets no time starts after the record."""
    n = len(times)
    n_test = round(test_fraction * n)
    n_val = round(val_fraction * n)
    after = times[-1] + np.timedelta64(1, "ns")
    test = times[n - n_test] if n_test else after
    val = times[n - n_test - n_val] if n_val and n - n_test - n_val >= 0 else test
    return {"val": val, "test": test}


def check_dates(times: np.ndarray, dates: Mapping[str, np.datetime64]) -> None:
    """Split dates inside the record, val before test."""
    for name in ("val", "test"):
        if not times[0] < dates[name] <= times[-1]:
            raise DataError(
                f"data.split_dates.{name}={iso(dates[name])} is outside the record ({span_text(times)}): give a "
                "date after its first time and not after its last"
            )
    if dates["val"] >= dates["test"]:
        raise BadValue(
            "split_dates", {k: iso(v) for k, v in dates.items()}, "must have val before test", "{val: '2019-01-01', "
            "test: '2019-06-01'}",
        ).in_group("data")  # fmt: skip


def split_spans(times: np.ndarray, spans: Sequence[tuple[int, int]], dates: Mapping[str, np.datetime64]
                ) -> dict[str, list[tuple[int, int]]]:  # fmt: skip
    """The runs cut at the split boundaries: {split: [(start, stop)]}, each span's times all in
    that split (train < val date ≤ val < test date ≤ test)."""
    val = int(np.searchsorted(times, dates["val"], side="left"))
    test = int(np.searchsorted(times, dates["test"], side="left"))
    bounds = {"train": (0, val), "val": (val, test), "test": (test, len(times))}
    parts: dict[str, list[tuple[int, int]]] = {}
    for name, (lo, hi) in bounds.items():
        parts[name] = [(max(a, lo), min(b, hi)) for a, b in spans if min(b, hi) > max(a, lo)]
    return parts


def split_range(times: np.ndarray, parts: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """The first and last+1 index of a split's spans (None when it holds no time)."""
    return (parts[0][0], parts[-1][1]) if parts else None


def check_split(times: np.ndarray, name: str, parts: Sequence[tuple[int, int]], starts: np.ndarray, length: int,
                how: str) -> None:  # fmt: skip
    """A split must hold a window: else a DataError naming the split's times and its longest run."""
    if len(starts):
        return
    if not parts:
        raise DataError(f"the {name} split ({how}) holds no time of the data: move the split dates or fractions")
    a, b = max(parts, key=lambda s: s[1] - s[0])
    raise DataError(
        f"the {name} split ({how}, {span_text(times[parts[0][0] : parts[-1][1]])}) holds no window of {length} "
        f"times: its longest gap-free run holds {b - a} ({span_text(times[a:b])}): give it more time (move "
        "data.split_dates or the fractions) or shorten data.total_length / eval_total_length"
    )
