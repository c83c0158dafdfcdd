"""The benchmark's modes: each is the config `conf/speed/<mode>.yaml`, read through the same
`FastPath` and precision that training reads, so a mode is timed as it trains."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from omegaconf import DictConfig

from predrnn.cli.hydra_state import compose
from predrnn.toolchain import cpu_compile_problem
from predrnn.training.fastpath import FastPath, precision_dtype

MODES = (
    "eager_fp32",
    "bf16",
    "bf16_channels_last",
    "cuda_graph",
    "compiled",
    "compiled_cuda_graph",
)  # conf/speed/<mode>.yaml


def compose_train(overrides: list[str], run_dir: Path | None = None) -> DictConfig:
    """The training config with `overrides`, as `predrnn-train` composes it, for a run in
    `run_dir` (by default a shared folder in the temporary directory, for configs never run)."""
    return compose("train", overrides, run_dir or Path(tempfile.gettempdir()) / "predrnn-bench" / "run")


def mode_settings(mode: str, compile_mode: str = "default") -> tuple[FastPath, torch.dtype | None]:
    """The fast path and autocast dtype of a mode, from its config `speed=<mode>` (the same
    switches training reads)."""
    cfg = compose_train([f"speed={mode}"])
    m = cfg.module
    fast = FastPath(compile_mode if m.compile else None, m.channels_last, m.cuda_graph)
    return fast, precision_dtype(cfg.trainer.precision)


def compile_unavailable(device: torch.device) -> str | None:
    """Why the compiled modes can't run here (no working C++ compiler for inductor's CPU
    kernels), or None."""
    problem = cpu_compile_problem() if device.type == "cpu" else None
    return None if problem is None else f"torch.compile on the CPU needs a working C++ compiler ({problem})"
