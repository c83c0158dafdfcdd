"""The inference rollout as a self-contained artefact: J observed frames in, K predicted frames
out (K fixed at export), as ONNX, TorchScript or a torch.export ExportedProgram.

Every artefact takes float32 frames (N, J, C, H, W) in [0, 1] and returns float32 (N, K, C, H, W)
in [0, 1]; its metadata (ONNX metadata properties, and a JSON file beside every artefact) says
so, with J, K and the frame size."""

from __future__ import annotations

import json
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from predrnn.errors import ConfigError
from predrnn.files import atomic_path

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "exported-program": ".pt2"}


class Rollout(nn.Module):
    """`network` predicting `num_predictions` frames from `input_length` observed ones, clipped
    to [0, 1] as the metrics and predrnn-predict clip them."""

    def __init__(self, network: nn.Module, num_predictions: int) -> None:
        super().__init__()
        self.network = network
        self.num_predictions = num_predictions
        self.input_length = network.input_length

    def forward(self, observed: Tensor) -> Tensor:
        future = observed.new_zeros(observed.shape[0], self.num_predictions, *observed.shape[2:])
        predictions = self.network(torch.cat([observed, future], dim=1))  # the future is never read
        return predictions[:, self.input_length - 1 :].clamp(0.0, 1.0)


def metadata(rollout: Rollout, fmt: str, source: str) -> dict[str, Any]:
    net = rollout.network
    c = net.in_channels
    h, w = net.image_size
    return {
        "format": fmt,
        "input_name": "observed",
        "output_name": "predicted",
        "input_layout": "NTCHW",
        "input_shape": ["N", rollout.input_length, c, h, w],
        "output_shape": ["N", rollout.num_predictions, c, h, w],
        "dtype": "float32",
        "value_range": [0.0, 1.0],
        "input_length": rollout.input_length,
        "num_predictions": rollout.num_predictions,
        "checkpoint": source,
    }


def export(rollout: Rollout, fmt: str, output: Path, source: str, batch: int = 2) -> dict[str, Any]:
    """Write the artefact (atomically) and its JSON beside it; returns the metadata."""
    rollout = rollout.eval()
    net = rollout.network
    example = torch.rand(batch, rollout.input_length, net.in_channels, *net.image_size)
    info = metadata(rollout, fmt, source)
    with torch.no_grad(), _quiet_exporters(), atomic_path(output) as tmp:
        if fmt == "onnx":
            _onnx(rollout, example, tmp, info)
        elif fmt == "torchscript":
            torch.jit.save(torch.jit.trace(rollout, example, check_trace=False), str(tmp))
        elif fmt == "exported-program":
            batch_dim = torch.export.Dim("N", min=1, max=4096)
            program = torch.export.export(rollout, (example,), dynamic_shapes=({0: batch_dim},))
            torch.export.save(program, str(tmp))
        else:
            raise ConfigError(f"format={fmt} is unknown: use one of {', '.join(FORMATS)}")
    with atomic_path(output.with_name(output.name + ".json")) as tmp:
        tmp.write_text(json.dumps(info, indent=2))
    return info


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
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _onnx(rollout: Rollout, example: Tensor, path: Path, info: dict[str, Any]) -> None:
    try:
        import onnx
    except ImportError:
        raise ConfigError("format=onnx needs the onnx packages: pip install 'predrnn[export]'") from None
    program = torch.onnx.export(
        rollout, (example,), input_names=["observed"], output_names=["predicted"],
        dynamic_shapes=({0: torch.export.Dim("N", min=1, max=4096)},), dynamo=True, verbose=False,
    )  # fmt: skip
    model = program.model_proto
    for key, value in info.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(model, str(path))
