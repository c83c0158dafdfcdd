"""The configs: where they live, composing them outside an entry point, building their groups."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from predrnn.config import resolvers
from predrnn.errors import BadValue, ConfigError, PredRNNError

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
resolvers.register()


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


def instantiate_group(node: DictConfig, group: str, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate(node)` with plain containers, where a bad value names its config
    key in full (`model.kernel_size=…`) and an unknown key names the group."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    try:
        return instantiate(node, _convert_="all", **kwargs)
    except (InstantiationException, BadValue, TypeError, MisconfigurationException) as err:
        root = err
        while isinstance(root, InstantiationException) and root.__cause__ is not None:
            root = root.__cause__
        if isinstance(root, BadValue):  # named already where a nested group built it (metrics.events.…)
            raise (root if root.group else root.in_group(group)) from None
        if isinstance(root, TypeError) and "unexpected keyword argument" in str(root):
            key = str(root).split("'")[1] if "'" in str(root) else "?"
            raise ConfigError(f"{group}.{key} is not a setting of {group}: remove it (see conf/{group}/)") from None
        if isinstance(root, PredRNNError):
            raise root from None
        if isinstance(root, InstantiationException | TypeError | ValueError | MisconfigurationException):
            raise ConfigError(f"{group}: {' '.join(str(root).split())}") from None
        raise root from None
