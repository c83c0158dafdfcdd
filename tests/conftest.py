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
    """The real configs composed as the entry points do, with the run folder in tmp_path."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from predrnn.config import CONF_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(tmp_path / "run")
        cfg.hydra.runtime.cwd = str(tmp_path)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


SMOKE = ("experiment=smoke", "data.val_size=4", "data.test_size=4", "trainer.max_steps=4")
