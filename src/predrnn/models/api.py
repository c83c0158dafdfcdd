"""The network contract: what the rest of predrnn needs of a network (docs/architecture.md,
"Networks"). Any `nn.Module` that keeps it trains, evaluates, predicts and exports.

- The constructor takes `in_channels`, `image_size` and `input_length` (from the data) plus the
  network's own keys (`conf/model/<name>.yaml`, whose `_target_` is the class).
- What it predicts, its class attribute `predicts` (default `NEXT_FRAME`):
  - `NEXT_FRAME` (the recurrent family): `forward(frames, teacher_mask=None)`: frames
    (B, T, C, H, W) → predictions of frames 1 … T−1, (B, T−1, C, H, W). `teacher_mask`
    (B, T−2) says which steps see the true frame (`models/recurrent.py`); None is inference.
  - `FUTURE` (fixed horizon, SimVP): `forward(observed)`: the J observed frames (B, J, C, H, W)
    → the next K frames (B, K, C, H, W), K its own (`future_frames`, default J). No mask. Asked
    for more than K frames, it is fed its own predictions chunk by chunk (`predict_future`).
- In training mode a network may return `(predictions, {name: scalar loss})`: auxiliary losses,
  each weighted as its `aux_losses` says (below).
- A network that reads per-frame conditioning (actions) lists it in `conditioning`, e.g.
  `("actions",)`, and takes it as a keyword of `forward` ((B, T, A) for actions).

Optional, with defaults here for a network that knows nothing of them:
- `init_args`: the constructor's arguments, stored in checkpoints (default: the config it was
  built from, recorded by `predrnn.build`);
- `compile_cells(mode, **options)`: compile its recurrent cells (default: the whole network);
- `forward_flops(batch, total_length)`: analytic FLOPs of one forward pass (default: counted
  by running one forward pass under torch's FLOP counter);
- `aux_losses`: the auxiliary losses it returns in training, as names (each weighted 1) or as
  a mapping name → weight, where a weight is a number or the name of the training module's
  option that holds it (PredRNN-V2: `{"decouple": "decouple_beta"}`) (default: none).
- `target_losses(predictions, target)`: auxiliary losses that compare the predictions with the
  true frames (both (B, frames, C, H, W), the frames the reconstruction loss covers), as
  {name: scalar}, in training; each name is declared in `aux_losses` and weighted as it says
  (TAU's regulariser: `{"differential_divergence": alpha}`) (default: none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

NEXT_FRAME = "next_frame"  # frames 1 … T−1 from frames 0 … T−2 under a teacher mask
FUTURE = "future"  # the K frames after the J observed ones, no mask
KINDS = (NEXT_FRAME, FUTURE)


def check_network(network: Any) -> None:
    """One line naming a network (its `_target_`) that can't keep the contract: not an
    `nn.Module`, or without the data's arguments kept as attributes."""
    from predrnn.errors import ConfigError

    name = f"{type(network).__module__}.{type(network).__qualname__}"
    if not isinstance(network, nn.Module):
        raise ConfigError(f"model._target_={name} built a {type(network).__name__}, not a torch nn.Module: "
                          "a network subclasses torch.nn.Module (models/api.py)")  # fmt: skip
    missing = [key for key in ("in_channels", "image_size", "input_length") if not hasattr(network, key)]
    if missing:
        raise ConfigError(
            f"model._target_={name} has no {', '.join(missing)}: its constructor takes in_channels, image_size and "
            "input_length (from the data) and keeps them as attributes (models/api.py)"
        )
    predicts(network)


def check_outputs(network: nn.Module, num_predictions: int) -> None:
    """One line naming a network that returns the wrong number or shape of frames, from one
    inference pass on zero frames (J observed, K = `num_predictions` to predict)."""
    from predrnn.errors import ConfigError

    param = next(network.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    j, c, (h, w) = network.input_length, network.in_channels, tuple(network.image_size)
    frames = torch.zeros(1, j + num_predictions, c, h, w, device=device, dtype=dtype)
    if fixed_horizon(network):  # reads the J observed frames, returns the K after them
        call, given, want, what = (
            (lambda: predict_future(network, frames, num_predictions)[0]),
            j,
            num_predictions,
            "frames",
        )
    else:  # reads J + K frames, returns frames 1 … T−1
        call, given, want, what = (
            (lambda: network(frames)),
            j + num_predictions,
            j + num_predictions - 1,
            "frames 1..T-1",
        )
    conditioning_keys = tuple(getattr(network, "conditioning", ()))
    if conditioning_keys:
        return  # its conditioning's sizes are the data's: checked at the first step
    training = network.training
    network.eval()
    try:
        with torch.no_grad():
            out = call()
    finally:
        network.train(training)
    out = split_output(out)[0] if isinstance(out, tuple) else out
    shape = (1, want, c, h, w)
    if not isinstance(out, Tensor) or tuple(out.shape) != shape:
        got = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else f"a {type(out).__name__}"
        raise ConfigError(
            f"model._target_={target_of(network)} returned {got} for {given} "
            f"frames where {what} are {shape} (B, frames, C, H, W): see the network contract, models/api.py"
        )


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


def aux_losses(network: nn.Module) -> dict[str, float | str]:
    """{name: weight} of the auxiliary losses the network returns in training: a number, or the
    name of the training module's option that holds the weight (names alone weigh 1)."""
    declared = getattr(network, "aux_losses", ())
    if isinstance(declared, Mapping):
        return dict(declared)
    return {name: 1.0 for name in declared}


def target_losses(
    network: nn.Module, predictions: Tensor, target: Tensor, valid: Tensor | None = None
) -> dict[str, Tensor]:
    """The auxiliary losses the network computes from its predictions and the true frames
    (its optional `target_losses`, module docstring). Where `valid` is False (no coverage) the
    target takes the prediction's value, so those pixels add no difference and no NaN."""
    compare = getattr(network, "target_losses", None)
    if compare is None:
        return {}
    if valid is not None:
        target = torch.where(valid, target, predictions.detach())
    return dict(compare(predictions, target))


def predicts(network: nn.Module) -> str:
    """What the network predicts: `NEXT_FRAME` (default) or `FUTURE` (module docstring)."""
    kind = getattr(network, "predicts", NEXT_FRAME)
    if kind not in KINDS:
        raise TypeError(f"{type(network).__name__}.predicts is {kind!r}: use predrnn.models.api.NEXT_FRAME or FUTURE")
    return kind


def fixed_horizon(network: nn.Module) -> bool:
    return predicts(network) == FUTURE


def takes_teacher_mask(network: nn.Module) -> bool:
    return not fixed_horizon(network)


def predict_future(
    network: nn.Module, frames: Tensor, num_predictions: int, teacher_mask: Tensor | None = None,
    **conditioning: Tensor,
) -> tuple[Tensor, dict[str, Tensor]]:  # fmt: skip
    """(the `num_predictions` = K frames after the J = `network.input_length` observed ones,
    (B, K, C, H, W); auxiliary losses) of any network. `frames` holds at least the J observed
    frames; a next-frame network reads J + K of them (those after J only where `teacher_mask`
    says so), a fixed-horizon one only the J.

    A fixed-horizon network with a `predict(observed, num_predictions)` method answers with it;
    one without is fed its own predictions as OpenSTL's SimVP method does: each call's input is
    the last J frames so far, and the last chunk is cut to the remainder (its auxiliary losses
    averaged over the calls)."""
    j = network.input_length
    if not fixed_horizon(network):
        if frames.shape[1] < j + num_predictions:
            pad = frames.new_zeros(frames.shape[0], j + num_predictions - frames.shape[1], *frames.shape[2:])
            frames = torch.cat([frames, pad], dim=1)  # never read without a mask: the network's own outputs are
        predictions, aux = split_output(network(frames[:, : j + num_predictions], teacher_mask, **conditioning))
        return predictions[:, j - 1 :], aux
    if teacher_mask is not None:
        raise ValueError(f"{type(network).__name__} predicts a fixed horizon and takes no teacher mask")
    if hasattr(network, "predict"):  # its own rule for other horizons (SimVP: OpenSTL's)
        return split_output(network.predict(frames[:, :j], num_predictions, **conditioning))
    window = frames[:, :j]
    chunks: list[Tensor] = []
    losses: dict[str, list[Tensor]] = {}
    made = 0
    while made < num_predictions:
        chunk, aux = split_output(network(window, **conditioning))
        for name, value in aux.items():
            losses.setdefault(name, []).append(value)
        chunks.append(chunk)
        made += chunk.shape[1]
        if made < num_predictions:
            window = torch.cat([window, chunk.to(window.dtype)], dim=1)[:, -j:]
    future = torch.cat(chunks, dim=1)[:, :num_predictions] if len(chunks) > 1 else chunks[0][:, :num_predictions]
    return future, {name: torch.stack(values).mean() for name, values in losses.items()}


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
            predict_future(network, frames, total_length - network.input_length, **extra)
    except Exception:
        return None
    return int(counter.get_total_flops()) * batch
