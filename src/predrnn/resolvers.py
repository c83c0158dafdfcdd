"""The OmegaConf resolvers the configs use."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf


def wandb_offline() -> bool:
    """Offline unless WANDB_MODE says online or the user is logged in (API key or netrc)."""
    mode = os.environ.get("WANDB_MODE", "").lower()
    if mode in ("offline", "dryrun", "disabled"):
        return True
    if mode == "online" or os.environ.get("WANDB_API_KEY"):
        return False
    netrc = Path(os.environ.get("NETRC", "~/.netrc")).expanduser()
    try:
        return "api.wandb.ai" not in netrc.read_text()
    except OSError:
        return True


def sweep_group(mode=None, sweep_dir=None) -> str | None:
    """In a multirun, the sweep folder's name (so a sweep's wandb runs are grouped). The config
    hands in Hydra's `mode` and `sweep.dir` (`${predrnn_sweep_group:${hydra:mode},${hydra:sweep.dir}}`),
    so nothing here reads Hydra's global state."""
    if mode is None or sweep_dir is None or getattr(mode, "name", str(mode)).rpartition(".")[2] != "MULTIRUN":
        return None
    return Path(str(sweep_dir)).name


def register() -> None:
    for name, fn in (("predrnn_wandb_offline", wandb_offline), ("predrnn_sweep_group", sweep_group)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
