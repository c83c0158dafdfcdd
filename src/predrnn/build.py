"""Building the run's parts from a composed config: the data module, the network (its frame
size, channels and observed length come from the data) and the LightningModule."""

from __future__ import annotations

from omegaconf import DictConfig

from predrnn.config import instantiate_group
from predrnn.errors import ConfigError

FROM_DATA = ("in_channels", "image_size", "input_length")


def build_data(cfg: DictConfig, **overrides):
    return instantiate_group(cfg.data, "data", **overrides)


def build_network(cfg: DictConfig, datamodule):
    """The `model` config's network for frames of `datamodule`."""
    for key in FROM_DATA:
        if key in cfg.model:
            raise ConfigError(f"model.{key} comes from the data (data.*): remove the model.{key} override")
    return instantiate_group(
        cfg.model, "model", in_channels=datamodule.channels, image_size=datamodule.image_size,
        input_length=datamodule.input_length,
    )  # fmt: skip


def build(cfg: DictConfig):
    """(datamodule, module) of a training config."""
    datamodule = build_data(cfg)
    network = build_network(cfg, datamodule)
    optim = instantiate_group(cfg.optim, "optim")
    normalization = datamodule.normalization.as_dict()  # fitted on the training split: travels in checkpoints
    module = instantiate_group(cfg.module, "module", network=network, optim=optim, normalization=normalization)
    return datamodule, module


def official_network(cfg: DictConfig):
    """The network an official checkpoint is described by: the `model` and `data` overrides."""
    return build_network(cfg, build_data(cfg))


def future_frames(state: dict, cfg: DictConfig) -> int:
    """How many frames the checkpoint's model was trained to predict: from its saved data
    settings, or (an official checkpoint, which saves none) from the `data` overrides."""
    data = state.get("datamodule_hyper_parameters") or cfg.data
    return int(data["total_length"]) - int(data["input_length"])
