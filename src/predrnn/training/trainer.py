"""Building the Lightning Trainer from `cfg.trainer`, with one-line errors for its values."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from predrnn import checks
from predrnn.checkpoints import SafeCheckpointIO
from predrnn.config_groups import instantiate_group
from predrnn.errors import BadValue, ConfigError

INTEGER_KEYS = {"max_steps": -1, "max_epochs": -1, "log_every_n_steps": 50, "num_nodes": 1,
                "check_val_every_n_epoch": 1, "num_sanity_val_steps": 2}  # fmt: skip
# the accelerators predrnn runs on (Lightning's others need packages it does not install)
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


def build_trainer(node: DictConfig, **kwargs: Any):
    """The Trainer of `node` (the `trainer` config group) with `kwargs` (callbacks, logger),
    saving and loading checkpoints through `SafeCheckpointIO`."""
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    try:
        for key, example in INTEGER_KEYS.items():
            if node.get(key) is not None:
                checks.integer(key, node.get(key), example)
        checks.choice("accelerator", node.get("accelerator", "auto"), ACCELERATORS, "cpu")
        devices = node.get("devices", 1)
        if isinstance(devices, int) and not isinstance(devices, bool) and (devices == 0 or devices < -1):
            raise BadValue("devices", devices, "must be a positive number of devices (or -1 / auto: all)", 1)
    except BadValue as err:
        raise err.in_group("trainer") from None
    try:
        return instantiate_group(node, "trainer", plugins=[SafeCheckpointIO()], **kwargs)
    except ConfigError as err:
        message = str(err)
        if "No supported gpu backend" in message or ("not available" in message and "GPU" in message.upper()):
            raise ConfigError(
                f"trainer.accelerator={node.get('accelerator')} but no GPU is visible here: use trainer=cpu "
                "(or trainer.accelerator=auto)"
            ) from None
        raise
    except MisconfigurationException as err:
        raise ConfigError(f"trainer: {' '.join(str(err).split())}") from None
