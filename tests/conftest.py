"""Shared fixtures: tiny sizes, two threads, real MNIST digits loaded once per process."""

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


def compose(config_name: str, tmp_path, overrides=()):
    """The real configs composed as the entry points do, with the run folder tmp_path/run."""
    from predrnn.config import compose as compose_config

    return compose_config(config_name, overrides, tmp_path / "run")


SMOKE = ("experiment=smoke", "data.val_size=4", "data.test_size=4", "trainer.max_steps=4")
