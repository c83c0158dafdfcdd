"""The timed training step of a mode: the training module's own loss (`PredRNNModule.step_losses`,
so auxiliary losses are weighted as in training), its fast path, Adam, on a real Moving MNIST
batch under a scheduled-sampling mask."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import numpy as np
import torch

from predrnn.bench.networks import training_module
from predrnn.data.mnist import load_digits
from predrnn.data.moving_mnist import MovingMNIST, to_unit_float
from predrnn.training.sampling import LinearDecay


@functools.cache
def train_digits() -> np.ndarray:
    """The bundled training digits, read and hash-checked once per process."""
    return load_digits()["train"]


def make_batch(batch: int, device: torch.device, total_length: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """A real Moving MNIST batch and a scheduled-sampling mask at ε = 0.5."""
    gen = MovingMNIST(train_digits(), total_length=total_length)
    frames = to_unit_float(gen.generate(batch, 0)).to(device)
    mask = LinearDecay(slope=2e-5).mask(25_000, batch, total_length, 10, device)
    return frames, mask


def build(
    size: str, mode: str, device: torch.device, batch: int, layer_norm: bool = False, compile_mode: str = "default",
    model: str = "predrnn",
) -> tuple[Callable[[], torch.Tensor], torch.nn.Module, float]:  # fmt: skip
    """The training module of `model` in `mode` (`networks.training_module`), its optimiser and
    one-step callable; returns (step, network, setup_seconds). `step()` returns the loss."""
    torch.manual_seed(0)
    module, dtype = training_module(model, size, mode, layer_norm, compile_mode)
    module.to(device)
    net, fast = module.network, module.fast
    fast.prepare(net, device)
    graphed = fast.graphed(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=device.type == "cuda", capturable=graphed)
    frames, mask = make_batch(batch, device)
    frames = fast.layout(frames)
    autocast = torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)
    if graphed:
        with autocast:
            graph = fast.train_step(module.step_losses, list(net.parameters()), opt)
        t0 = time.perf_counter()
        graph(frames, mask)
        return (lambda: graph(frames, mask)[0]), net, time.perf_counter() - t0

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = module.step_losses(frames, mask, {})[0]
        loss.backward()
        opt.step()
        return loss

    t0 = time.perf_counter()
    step()  # first call: compilation / autotuning
    if device.type == "cuda":
        torch.cuda.synchronize()
    return step, net, time.perf_counter() - t0
