"""Weights of the reference implementations (the authors' PredRNN code, OpenSTL) as a state
dict of a predrnn network (docs/checkpoints.md, "Reference checkpoints").

Those files hold weights only, so the model and data overrides describe the network. PredRNN
and ConvLSTM name their modules as predrnn always has (`cells.{i}.conv_x…`, `conv_out`), and
the reference names (`cell_list.{i}.conv_x.0…`, `conv_last`, `adapter`) are mapped onto them;
every other network of the family names its modules as its reference does. Either way a
patch's channels are reordered where C > 1 and p > 1 (the references lay them out as
(i·p + j)·C + c, predrnn as c·p² + i·p + j), and a key that does not fit is one line naming it
and the override that fixes it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from predrnn.errors import CheckpointError


def patch_order(channels: int, patch: int) -> Tensor:
    """Index map between the references' patch layout and ours: their channel (i·p + j)·C + c
    holds what our channel c·p² + i·p + j holds (the same order when C = 1)."""
    ours = torch.arange(channels * patch * patch).view(channels, patch, patch)
    return ours.permute(1, 2, 0).reshape(-1)  # position k of theirs -> our channel


def _renamed(network: nn.Module) -> bool:
    """Whether the network's module names differ from the references' (PredRNN, ConvLSTM)."""
    from predrnn.models import ConvLSTM, PredRNN

    return isinstance(network, (PredRNN, ConvLSTM))


def reference_weights(
    params: Mapping[str, Tensor], network: nn.Module, path: str | Path, key: str = "ckpt_path",
    source: str = "official", ignorable: Iterable[str] = (),
) -> tuple[dict[str, Tensor], list[str]]:  # fmt: skip
    """(state dict for `network`, reference weights left out). A reference weight with no place
    in the network is an error unless it matches one of the `ignorable` patterns (weights the
    reference holds for modules it never calls)."""
    own = network.state_dict()
    mapped: dict[str, Tensor] = {}
    ignored: list[str] = []
    for name, value in params.items():
        target = _our_name(name, own) if _renamed(network) else (name if name in own else None)
        if target is None:
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in ignorable):
                ignored.append(name)
                continue
            raise CheckpointError(
                f"{key}={path}: {source} weight {name} has no place in this model: set {_hint(name, params, network)}"
            )
        mapped[target] = value
    order = patch_order(network.in_channels, getattr(network, "patch_size", 1))
    if len(order) > network.in_channels:  # C > 1 and p > 1: the layouts differ
        frame_weights = getattr(network, "patched_frame_weights", {})
        for name in frame_weights.get("in", ()):
            if name in mapped and mapped[name].shape[1] == len(order):
                mapped[name] = mapped[name][:, torch.argsort(order)]
        for name in frame_weights.get("out", ()):
            if name in mapped and mapped[name].shape[0] == len(order):
                mapped[name] = mapped[name][torch.argsort(order)]
    for name, value in own.items():
        if name not in mapped:
            if name.startswith("adapter"):
                mapped[name] = value  # a PredRNN file has no V2 adapter: V2 fine-tuning starts it fresh
                continue
            hint = "model.layer_norm=elementwise" if ".1." in name else "the model overrides it was trained with"
            raise CheckpointError(f"{key}={path}: the {source} checkpoint has no weight for {name}: set {hint}")
        if tuple(mapped[name].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{key}={path}: {source} weight for {name} is {tuple(mapped[name].shape)}, the model's "
                f"{tuple(value.shape)}: {_shape_hint(name, mapped[name].shape, value.shape)}"
            )
    return mapped, ignored


def _hint(name: str, params: Mapping[str, Tensor], network: nn.Module) -> str:
    layers = len({n.split(".")[1] for n in params if n.startswith("cell_list.")})
    cells = getattr(network, "cells", getattr(network, "cell_list", None))
    if name.startswith("cell_list.") and cells is not None and int(name.split(".")[1]) >= len(cells):
        return f"model.hidden_channels with {layers} layers"  # this network, deeper
    other = _config_holding(name, network)
    if other is not None and not name.startswith("adapter"):
        return f"model={other} (and the overrides it was trained with): these weights are another network's"
    if name.startswith("adapter"):
        return "model=action_predrnn_v2" if getattr(network, "conditioning", ()) else "model=predrnn_v2"
    if ".1." in name:
        return "model.layer_norm=elementwise"
    return "the model=… it was trained with and its overrides"


def _config_holding(name: str, network: nn.Module) -> str | None:
    """The `conf/model/<name>.yaml` (found from the folder) whose network, built with its own
    defaults for this network's frames, has the weight `name`, where `network` is another class."""
    from hydra.utils import get_class
    from omegaconf import OmegaConf

    from predrnn.config_groups import CONF_DIR

    data = {"in_channels": network.in_channels, "image_size": list(network.image_size),
            "input_length": network.input_length}  # fmt: skip
    for path in sorted((CONF_DIR / "model").glob("*.yaml")):
        own = OmegaConf.to_container(OmegaConf.load(path))
        target = own.pop("_target_", None) if isinstance(own, dict) else None
        if target is None:
            continue  # a config built on another one (its base is found by itself)
        try:
            cls = get_class(target)
            if isinstance(network, cls):
                continue
            args = {k: v for k, v in own.items() if k != "defaults"}
            if name in cls(**args, **data).state_dict():
                return path.stem
        except Exception:  # a network these frames or defaults don't suit (or that reads actions)
            continue
    return None


def _our_name(name: str, own: Mapping[str, Tensor]) -> str | None:
    parts = name.split(".")
    if name == "conv_last.weight":
        return "conv_out.weight"
    if parts[0] == "adapter":
        found = sorted(k for k in own if k.startswith("adapters.") and k.endswith("." + parts[-1]))
        return found[0] if len(found) == 1 else None
    if parts[0] != "cell_list" or len(parts) < 4:
        return None
    layer, conv = parts[1], parts[2]
    if conv == "conv_last":
        candidate = f"cells.{layer}.conv_last.{parts[-1]}"
    elif parts[3] == "0":  # the convolution inside the reference's Sequential
        candidate = f"cells.{layer}.{conv}.0.weight"
        if candidate not in own:
            candidate = f"cells.{layer}.{conv}.weight"
    else:  # their LayerNorm: index 1 of the Sequential
        candidate = f"cells.{layer}.{conv}.1.{parts[-1]}"
    return candidate if candidate in own else None


def _shape_hint(name: str, theirs: torch.Size, ours: torch.Size) -> str:
    if name.endswith(".1.weight") or name.endswith(".1.bias"):
        return "set data.image_size and model.patch_size to the ones it was trained with"
    if len(theirs) >= 5 and tuple(theirs[-3:]) != tuple(ours[-3:]):  # a 3-D kernel (E3D-LSTM): [t, h, w]
        return f"set model.kernel_size=[{','.join(str(int(n)) for n in theirs[-3:])}]"
    if len(theirs) >= 4 and theirs[-1] != ours[-1]:
        return f"set model.kernel_size={theirs[-1]}"
    first_layer_input = name in ("cells.0.conv_x.weight", "cells.0.conv_x.0.weight") and theirs[0] == ours[0]
    if first_layer_input or (name == "conv_out.weight" and theirs[1] == ours[1]):
        return "set model.patch_size (and the frame channels) it was trained with"
    return "set model.hidden_channels to the widths it was trained with"
