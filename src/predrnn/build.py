"""Building the run's parts from a composed config: the data module, the network (its frame
size, channels, observed length and any conditioning sizes come from the data) and the
LightningModule with its optimiser, sampling schedule, metrics and baselines; and, beside
`build_network`, the memory estimate that refuses sizes that can't fit before anything is
allocated (`check_fits_memory`, `memory_limit`)."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from predrnn import checks
from predrnn.config_groups import instantiate_group
from predrnn.errors import ConfigError
from predrnn.validation import on_cpu

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


# bytes a parameter costs in training: its float32 value, its gradient and Adam's two moments
TRAINING_BYTES_PER_PARAMETER = 16


def memory_limit(trainer) -> tuple[int, str] | None:
    """The memory one training process can have, and where: the GPU's when training runs on
    one, else this machine's (physical memory, or a smaller cgroup limit); None if unknown."""
    import torch

    if not on_cpu(trainer) and torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory, "the GPU's"
    try:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None
    try:
        cgroup = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if cgroup.isdigit():
            limit = min(limit, int(cgroup))
    except OSError:
        pass
    return limit, "this machine's"


def readable_bytes(n: float) -> str:
    """`n` bytes for a message, in decimal units: "65.5 TB"."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


def check_fits_memory(cfg: DictConfig, datamodule, limit: tuple[int, str] | None = None) -> None:
    """Widths and batch sizes that can't fit are refused from an estimate, before anything is
    allocated: the network is built on the meta device (no memory) to count its parameters, and
    a training step needs at least its frames and, for a recurrent network, one state per layer
    per step. Both estimates are lower bounds, so only sizes that surely fail are refused."""
    import torch

    limit = limit or memory_limit(cfg.trainer)
    if limit is None:
        return
    available, where = limit
    try:
        with torch.device("meta"):
            network = build_network(cfg, datamodule)
    except ConfigError:
        raise
    except Exception:  # a network that can't be built on the meta device: no estimate
        return
    parameters = sum(p.numel() for p in network.parameters())
    weights = parameters * TRAINING_BYTES_PER_PARAMETER
    if weights > available:
        widths = cfg.model.get("hidden_channels")
        key = f"model.hidden_channels={list(widths)}" if widths is not None else f"model._target_={cfg.model._target_}"
        raise ConfigError(
            f"{key} makes a network of {parameters / 1e9:.3g} G parameters: training it needs at least "
            f"{readable_bytes(weights)} (weights, gradients, Adam's moments), more than {where} {readable_bytes(available)}: "
            "use smaller widths or fewer layers"
        )
    c, (h, w) = datamodule.channels, checks.pair("image_size", datamodule.image_size, 64)
    per_frame = c * h * w
    widths, grid = getattr(network, "widths", None), getattr(network, "grid", None)
    if widths is not None and grid is not None:
        per_frame += sum(widths) * grid[0] * grid[1]
    step = 4 * datamodule.batch_size * datamodule.total_length * per_frame
    if weights + step > available:
        raise ConfigError(
            f"data.batch_size={datamodule.batch_size} needs at least {readable_bytes(step)} for one training batch "
            f"({datamodule.total_length} frames and the network's states), more than {where} {readable_bytes(available)}: "
            "lower data.batch_size"
        )


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
