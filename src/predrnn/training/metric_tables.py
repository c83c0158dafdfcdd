"""The test metrics on the terminal: per-frame tables that fit 80 columns, with the baselines beside."""

from __future__ import annotations

import functools
from typing import Any

from rich.console import Console
from rich.table import Table


def metric_names(results: dict[str, Any]) -> list[str]:
    """The metrics in `results`, in the order they came (each has a `<name>_per_frame`)."""
    return [k.removesuffix("_per_frame") for k in results if k.endswith("_per_frame")]


def fmt(value: float | None) -> str:
    """A metric value: 4 decimals below 10 (SSIM, CSI), 2 above (MSE, PSNR); – if undefined."""
    if value is None:
        return "–"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


COLUMNS_PER_TABLE = 6  # value columns that fit an 80-column terminal beside the frame number
TABLE_WIDTH = 80


def _packed(columns: list, first_width: int) -> list[list]:
    """`columns` (heading, …) in consecutive tables of at most COLUMNS_PER_TABLE columns whose
    width (heading or value, plus rich's borders) fits TABLE_WIDTH, so that no heading is cut."""
    tables, current, width = [], [], first_width + 4
    for column in columns:
        need = max(len(column[0]), 9) + 3
        if current and (len(current) == COLUMNS_PER_TABLE or width + need > TABLE_WIDTH):
            tables.append(current)
            current, width = [], first_width + 4
        current.append(column)
        width += need
    return [*tables, current] if current else tables


def undefined_metrics(results: dict[str, Any]) -> list[str]:
    """The metrics whose whole-forecast value is undefined (null, shown as –) on this test set."""
    return [n for n in metric_names(results) if n in results and results.get(n) is None]


def frame_label(results: dict[str, Any], index: int) -> str:
    """Frame `index` of the table: "+10 min" where metrics.json has `lead_times_minutes`, else its number."""
    lead = results.get("lead_times_minutes")
    return f"+{lead[index]:g} min" if lead and index < len(lead) else str(index + 1)


def print_metrics_table(results: dict[str, Any]) -> None:
    """Test metrics per future frame, every metric the run computed, with the baselines' value
    of the first metric (MSE by default) beside them; in tables of six columns, so that every
    value is printed whole on an 80-column terminal."""
    base = results.get("baselines", {})
    names = metric_names(results)
    columns = [(name.upper(), name, results) for name in names]
    if names:
        columns += [(f"{names[0].upper()} {b.replace('_', '-')}", names[0], base[b]) for b in base]
    frames = len(results[f"{names[0]}_per_frame"]) if names else 0
    console = Console(width=max(TABLE_WIDTH, Console().width))
    say = functools.partial(console.print, markup=False, highlight=False, soft_wrap=True)
    label_width = 9 if results.get("lead_times_minutes") else 5
    for start, part in enumerate(_packed(columns, label_width)):
        if start == 0:
            say(
                f"test metrics over {results.get('num_sequences', '?')} sequences (MSE, MAE: sums over pixels and channels)"
            )
        table = Table()
        table.add_column("lead" if results.get("lead_times_minutes") else "frame", justify="right", no_wrap=True)
        for heading, _, _ in part:
            table.add_column(heading, justify="right", no_wrap=True)

        def cells(suffix: str, index: int | None, part=part) -> list[str]:
            out = []
            for _, key, src in part:
                value = src.get(key + suffix)
                out.append(fmt(value if index is None or value is None else value[index]))
            return out

        for i in range(frames):
            table.add_row(frame_label(results, i), *cells("_per_frame", i))
        table.add_row("mean", *cells("", None))
        console.print(table)
    if base and names:
        say("the whole forecast beside the baselines (same sequences)")
        beside = Table()
        beside.add_column("metric", no_wrap=True)
        for heading in ("model", *(b.replace("_", "-") for b in base)):
            beside.add_column(heading, justify="right", no_wrap=True)
        for name in names:
            beside.add_row(name, fmt(results.get(name)), *(fmt(base[b].get(name)) for b in base))
        console.print(beside)
    undefined = undefined_metrics(results)
    if undefined:
        say(undefined_line(undefined))


def undefined_line(names: list[str]) -> str:
    """Why a metric shows – : the one line printed under the tables."""
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return (
        f"– (undefined): {shown}; an event score is undefined where no pixel of the test set reaches its "
        "threshold (thresholds are in the data's units: metrics.events.thresholds=[…], e.g. 0.5 for data "
        "in [0, 1] such as Moving MNIST), a score of pixels without data where every pixel lacks data"
    )
