"""The network contract: what the rest of predrnn needs of a network (docs/architecture.md,
"Networks"). Any `nn.Module` that keeps it trains, evaluates, predicts and exports.

- The constructor takes `in_channels`, `image_size` and `input_length` (from the data) plus the
  network's own keys (`conf/model/<name>.yaml`, whose `_target_` is the class).
- `forward(frames, teacher_mask=None)`: frames (B, T, C, H, W) → predictions of frames 1 … T−1,
  (B, T−1, C, H, W). `teacher_mask` (B, T−2) says which steps see the true frame
  (`models/rollout.py`); None is inference. In training mode a network may return
  `(predictions, {name: scalar loss})`: auxiliary losses the module weighs by name.
- A network that reads per-frame conditioning (actions) lists it in `conditioning`, e.g.
  `("actions",)`, and takes it as a keyword of `forward` ((B, T, A) for actions).

Optional, with defaults here for a network that knows nothing of them:
- `init_args`: the constructor's arguments, stored in checkpoints (default: the config it was
  built from, recorded by `predrnn.build`);
- `compile_cells(mode, **options)`: compile its recurrent cells (default: the whole network);
- `forward_flops(batch, total_length)`: analytic FLOPs of one forward pass (default: counted
  by running one forward pass under torch's FLOP counter);
- `aux_losses`: the names of the auxiliary losses it returns in training (default: none);
- `max_future`: the most frames it can predict past its input (default: None, any number).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn


@runtime_checkable
class Network(Protocol):
    """The attributes and call every network has (its constructor arguments, kept)."""

    in_channels: int
    image_size: tuple[int, int]
    input_length: int

    def __call__(self, frames: Tensor, teacher_mask: Tensor | None = None, **conditioning: Tensor) -> Any: ...


def split_output(output: Tensor | tuple[Tensor, Mapping[str, Tensor]]) -> tuple[Tensor, dict[str, Tensor]]:
    """(predictions, auxiliary losses) from what a network's forward returned."""
    if isinstance(output, tuple):
        predictions, aux = output
        return predictions, dict(aux)
    return output, {}


def target_of(network: nn.Module) -> str:
    """The `_target_` that rebuilds `network`: its class's import path."""
    cls = type(network)
    return f"{cls.__module__}.{cls.__qualname__}"


def aux_losses(network: nn.Module) -> tuple[str, ...]:
    return tuple(getattr(network, "aux_losses", ()))


def conditioning(network: nn.Module) -> tuple[str, ...]:
    return tuple(getattr(network, "conditioning", ()))


def is_compiled(network: nn.Module) -> bool:
    return bool(getattr(network, "cells_compiled", False))


def compile_network(network: nn.Module, mode: str | None = "default", **options: Any) -> None:
    """Compile what the network says is worth compiling (its cells), or the whole network in
    place; either way `is_compiled(network)` is then true."""
    if hasattr(network, "compile_cells"):
        network.compile_cells(mode=mode, **options)
    else:
        network.compile(mode=mode, **options)
        network.cells_compiled = True


def forward_flops(network: nn.Module, batch: int, total_length: int, **conditioning: Tensor) -> int | None:
    """FLOPs of one forward pass over `batch` sequences of `total_length` frames: the network's
    own count where it has one, else a count of one inference pass of one sequence (None if
    that fails)."""
    if hasattr(network, "forward_flops"):
        return int(network.forward_flops(batch, total_length))
    from torch.utils.flop_counter import FlopCounterMode

    param = next(network.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    frames = torch.zeros(1, total_length, network.in_channels, *network.image_size, device=device, dtype=dtype)
    extra = {k: v[:1] for k, v in conditioning.items()}
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            network(frames, None, **extra)
    except Exception:
        return None
    return int(counter.get_total_flops()) * batch
