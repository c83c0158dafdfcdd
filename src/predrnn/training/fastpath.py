"""The fast path: channels-last memory, compiled cells and the whole training step as one CUDA
graph. Everything that makes training fast but leaves the math alone lives here, so the model's
equations and the LightningModule's step stay as a reader expects them; the module and
`predrnn-bench` both use `FastPath`, so what is benchmarked is what trains.

PredRNN's step is ~19 × L small cells, each a few kernels, forward and backward: thousands of
launches of tiny kernels, so eager PyTorch is launch-bound. Replaying a captured CUDA graph
removes the launch overhead. Static shapes are needed (the data module drops no batches: every
training batch is full), and the teacher mask is built on the device, so nothing on the host
changes between replays but the two input copies.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch import Tensor

from predrnn import checks
from predrnn.errors import BadValue
from predrnn.models import api
from predrnn.toolchain import require_cpu_compiler

COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
AUTOCAST_DTYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def precision_dtype(precision: str | int | None) -> torch.dtype | None:
    """The autocast dtype of a Lightning precision string (None: no autocast)."""
    return AUTOCAST_DTYPES.get(str(precision))


class FastPath:
    """The speed switches of a run (`module.compile`, `module.channels_last`, `module.cuda_graph`).

    - `prepare(network, device)`: channels-last weights and compiled cells (after checking that
      torch.compile can build kernels on this device);
    - `layout(frames)`: the batch in the network's memory layout;
    - `graphed(device)`: whether training steps replay one CUDA graph (CUDA only; elsewhere the
      same step runs eagerly);
    - `optimizer(inner, device)` and `train_step(loss_fn, params, optimizer)`: the graphed step.
    """

    def __init__(self, compile: str | None = None, channels_last: bool = False, cuda_graph: bool = False) -> None:
        self.compile = checks.choice("compile", compile, COMPILE_MODES, "default")
        self.channels_last = checks.boolean("channels_last", channels_last)
        self.cuda_graph = checks.boolean("cuda_graph", cuda_graph)
        if cuda_graph and compile in ("reduce-overhead", "max-autotune"):
            raise BadValue(
                "compile", compile, "makes CUDA graphs of its own, which can't nest in cuda_graph=true",
                "default (or max-autotune-no-cudagraphs)",
            )  # fmt: skip

    def prepare(self, network: torch.nn.Module, device: torch.device, key: str = "module.compile") -> None:
        if self.channels_last:
            network.to(memory_format=torch.channels_last)
        if self.compile and not api.is_compiled(network):
            require_cpu_compiler(key, self.compile, device.type)  # one line here, not a C++ error at step 1
            # train/eval and batch-size variants of each cell shape all need cache entries
            torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
            api.compile_network(network, mode=self.compile)

    def layout(self, frames: Tensor) -> Tensor:
        return frames.contiguous(memory_format=torch.channels_last_3d) if self.channels_last else frames

    def graphed(self, device: torch.device) -> bool:
        return self.cuda_graph and device.type == "cuda"

    def optimizer(self, inner: torch.optim.Optimizer, device: torch.device) -> torch.optim.Optimizer:
        return GraphedOptimizer(inner) if self.graphed(device) else inner

    @staticmethod
    def train_step(
        loss_fn: Callable[[Tensor, Tensor | None, dict[str, Tensor]], tuple[Tensor, ...]],
        params: list[torch.nn.Parameter],
        optimizer: torch.optim.Optimizer,
    ) -> GraphedTrainStep:
        """The graphed step around `loss_fn`, run under the autocast that is active when it is
        built, with autocast's weight cache off (casts must be recorded inside the graph)."""
        dtype = torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else None

        def graphed_loss(frames: Tensor, mask: Tensor | None, conditioning: dict[str, Tensor]) -> tuple[Tensor, ...]:
            context = torch.autocast("cuda", dtype=dtype, cache_enabled=False) if dtype is not None else nullcontext()
            with context:
                return loss_fn(frames, mask, conditioning)

        return GraphedTrainStep(graphed_loss, params, optimizer)


class GraphedOptimizer(torch.optim.Optimizer):
    """Stands in for the real optimiser in Lightning: `step(closure)` only calls the closure,
    which replays the graph that already contains the real optimiser's update (Lightning counts
    steps through this call). State and param groups are the real optimiser's, so checkpoints,
    LR monitors and resume see it."""

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
    """`loss_fn(frames, mask, conditioning) -> (loss, *extras)` plus backward and `optimizer.step()`,
    captured once on the first call and replayed after. The warm-up steps that capture needs
    are undone (weights and optimiser state restored), so training is the same as without the
    graph. Returns the graph's static output tensors (loss first)."""

    def __init__(
        self,
        loss_fn: Callable[[Tensor, Tensor | None, dict[str, Tensor]], tuple[Tensor, ...]],
        params: list[torch.nn.Parameter],
        optimizer: torch.optim.Optimizer,
        warmup: int = 3,
    ) -> None:
        self.loss_fn = loss_fn
        self.params = params
        self.optimizer = optimizer
        self.warmup = warmup
        self.graph: torch.cuda.CUDAGraph | None = None

    def _step(self) -> tuple[Tensor, ...]:
        outputs = self.loss_fn(self.frames, self.mask, self.conditioning)
        outputs[0].backward()
        self.optimizer.step()
        return outputs

    def _capture(self, frames: Tensor, mask: Tensor | None, conditioning: dict[str, Tensor]) -> None:
        self.frames = frames.clone()
        self.mask = None if mask is None else mask.clone()
        self.conditioning = {k: v.clone() for k, v in conditioning.items()}
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
            self.outputs = self._step()
        self._restore(saved_params, saved_state)
        torch.cuda.synchronize()

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

    def __call__(
        self, frames: Tensor, mask: Tensor | None, conditioning: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, ...]:
        """One training step on `frames`/`mask`/`conditioning`; returns the graph's (static) outputs."""
        conditioning = conditioning or {}
        if self.graph is None:
            self._capture(frames, mask, conditioning)
        self.frames.copy_(frames, non_blocking=True)
        if mask is not None:
            self.mask.copy_(mask, non_blocking=True)
        for key, value in conditioning.items():
            self.conditioning[key].copy_(value, non_blocking=True)
        self.graph.replay()
        return self.outputs
