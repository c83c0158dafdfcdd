"""Building the run's parts from a composed config: the data module, the network (its frame
size, channels, observed length and any conditioning sizes come from the data) and the
LightningModule with its optimiser, sampling schedule, metrics and baselines."""

from __future__ import annotations

import inspect

from omegaconf import DictConfig, OmegaConf

from predrnn.config import instantiate_group
from predrnn.config.validation import check_fits_memory
from predrnn.errors import ConfigError

FROM_DATA = ("in_channels", "image_size", "input_length", "action_channels")


def build_data(cfg: DictConfig, **overrides):
    return instantiate_group(cfg.data, "data", **overrides)


def _network_class(cfg: DictConfig):
    from hydra.utils import get_class

    target = cfg.model.get("_target_")
    try:
        return get_class(target)
    except Exception as err:
        raise ConfigError(f"model._target_={target} can't be imported ({err}): check the class path") from None


def build_network(cfg: DictConfig, datamodule):
    """The `model` config's network for frames of `datamodule`. A network that records no
    `init_args` gets the arguments it was built with, so checkpoints can rebuild it."""
    for key in FROM_DATA:
        if key in cfg.model:
            raise ConfigError(f"model.{key} comes from the data (data.*): remove the model.{key} override")
    accepted = inspect.signature(_network_class(cfg)).parameters
    from_data = {
        "in_channels": datamodule.channels, "image_size": datamodule.image_size,
        "input_length": datamodule.input_length, "action_channels": getattr(datamodule, "action_channels", None),
    }  # fmt: skip
    given = {k: v for k, v in from_data.items() if k in accepted}
    if "action_channels" in given and given["action_channels"] is None:
        raise ConfigError(
            f"model._target_={cfg.model._target_} reads actions, which the data has none of: "
            "name them with data.actions_key=NAME (data=arrays)"
        )
    network = instantiate_group(cfg.model, "model", **given)
    from predrnn.models.api import check_network

    check_network(network)  # an nn.Module keeping the data's arguments (models/api.py), in one line if not
    if not hasattr(network, "init_args"):
        own = OmegaConf.to_container(cfg.model, resolve=True)
        network.init_args = {**{k: v for k, v in own.items() if k != "_target_"}, **given}
    return network


def evaluation_settings(cfg: DictConfig, datamodule) -> dict:
    """What the module scores validation and test with: the `metrics` group, the `baselines`
    and the number of future frames the data's evaluation windows hold."""
    metrics = OmegaConf.to_container(cfg.metrics, resolve=True) if cfg.get("metrics") is not None else {}
    baselines = list(cfg.get("baselines") or [])
    for key, config in metrics.items():  # what a metric takes from the data (`from_data`, docs/metrics.md)
        wanted = _from_data(config)
        inputs = getattr(datamodule, "metric_inputs", None)  # fills only the names asked (a climatology costs a pass)
        given = (inputs(wanted) if inputs is not None and wanted else None) or {}
        for name in wanted:
            value = given.get(name)
            if value is None:
                raise ConfigError(f"metrics.{key} needs the data's {name}, which {type(datamodule).__name__} does not "
                                  f"give: use data=xarray on a latitude/longitude grid, or remove it with ~metrics.{key}")  # fmt: skip
            config.setdefault(name, value)
        if getattr(_metric_class(config), "takes_times", False):  # each frame's valid time, in the eval batches
            if not hasattr(datamodule, "times_in_batches"):
                raise ConfigError(f"metrics.{key} needs each frame's valid time, which {type(datamodule).__name__} does "
                                  f"not ship: use data=xarray, or remove it with ~metrics.{key}")  # fmt: skip
            datamodule.times_in_batches = True
    return {
        "metrics": metrics, "baselines": baselines,
        "future_frames": datamodule.eval_total_length - datamodule.input_length,
    }  # fmt: skip


def _metric_class(config):
    """The metric class of `config`, or None (no class or a bad one: build_metric names the problem)."""
    from hydra.utils import get_class

    try:
        return get_class(config["_target_"])
    except Exception:
        return None


def _from_data(config) -> tuple[str, ...]:
    """The constructor arguments a metric class fills from the data (its `from_data`)."""
    return tuple(getattr(_metric_class(config), "from_data", ()))


def build(cfg: DictConfig):
    """(datamodule, module) of a training config."""
    datamodule = build_data(cfg)
    check_fits_memory(cfg, datamodule)  # widths and batch sizes that can't fit, before allocating
    network = build_network(cfg, datamodule)
    optim = instantiate_group(cfg.optim, "optim")
    sampling = instantiate_group(cfg.sampling, "sampling") if cfg.get("sampling") is not None else None
    normalization = datamodule.normalization.as_dict()  # fitted on the training split: travels in checkpoints
    module = instantiate_group(  # not recursive: the metric configs are built by the module, per stage
        cfg.module, "module", _recursive_=False, network=network, optim=optim, sampling=sampling,
        normalization=normalization, data_description=datamodule.description(), **evaluation_settings(cfg, datamodule),
    )  # fmt: skip
    return datamodule, module


def described_network(cfg: DictConfig, **data_arguments):
    """The network a weights-only checkpoint (official, OpenSTL) is described by: the `model`
    and `data` overrides (and `data_arguments` for the data module, e.g. predict's
    `future_actions`)."""
    return build_network(cfg, build_data(cfg, **data_arguments))
