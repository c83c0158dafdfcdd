"""OpenSTL's checkpoints (docs/checkpoints.md, "Reference checkpoints"): its training checkpoint
`{"epoch", "optimizer", "state_dict", "scheduler"}` (the model's keys bare), and its Lightning
branch's checkpoint (a Lightning checkpoint whose `state_dict` keys carry the `model.` prefix).
Weights only, like an official PredRNN checkpoint: the model and data overrides describe the
network, and `checkpoints/reference.py` maps the weights onto it."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

# weights OpenSTL's ConvLSTM cell holds for convolutions it never calls (conv_o, conv_last)
NEVER_CALLED = {"ConvLSTM": ("cell_list.*.conv_o.*", "cell_list.*.conv_last.*")}


def openstl_weights(state: Mapping) -> dict[str, Tensor] | None:
    """The model's weights of an OpenSTL checkpoint, bare of the Lightning branch's `model.`
    prefix; None if `state` is not one."""
    weights = state.get("state_dict")
    if not isinstance(weights, Mapping) or not weights or "net_param" in state:
        return None
    if not all(isinstance(v, Tensor) for v in weights.values()):
        return None
    hparams = state.get("hyper_parameters")
    if isinstance(hparams, Mapping) and isinstance(hparams.get("network"), Mapping):
        return None  # predrnn's own
    names = list(weights)
    if all(n.startswith("model.") for n in names):
        return {n.removeprefix("model."): v for n, v in weights.items()}
    if "optimizer" in state or "scheduler" in state or "epoch" in state:
        return dict(weights)
    return None


def never_called(network: torch.nn.Module) -> tuple[str, ...]:
    return NEVER_CALLED.get(type(network).__name__, ())
