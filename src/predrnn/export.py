"""The inference rollout as a self-contained artefact: J observed frames in, K predicted frames
out (K fixed at export), as ONNX, TorchScript or a torch.export ExportedProgram.

Every artefact takes float32 frames (N, J, C, H, W) in the data's units (and, for a network
that reads actions, float32 actions (N, J + K − 1, A) as a second input: those of the observed
frames and of the predicted ones but the last) and returns float32 (N, K, C, H, W) in the same
units: [0, 1] for 8-bit data (uint8 / 255, as Moving MNIST), the
file's own units for float data (the checkpoint's normalisation is part of the graph,
docs/data.md). Its metadata (ONNX metadata properties, and a JSON file beside every artefact)
says so, with J, K, the frame size and the normalisation."""

from __future__ import annotations

import json
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from predrnn.data.normalization import Normalization
from predrnn.errors import ConfigError
from predrnn.extras import require
from predrnn.files import atomic_outputs
from predrnn.models import api

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "exported-program": ".pt2"}


class Forecaster(nn.Module):
    """`network` predicting `num_predictions` frames from `input_length` observed ones
    (`models/api.py`'s `predict_future`: a next-frame network runs free, a fixed-horizon one
    is fed its own chunks beyond its horizon), in data
    units through `normalization` (default: frames in [0, 1]); 8-bit data's predictions are
    clipped to [0, 1] as predrnn-predict clips them. A network that reads actions (its
    `conditioning` has "actions") gets `actions` (N, J + K − 1, A), the frame after the last
    predicted one padded with a zero action it never reads, as its future frames are padded."""

    def __init__(self, network: nn.Module, num_predictions: int, normalization: Normalization | None = None) -> None:
        super().__init__()
        self.network = network
        self.num_predictions = num_predictions
        self.input_length = network.input_length
        self.normalization = normalization or Normalization.identity(network.in_channels)
        self.reads_actions = "actions" in tuple(getattr(network, "conditioning", ()))

    @property
    def action_steps(self) -> int:
        """J + K − 1: the actions the rollout reads, one per step."""
        return self.input_length + self.num_predictions - 1

    def forward(self, observed: Tensor, actions: Tensor | None = None) -> Tensor:
        x = self.normalization.encode(observed)
        if self.reads_actions:
            steps = self.action_steps
            if actions is None or actions.ndim != 3 or actions.shape[1] < steps:
                got = "none" if actions is None else f"shape {tuple(actions.shape)}"
                raise ValueError(f"the network reads actions: pass (N, {steps}, A), J + K - 1 of them; got {got}")
            given = actions[:, :steps].to(x.dtype)
            unread = given.new_zeros(given.shape[0], 1, given.shape[2])
            future, _ = api.predict_future(self.network, x, self.num_predictions, actions=torch.cat([given, unread], 1))
        else:
            future, _ = api.predict_future(self.network, x, self.num_predictions)
        out = self.normalization.decode(future)
        return out.clamp(0.0, 1.0) if self.normalization.uint8 else out


def metadata(rollout: Forecaster, fmt: str, source: str) -> dict[str, Any]:
    net = rollout.network
    c = net.in_channels
    h, w = net.image_size
    info = {
        "format": fmt,
        "input_name": "observed",
        "output_name": "predicted",
        "input_layout": "NTCHW",
        "input_shape": ["N", rollout.input_length, c, h, w],
        "output_shape": ["N", rollout.num_predictions, c, h, w],
        "dtype": "float32",
        "value_range": [0.0, 1.0] if rollout.normalization.uint8 else "the data's units",
        "normalization": rollout.normalization.as_dict(),
        "input_length": rollout.input_length,
        "num_predictions": rollout.num_predictions,
        "checkpoint": source,
    }
    if rollout.reads_actions:  # a second input: the actions of the observed and predicted frames but the last
        info["actions_name"] = "actions"
        info["actions_shape"] = ["N", rollout.action_steps, action_channels(rollout)]
    return info


def action_channels(rollout: Forecaster) -> int:
    a = getattr(rollout.network, "action_channels", None)
    if not isinstance(a, int):
        raise ConfigError(
            f"{type(rollout.network).__name__} reads actions but has no integer action_channels: the artefact's "
            "actions input needs its length A"
        )
    return a


def example_inputs(rollout: Forecaster, batch: int) -> tuple[Tensor, ...]:
    """Random inputs of the artefact's shapes: the frames, and the actions when it reads them."""
    net = rollout.network
    frames = torch.rand(batch, rollout.input_length, net.in_channels, *net.image_size)
    if not rollout.reads_actions:
        return (frames,)
    return frames, torch.rand(batch, rollout.action_steps, action_channels(rollout)) * 2 - 1


def export(
    rollout: Forecaster, fmt: str, output: Path, source: str, batch: int = 2, overwrite: bool = True
) -> dict[str, Any]:
    """Write the artefact and its JSON beside it, as one step (both or neither; without
    `overwrite` neither may exist when they are renamed into place); returns the metadata."""
    rollout = rollout.eval()
    example = example_inputs(rollout, batch)
    info = metadata(rollout, fmt, source)
    batch_dim = torch.export.Dim("N", min=1, max=4096)
    dynamic = tuple({0: batch_dim} for _ in example)  # N varies, for the actions as for the frames
    output = Path(output)
    with atomic_outputs([output, output.with_name(output.name + ".json")], overwrite) as (tmp, json_tmp):
        with torch.no_grad(), _quiet_exporters():
            _write_artefact(rollout, fmt, example, dynamic, tmp, info)
        json_tmp.write_text(json.dumps(info, indent=2))
    return info


def _write_artefact(rollout: Forecaster, fmt: str, example: tuple, dynamic: tuple, tmp: Path, info: dict) -> None:
    if fmt == "onnx":
        _onnx(rollout, example, dynamic, tmp, info)
    elif fmt == "torchscript":  # the trace bakes in the shapes it saw: a scripted guard checks them
        traced = torch.jit.trace(rollout, example, check_trace=False)
        _write_bytes(tmp, lambda buffer: torch.jit.save(torch.jit.script(_guarded(traced, rollout)), buffer))
    elif fmt == "exported-program":
        program = torch.export.export(rollout, example, dynamic_shapes=dynamic)
        _write_bytes(tmp, lambda buffer: torch.export.save(program, buffer))
    else:
        raise ConfigError(f"format={fmt} is unknown: use one of {', '.join(FORMATS)}")


def _write_bytes(path: Path, save) -> None:
    """`save(buffer)` into memory, then the bytes to `path` from Python: torch's C++ file writer
    aborts the interpreter on a full disk (exit 134), where Python's write raises an OSError
    that `atomic_outputs` turns into one line, removing the temporary file."""
    import io

    buffer = io.BytesIO()
    save(buffer)
    with open(path, "wb") as f:
        f.write(buffer.getbuffer())


def _shape_problem(x: Tensor, name: str, shape: list[int]) -> str:
    """What is wrong with input `name` of a traced artefact ("" if nothing): a trace bakes in the
    frame count and size it saw, so a wrong one would be read as if it were right."""
    if x.dtype != torch.float32:
        return f"{name} must be float32 frames (N, J, C, H, W) in the data's units"
    if x.dim() != len(shape):
        return f"{name} must be {len(shape)}-D (N, ...), got {x.dim()}-D"
    for axis in range(1, len(shape)):
        if x.size(axis) != shape[axis]:
            return f"{name} axis {axis} must be {shape[axis]} (expected (N, {shape[1:]})), got {list(x.shape)}"
    return ""


class _GuardedFrames(nn.Module):
    """A traced rollout behind a scripted check of its frames' dtype, count and size."""

    def __init__(self, traced: nn.Module, frames: list[int]) -> None:
        super().__init__()
        self.traced = traced
        self.frames = frames

    def forward(self, observed: Tensor) -> Tensor:
        problem = _shape_problem(observed, "observed", self.frames)
        if problem != "":
            raise ValueError(problem)
        return self.traced(observed)


class _GuardedFramesActions(nn.Module):
    """The same, for a rollout that also reads actions."""

    def __init__(self, traced: nn.Module, frames: list[int], actions: list[int]) -> None:
        super().__init__()
        self.traced = traced
        self.frames = frames
        self.actions = actions

    def forward(self, observed: Tensor, actions: Tensor) -> Tensor:
        problem = _shape_problem(observed, "observed", self.frames)
        if problem == "":
            problem = _shape_problem(actions, "actions", self.actions)
        if problem != "":
            raise ValueError(problem)
        return self.traced(observed, actions)


def _guarded(traced: nn.Module, rollout: Forecaster) -> nn.Module:
    net = rollout.network
    frames = [0, rollout.input_length, net.in_channels, *net.image_size]
    if rollout.reads_actions:
        return _GuardedFramesActions(traced, frames, [0, rollout.action_steps, action_channels(rollout)])
    return _GuardedFrames(traced, frames)


@contextmanager
def _quiet_exporters():
    """The exporters log every pass at INFO and warn about traced Python values: keep the
    console to the one line that says what was written."""
    loggers = [logging.getLogger(name) for name in ("onnx_ir", "onnxscript", "torch.onnx", "torch.export")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # the frames and the actions share their batch axis N: the ONNX exporter notes it
            warnings.filterwarnings("ignore", message="# The axis name: N will not be used")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _onnx(rollout: Forecaster, example: tuple[Tensor, ...], dynamic: tuple, path: Path, info: dict[str, Any]) -> None:
    onnx = require("onnx", "export", "format=onnx")
    require("onnxscript", "export", "format=onnx")
    inputs = ["observed", "actions"][: len(example)]
    program = torch.onnx.export(
        rollout, example, input_names=inputs, output_names=["predicted"], dynamic_shapes=dynamic, dynamo=True,
        verbose=False,
    )  # fmt: skip
    model = program.model_proto
    for key, value in info.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(model, str(path))
