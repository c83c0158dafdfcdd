"""Shared fixtures: tiny sizes, one or two threads, real MNIST digits loaded once per process.
Helpers shared by the tests live in `helpers.py`."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def digits() -> dict[str, np.ndarray]:
    from predrnn.data.mnist import load_digits

    return load_digits("bundled")
