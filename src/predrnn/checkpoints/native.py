"""predrnn's own checkpoints (written by predrnn-train or predrnn-convert): the weights, the
module's settings and the network's `_target_` with its arguments (docs/checkpoints.md).

A checkpoint names its network, and naming never runs code: a stored target is honoured only
if it is one of `predrnn.models`' own networks, or the very target the user gives for this run
(`model=<their config>`). Any other target is refused before anything is imported.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from predrnn.errors import BadValue, CheckpointError

NETWORK_ARGUMENTS = ("in_channels", "image_size", "input_length")  # what makes a class a network


def is_native(state: Mapping) -> bool:
    hparams = state.get("hyper_parameters")
    return isinstance(hparams, Mapping) and isinstance(hparams.get("network"), Mapping) and "state_dict" in state


def native_hparams(state: Mapping, path: str | Path, key: str = "ckpt_path") -> dict[str, Any]:
    """The module settings of a predrnn checkpoint (with the network's spec in today's form), or
    a one-line error saying what the file is instead."""
    if is_native(state):
        hparams = dict(state["hyper_parameters"])
        hparams["network"] = network_spec(hparams)
        return hparams
    if "net_param" in state:
        raise CheckpointError(f"{key}={path} is an official PredRNN checkpoint: convert it first with predrnn-convert")
    if state and all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(
            f"{key}={path} is a bare state dict (no settings saved with it): give a checkpoint written by predrnn-train"
        )
    raise CheckpointError(f"{key}={path} is not a predrnn checkpoint: give one written by predrnn-train")


def network_spec(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """`{"_target_": …, **arguments}` of the network. Checkpoints written before networks were
    named hold PredRNN's arguments with a `cell` key: ConvLSTM for `cell=convlstm`, PredRNN-V2
    where the decoupling loss was weighted, PredRNN otherwise."""
    spec = dict(hparams["network"])
    if "_target_" in spec:
        return spec
    cell = spec.pop("cell", "stlstm")
    if cell == "convlstm":
        spec["_target_"] = "predrnn.models.convlstm.ConvLSTM"
    elif float(hparams.get("decouple_beta") or 0) > 0:
        spec["_target_"] = "predrnn.models.predrnn_v2.PredRNNV2"
    else:
        spec["_target_"] = "predrnn.models.predrnn.PredRNN"
    return spec


def legacy_weights(weights: Mapping[str, Any], module: nn.Module) -> dict[str, Any]:
    """The module's weights from a checkpoint written before networks were named: PredRNN then
    carried the V2 adapters unused; they are dropped where the network has none."""
    own = module.state_dict()
    return {k: v for k, v in weights.items() if k in own or not k.startswith("network.adapters.")}


def _own_network_modules() -> set[str]:
    """The modules of `predrnn.models`, found by name in the package folder (nothing imported)."""
    import predrnn.models as package

    return {f"predrnn.models.{m.name}" for m in pkgutil.iter_modules(package.__path__)} | {"predrnn.models"}


def trusted_network_class(target: Any, user_target: str | None, path: str | Path, key: str = "ckpt_path") -> type:
    """The class a checkpoint's `_target_` names, if it may be used: one of predrnn's own
    networks, or exactly `user_target` (the `model._target_` of this run's config). Anything
    else is a one-line CheckpointError, raised before any import."""
    refuse = f"{key}={path} names the network {target!r}, "
    if not isinstance(target, str) or "." not in target:
        raise CheckpointError(refuse + "which is not a class path: give a checkpoint written by predrnn-train")
    module_name, _, name = target.rpartition(".")
    own = module_name in _own_network_modules()
    if not own and target != user_target:
        raise CheckpointError(
            refuse + "which is not one of predrnn's networks: predrnn imports no code a checkpoint names; if it is "
            "your own network, give its config for this run (hydra.searchpath=[file:///your/conf] model=NAME)"
        )
    cls = getattr(importlib.import_module(module_name), name, None)
    if not (
        isinstance(cls, type)
        and issubclass(cls, nn.Module)
        and all(p in inspect.signature(cls).parameters for p in NETWORK_ARGUMENTS)
    ):
        raise CheckpointError(
            refuse + f"which is not a network (an nn.Module taking {', '.join(NETWORK_ARGUMENTS)}): "
            "give a checkpoint written by predrnn-train"
        )
    return cls


def network_from_spec(
    spec: Mapping[str, Any], user_target: str | None, path: str | Path, key: str = "ckpt_path"
) -> nn.Module:
    """The network a checkpoint's spec describes, through `trusted_network_class`."""
    args = {k: v for k, v in spec.items() if k != "_target_"}
    cls = trusted_network_class(spec.get("_target_"), user_target, path, key)
    try:
        network = cls(**args)
    except (BadValue, TypeError, ValueError) as err:
        raise CheckpointError(f"{key}={path} holds settings this version of predrnn can't build ({err})") from None
    if not hasattr(network, "init_args"):
        network.init_args = dict(args)
    return network
