"""Shared fixtures: tiny sizes, two threads, real MNIST digits loaded once per process."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from predrnn.toolchain import cpu_compile_problem

torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


# inductor builds CPU kernels with the system's C++ compiler; without one these tests can't run
# (.ci/run makes sure CI has one, so there they always run)
CPU_COMPILE_PROBLEM = cpu_compile_problem()
needs_cpu_compiler = pytest.mark.skipif(
    CPU_COMPILE_PROBLEM is not None, reason=f"torch.compile on the CPU needs a C++ compiler: {CPU_COMPILE_PROBLEM}"
)


def broken_compiler(folder) -> Path:
    """A `g++` that answers --version (so inductor picks it) but can't compile: what a machine
    with the compiler driver and without its back end (`cc1plus`) looks like."""
    path = Path(folder) / "g++"
    path.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "g++ (broken) 12"; exit 0; fi\n'
        "echo \"g++: fatal error: cannot execute 'cc1plus': execvp: No such file or directory\" >&2\n"
        'echo "compilation terminated." >&2\n'
        "exit 1\n"
    )
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session")
def digits() -> dict[str, np.ndarray]:
    from predrnn.data.mnist import load_digits

    return load_digits("bundled")


def compose(config_name: str, tmp_path, overrides=()):
    """The real configs composed as the entry points do, with the run folder tmp_path/run."""
    from predrnn.config import compose as compose_config

    return compose_config(config_name, overrides, tmp_path / "run")


SMOKE = ("experiment=smoke", "data.val_size=4", "data.test_size=4", "trainer.max_steps=4")
