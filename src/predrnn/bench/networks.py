"""The networks the benchmark times: `conf/model/<model>.yaml` for 64 × 64 grey frames, 10
observed, at the widths, kernel and patch of a size, and the training module around one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from predrnn.bench.modes import compose_train
from predrnn.training.fastpath import precision_dtype

if TYPE_CHECKING:  # built from the config: importing Lightning waits for the first case
    from predrnn.training.module import PredRNNModule

SIZES = {
    "paper": {"hidden_channels": [128, 128, 128, 128], "kernel_size": 5, "patch_size": 4},
    "small": {"hidden_channels": [16, 16], "kernel_size": 3, "patch_size": 4},  # the CPU presets' (cpu_quick)
    "2x32": {"hidden_channels": [32, 32], "kernel_size": 3, "patch_size": 4},  # the CPU side by side's
    "4x64": {"hidden_channels": [64, 64, 64, 64], "kernel_size": 5, "patch_size": 4},
}


def _network(cfg: DictConfig, size: str, layer_norm: bool) -> torch.nn.Module:
    sizes = {k: v for k, v in SIZES[size].items() if k in cfg.model}
    if "kernel_size" in sizes and isinstance(cfg.model.kernel_size, Sequence):  # a 3D kernel keeps its depth
        sizes["kernel_size"] = [cfg.model.kernel_size[0], sizes["kernel_size"], sizes["kernel_size"]]
    if layer_norm and "layer_norm" in cfg.model:
        sizes["layer_norm"] = True
    return instantiate(cfg.model, _convert_="all", **sizes, in_channels=1, image_size=64, input_length=10)


def make_network(model: str, size: str, layer_norm: bool = False) -> torch.nn.Module:
    """The network of `conf/model/<model>.yaml` for 64 × 64 grey frames, 10 observed, with the
    widths, kernel and patch of `size` where the network has those keys."""
    return _network(compose_train([f"model={model}"]), size, layer_norm)


def training_module(
    model: str, size: str, mode: str, layer_norm: bool = False, compile_mode: str = "default"
) -> tuple[PredRNNModule, torch.dtype | None]:
    """The training module as `predrnn-train model=<model> speed=<mode>` builds it around the
    network of `make_network` (its loss and the weights of the network's auxiliary losses from
    the composed config; compiled cells in `compile_mode`), and the mode's autocast dtype."""
    cfg = compose_train([f"model={model}", f"speed={mode}"])
    network = _network(cfg, size, layer_norm)
    compile = compile_mode if cfg.module.compile else None
    module = instantiate(cfg.module, _recursive_=False, network=network, compile=compile)
    return module, precision_dtype(cfg.trainer.precision)
