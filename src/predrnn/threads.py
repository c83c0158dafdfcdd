"""CPU threads: processes started together share the cores instead of each taking all of them.

Measured on a 2-core machine: two processes at 2 OpenMP threads each make small ops 10-70×
slower than at 1 thread each, as the threads spin against each other."""

from __future__ import annotations

import os


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
