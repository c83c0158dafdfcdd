"""What a benchmark case measures and prints: per-step times (CUDA events on a GPU, a
synchronised wall clock on the CPU), peak memory, the device and card, one JSON line per case."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import torch

from predrnn.cpu_features import cpu_bf16


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def device_info(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        return {"device": "cuda", "card": torch.cuda.get_device_name(device)}
    return {
        "device": "cpu", "card": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
        **cpu_bf16().record(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }  # fmt: skip


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def significant(x: float, digits: int = 4) -> float:
    """`x` to `digits` significant figures: a slow CPU's 0.0004 TFLOP/s must not print as 0.0."""
    return float(f"{x:.{digits}g}")


def peak_memory(device: torch.device) -> dict[str, float]:
    """Peak tensor memory of this case on a GPU; on the CPU the process's peak resident set
    (a high-water mark over the whole run, so it only grows from case to case)."""
    if device.type == "cuda":
        return {"peak_mem_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)}
    import resource  # POSIX only

    return {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


class Timer:
    """Per-step times in ms: CUDA events on a GPU, synchronised wall clock on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def time(self, fn: Callable[[], Any], steps: int) -> list[float]:
        times = []
        for _ in range(steps):
            if self.device.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1000)
        return times
