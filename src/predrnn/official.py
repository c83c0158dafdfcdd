"""Checkpoints and masks of the authors' PredRNN code (thuml/predrnn-pytorch).

An official checkpoint is `{"net_param": state_dict}` with the authors' module names
(`cell_list.{i}.conv_x.0.weight`, …, `conv_last.weight`, and for V2 `adapter.weight`). It
carries no settings: the model and data overrides describe it (hidden widths, kernel, patch,
layer norm, frame size, lengths). `official_weights` maps it onto a `PredRNN` built from those
settings, with a one-line error naming the first key that does not fit and the override that
fixes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from predrnn.errors import CheckpointError


def is_official(state: Mapping) -> bool:
    return isinstance(state.get("net_param"), Mapping)


def _patch_order(channels: int, patch: int) -> Tensor:
    """Index map between the authors' patch layout and ours: their channel (i·p + j)·C + c
    holds what our channel c·p² + i·p + j holds (the same order when C = 1)."""
    ours = torch.arange(channels * patch * patch).view(channels, patch, patch)
    return ours.permute(1, 2, 0).reshape(-1)  # position k of theirs -> our channel


def official_weights(net_param: Mapping[str, Tensor], network, path: str | Path, key: str = "ckpt_path") -> dict:
    """A state dict for `network` (a PredRNN) from the authors' `net_param`."""
    if not network.uses_memory:
        raise CheckpointError(f"{key}={path} is an official PredRNN checkpoint: use model=predrnn (ST-LSTM cells)")
    own = network.state_dict()
    mapped: dict[str, Tensor] = {}
    for name, value in net_param.items():
        target = _our_name(name, own)
        if target is None:
            hint = "model=predrnn_v2" if name.startswith("adapter") else "model.layer_norm=elementwise"
            if name.startswith("cell_list.") and int(name.split(".")[1]) >= len(network.cells):
                hint = f"model.hidden_channels with {_layers(net_param)} layers"
            raise CheckpointError(f"{key}={path}: official weight {name} has no place in this model: set {hint}")
        mapped[target] = value
    order = _patch_order(network.in_channels, network.patch_size)
    if "cells.0.conv_x.0.weight" in mapped or "cells.0.conv_x.weight" in mapped:
        first = "cells.0.conv_x.0.weight" if "cells.0.conv_x.0.weight" in mapped else "cells.0.conv_x.weight"
        if mapped[first].shape[1] == len(order):
            mapped[first] = mapped[first][:, torch.argsort(order)]
    if "conv_out.weight" in mapped and mapped["conv_out.weight"].shape[0] == len(order):
        mapped["conv_out.weight"] = mapped["conv_out.weight"][torch.argsort(order)]
    for name, value in own.items():
        if name not in mapped:
            if name.startswith("adapters."):
                mapped[name] = value  # PredRNN checkpoints have no V2 adapter (unused without the loss)
                continue
            hint = "model.layer_norm=elementwise" if ".1." in name else "the model overrides it was trained with"
            raise CheckpointError(f"{key}={path}: the official checkpoint has no weight for {name}: set {hint}")
        if tuple(mapped[name].shape) != tuple(value.shape):
            raise CheckpointError(
                f"{key}={path}: official weight for {name} is {tuple(mapped[name].shape)}, the model's "
                f"{tuple(value.shape)}: {_shape_hint(name, mapped[name].shape, value.shape)}"
            )
    return mapped


def _layers(net_param: Mapping[str, Tensor]) -> int:
    return len({n.split(".")[1] for n in net_param if n.startswith("cell_list.")})


def _our_name(name: str, own: Mapping[str, Tensor]) -> str | None:
    parts = name.split(".")
    if name == "conv_last.weight":
        return "conv_out.weight"
    if parts[0] == "adapter":
        found = sorted(k for k in own if k.startswith("adapters.") and k.endswith("." + parts[-1]))
        return found[0] if len(found) == 1 else None
    if parts[0] != "cell_list":
        return None
    layer, conv = parts[1], parts[2]
    if conv == "conv_last":
        candidate = f"cells.{layer}.conv_last.{parts[-1]}"
    elif parts[3] == "0":  # the convolution inside the authors' Sequential
        candidate = f"cells.{layer}.{conv}.0.weight"
        if candidate not in own:
            candidate = f"cells.{layer}.{conv}.weight"
    else:  # their LayerNorm: index 1 of the Sequential
        candidate = f"cells.{layer}.{conv}.1.{parts[-1]}"
    return candidate if candidate in own else None


def _shape_hint(name: str, theirs: torch.Size, ours: torch.Size) -> str:
    if name.endswith(".1.weight") or name.endswith(".1.bias"):
        return "set data.image_size and model.patch_size to the ones it was trained with"
    if len(theirs) == 4 and theirs[-1] != ours[-1]:
        return f"set model.kernel_size={theirs[-1]}"
    first_layer_input = name in ("cells.0.conv_x.weight", "cells.0.conv_x.0.weight") and theirs[0] == ours[0]
    if first_layer_input or (name == "conv_out.weight" and theirs[1] == ours[1]):
        return "set model.patch_size (and the frame channels) it was trained with"
    return "set model.hidden_channels to the widths it was trained with"


def teacher_mask(official: Tensor, input_length: int, total_length: int, reverse: bool) -> Tensor:
    """Our teacher mask (B, T−2), one column per step t = 1 … T−2, from the authors' per-sequence
    mask: reverse scheduled sampling masks the same steps (B, T−2); scheduled sampling only the
    decoder steps t = J … T−2 (B, T−J−1), and the encoder steps see true frames (ones)."""
    if reverse:
        return official.float()
    encoder = official.new_ones(official.shape[0], input_length - 1)
    return torch.cat([encoder.float(), official.float()], dim=1)
