"""Whole-step CUDA-graph capture: forward, backward and the optimiser step replay as one graph.

PredRNN's step is ~19 × L small cells, each a few kernels, forward and backward: thousands
of launches of tiny kernels, so eager PyTorch is launch-bound. Replaying a captured graph
removes the launch overhead. Static shapes are needed (the data module drops no batches:
every training batch is full), and the teacher mask is built on the device, so nothing
on the host changes between replays but the two input copies.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import torch
from torch import Tensor


class GraphedOptimizer(torch.optim.Optimizer):
    """Stands in for the real optimiser in Lightning: `step(closure)` only calls the closure,
    which replays the graph that already contains the real optimiser's update. State and
    param groups are the real optimiser's, so checkpoints, LR monitors and resume see it."""

    def __init__(self, inner: torch.optim.Optimizer) -> None:
        super().__init__(inner.param_groups, inner.defaults)
        self.inner = inner
        self.state = inner.state
        self.param_groups = inner.param_groups

    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:  # type: ignore[override]
        return closure() if closure is not None else None

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Gradients live in the graph's memory and are overwritten on each replay."""

    def state_dict(self) -> dict:
        return self.inner.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self.inner.load_state_dict(state_dict)
        self.state = self.inner.state
        self.param_groups = self.inner.param_groups


class GraphedTrainStep:
    """`loss_fn(frames, mask) -> loss` plus backward and `optimizer.step()`, captured once
    on the first call and replayed after. The warm-up steps that capture needs are undone
    (weights and optimiser state restored), so training is the same as without the graph."""

    def __init__(
        self,
        loss_fn: Callable[[Tensor, Tensor | None], Tensor],
        params: list[torch.nn.Parameter],
        optimizer: torch.optim.Optimizer,
        warmup: int = 3,
    ) -> None:
        self.loss_fn = loss_fn
        self.params = params
        self.optimizer = optimizer
        self.warmup = warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.capture_seconds = 0.0

    def _step(self) -> Tensor:
        loss = self.loss_fn(self.frames, self.mask)
        loss.backward()
        self.optimizer.step()
        return loss

    def _capture(self, frames: Tensor, mask: Tensor | None) -> None:
        start = time.perf_counter()
        self.frames = frames.clone()
        self.mask = None if mask is None else mask.clone()
        saved_params = [p.detach().clone() for p in self.params]
        saved_state = copy.deepcopy(self.optimizer.state_dict()["state"])
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(self.warmup):  # autotuning and lazy state creation happen here
                self.optimizer.zero_grad(set_to_none=True)
                self._step()
        torch.cuda.current_stream().wait_stream(stream)
        self.optimizer.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss = self._step()
        self._restore(saved_params, saved_state)
        torch.cuda.synchronize()
        self.capture_seconds = time.perf_counter() - start

    @torch.no_grad()
    def _restore(self, saved_params: list[Tensor], saved_state: dict) -> None:
        """Undo the warm-up in place (the graph holds these tensors' addresses)."""
        for p, saved in zip(self.params, saved_params, strict=True):
            p.copy_(saved)
        for i, p in enumerate(self.params):
            state = self.optimizer.state.get(p, {})
            before = saved_state.get(i, {})
            for key, value in state.items():
                if isinstance(value, Tensor):
                    if key in before:
                        value.copy_(before[key])
                    else:
                        value.zero_()  # fresh Adam state: zero moments, step 0

    def __call__(self, frames: Tensor, mask: Tensor | None) -> Tensor:
        """One training step on `frames`/`mask`; returns the graph's (static) loss tensor."""
        if self.graph is None:
            self._capture(frames, mask)
        self.frames.copy_(frames, non_blocking=True)
        if mask is not None:
            self.mask.copy_(mask, non_blocking=True)
        self.graph.replay()
        return self.loss
