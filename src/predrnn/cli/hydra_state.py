"""Hydra's global state, in one place for the entry points: `current_launch()` reads what Hydra
says about this launch into a plain `Launch` that the library takes as an argument, and
`compose()` composes the configs as an entry point does and sets that state (benchmarks, tests).
No module outside `predrnn.cli` imports `HydraConfig` (docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from predrnn.config_groups import CONF_DIR
from predrnn.launch import Launch


def current_launch() -> Launch:
    """This launch as Hydra set it up (`Launch()` outside a Hydra app)."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except (ImportError, ValueError):
        return Launch()
    launcher = hc.get("launcher") or {}
    return Launch(
        in_hydra=True,
        task=tuple(hc.overrides.task),
        hydra=tuple(hc.overrides.hydra),
        choices=dict(hc.runtime.choices.items()),
        multirun=hc.mode == RunMode.MULTIRUN,
        launcher={k: launcher.get(k) for k in ("_target_", "n_jobs") if k in launcher},
    )


def in_multirun() -> bool:
    """Whether this process runs one job of a sweep (`-m`)."""
    return current_launch().multirun


def compose(config_name: str, overrides: Sequence[str], output_dir: str | Path) -> DictConfig:
    """The configs composed as an entry point composes them, outside `@hydra.main` (benchmarks,
    tests): the run folder, and so every `${hydra:...}` path, is `output_dir`."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = str(Path(output_dir).parent)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg
