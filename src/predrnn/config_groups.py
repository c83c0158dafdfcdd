"""The configs: the folder they live in (`CONF_DIR`, which registers the resolvers they use) and
building a config group (`instantiate_group`). Composing them as an entry point does is
`predrnn.cli.hydra_state.compose`; checks across keys are `predrnn.validation`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from predrnn import resolvers
from predrnn.errors import BadValue, ConfigError, PredRNNError

CONF_DIR = Path(__file__).resolve().parent / "conf"
resolvers.register()


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
