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
import signal
import sys
import threading
from pathlib import Path

from predrnn.sweeps.jobs import shown
from predrnn.sweeps.report import report


def note(text: str) -> None:
    """A job folder the report leaves out, and why: one line on stderr."""
    print(f"predrnn-report: note: {text}", file=sys.stderr)


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
    from predrnn.cli.entry import _stop
    from predrnn.training.signals import STOP_SIGNALS, Stopped

    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:  # a signal unwinds the writes: their temporary files go, nothing changed
            signal.signal(signum, _stop)
    try:
        table, csv_path, plot = report(args.folder, args.overwrite == "overwrite=true", note)
    except (FileNotFoundError, PredRNNError) as err:
        print(f"predrnn-report: error: {' '.join(str(err).split())}", file=sys.stderr)
        sys.exit(2)
    except Stopped as stop:
        print(f"predrnn-report: {stop} received: stopped; no report written or changed", file=sys.stderr)
        sys.exit(128 + stop.signum)
    print(table)
    print(f"\nCSV: {shown(str(csv_path))}" + (f"\nplot: {shown(str(plot))}" if plot else ""))


if __name__ == "__main__":
    main()
