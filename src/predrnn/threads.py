"""CPU threads: processes started together share the cores instead of each taking all of them.

Measured on a 2-core machine: two processes at 2 OpenMP threads each make small ops 10-70×
slower than at 1 thread each, as the threads spin against each other."""

from __future__ import annotations

import os
from pathlib import Path


def available_cpus() -> int:
    """CPUs this process may run on (a SLURM job or container may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def share_cpus(processes: int) -> int:
    """Limit this process to its share of the CPUs it may run on (at least one thread); a
    lower thread count set before (torch.set_num_threads, OMP_NUM_THREADS) stays. Returns the
    thread count."""
    import torch  # here: the config checks use available_cpus before torch is imported (cli/entry.py)

    threads = min(torch.get_num_threads(), max(1, available_cpus() // max(1, processes)))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


# ---- OpenMP on a busy machine (docs/cpu.md, "A busy machine") ----
# torch's OpenMP threads spin while they wait for work (libgomp's default), and a parallel op
# waits for its slowest thread: on a core that another process keeps busy, that thread gets
# half the core. So predrnn's entry points, before torch starts its OpenMP runtime, start only
# as many threads as the CPUs that are idle when the run starts. The wait policy stays torch's:
# measured on this project's 2-core machine (benchmarks/RESULTS.md, "A busy machine"), an idle
# step with OMP_WAIT_POLICY=PASSIVE took 1.9× the default's, and beside one busy core 2 passive
# threads still took 2.9× the idle step where one thread took 1.6×. OMP_NUM_THREADS set by the
# user is kept.

BUSY_FRACTION = 0.5  # a CPU busier than this over the sample counts as taken by another process


def cpu_times(text: str) -> dict[int, tuple[int, int]]:
    """Per CPU (busy, total) jiffies from /proc/stat's text."""
    times = {}
    for line in text.splitlines():
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
        idle = values[3] + values[4]
        times[int(name[3:])] = (sum(values) - idle, sum(values))
    return times


def busy_cpus(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]], cpus: set[int]) -> set[int]:
    """The CPUs of `cpus` busier than BUSY_FRACTION between two /proc/stat readings."""
    busy = set()
    for cpu in cpus & before.keys() & after.keys():
        work, total = (after[cpu][i] - before[cpu][i] for i in (0, 1))
        if total > 0 and work / total > BUSY_FRACTION:
            busy.add(cpu)
    return busy


def idle_cpus(sample_seconds: float = 0.1) -> int | None:
    """How many of the CPUs this process may use are idle now (a /proc/stat sample over
    `sample_seconds`, while this process sleeps); None where /proc/stat can't be read."""
    import time

    try:
        cpus = set(os.sched_getaffinity(0))
        stat = Path("/proc/stat")
        before = cpu_times(stat.read_text())
        time.sleep(sample_seconds)
        after = cpu_times(stat.read_text())
    except (AttributeError, OSError, ValueError):
        return None
    return len(cpus - busy_cpus(before, after, cpus))


def choose_openmp(environ: dict, available: int, idle: int | None) -> tuple[dict[str, str], str | None]:
    """The OpenMP variables to set, given the environment (the user's OMP_NUM_THREADS wins), the
    CPUs this process may use and how many of them are idle (None: unknown); and the words for
    the run's first line where the choice differs from torch's default (None where it doesn't)."""
    if "OMP_NUM_THREADS" in environ or idle is None or idle >= available or available <= 1:
        return {}, None
    threads = max(1, idle)
    return {"OMP_NUM_THREADS": str(threads)}, (
        f"{threads} thread(s) ({available - idle} of {available} CPUs busy at start), so that a busy machine "
        "slows this run in proportion; set OMP_NUM_THREADS to choose"
    )


def openmp_policy() -> str | None:
    """`choose_openmp` applied to os.environ, with this machine's CPUs sampled now; returns its
    words. Only before torch is imported: its OpenMP runtime reads the variables once, at start
    (an in-process caller that imported torch already gets None, and nothing changes)."""
    import sys

    if "torch" in sys.modules:
        return None
    needs_sample = "OMP_NUM_THREADS" not in os.environ
    chosen, note = choose_openmp(dict(os.environ), available_cpus(), idle_cpus() if needs_sample else None)
    os.environ.update(chosen)
    return note
