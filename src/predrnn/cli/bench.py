"""`predrnn-bench`: time the training step in each mode, Trainer.fit, prediction and the data.

Prints one JSON line per case. Timings: median per step after warm-up, CUDA events on a
GPU, a synchronised wall clock on the CPU. Model TFLOP/s counts 3 × the forward FLOPs
(analytic, from the conv shapes). Compare figures from the same run and card only.

    predrnn-bench                           # paper config on the GPU (small on CPU), all suites
    predrnn-bench --suite data              # generator sequences/s
    predrnn-bench --suite train --batch-sizes 8,64 --modes eager_fp32,cuda_graph
    predrnn-bench --suite train --device cpu --size small,2x32,4x64 --modes eager_fp32,bf16,bf16_channels_last,compiled
    predrnn-bench --suite compile --cold    # seconds to the first compiled step, graphs built
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from predrnn.config import compose
from predrnn.data.mnist import load_digits
from predrnn.data.moving_mnist import MovingMNIST, to_unit_float
from predrnn.models import api, reconstruction_loss
from predrnn.toolchain import cpu_compile_problem
from predrnn.training.fastpath import FastPath, autocast_dtype
from predrnn.training.sampling import LinearDecay

MODES = (
    "eager_fp32",
    "bf16",
    "bf16_channels_last",
    "cuda_graph",
    "compiled",
    "compiled_cuda_graph",
)  # conf/speed/<mode>.yaml
SIZES = {
    "paper": {"hidden_channels": [128, 128, 128, 128], "kernel_size": 5, "patch_size": 4},
    "small": {"hidden_channels": [16, 16], "kernel_size": 3, "patch_size": 4},  # the CPU presets' (cpu_quick)
    "2x32": {"hidden_channels": [32, 32], "kernel_size": 3, "patch_size": 4},  # the CPU side by side's
    "4x64": {"hidden_channels": [64, 64, 64, 64], "kernel_size": 5, "patch_size": 4},
}


def mode_settings(mode: str, compile_mode: str = "default") -> tuple[FastPath, torch.dtype | None]:
    """The fast path and autocast dtype of a mode, from its config `speed=<mode>` (the same
    switches training reads)."""
    cfg = compose("train", [f"speed={mode}"], Path(tempfile.gettempdir()) / "predrnn-bench" / "run")
    m = cfg.module
    fast = FastPath(compile_mode if m.compile else None, m.channels_last, m.cuda_graph)
    return fast, autocast_dtype(cfg.trainer.precision)


def make_network(model: str, size: str, layer_norm: bool = False) -> torch.nn.Module:
    """The network of `conf/model/<model>.yaml` for 64 × 64 grey frames, 10 observed, with the
    widths, kernel and patch of `size` where the network has those keys."""
    from hydra.utils import instantiate

    cfg = compose("train", [f"model={model}"], Path(tempfile.gettempdir()) / "predrnn-bench" / "run")
    sizes = {k: v for k, v in SIZES[size].items() if k in cfg.model}
    if "kernel_size" in sizes and isinstance(cfg.model.kernel_size, Sequence):  # a 3D kernel keeps its depth
        sizes["kernel_size"] = [cfg.model.kernel_size[0], sizes["kernel_size"], sizes["kernel_size"]]
    if layer_norm and "layer_norm" in cfg.model:
        sizes["layer_norm"] = True
    return instantiate(cfg.model, _convert_="all", **sizes, in_channels=1, image_size=64, input_length=10)


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def device_info(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        return {"device": "cuda", "card": torch.cuda.get_device_name(device)}
    import os
    import platform

    from predrnn.cpu_features import cpu_bf16

    return {
        "device": "cpu", "card": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
        **cpu_bf16().record(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }  # fmt: skip


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def significant(x: float, digits: int = 4) -> float:
    """`x` to `digits` significant figures: a slow CPU's 0.0004 TFLOP/s must not print as 0.0."""
    return float(f"{x:.{digits}g}")


def peak_memory(device: torch.device) -> dict[str, float]:
    """Peak tensor memory of this case on a GPU; on the CPU the process's peak resident set
    (a high-water mark over the whole run, so it only grows from case to case)."""
    if device.type == "cuda":
        return {"peak_mem_mb": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)}
    import resource

    return {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


class Timer:
    """Per-step times in ms: CUDA events on a GPU, synchronised wall clock on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def time(self, fn: Callable[[], Any], steps: int) -> list[float]:
        times = []
        for _ in range(steps):
            if self.device.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1000)
        return times


@functools.cache
def train_digits() -> np.ndarray:
    """The bundled training digits, read and hash-checked once per process."""
    return load_digits()["train"]


def compile_unavailable(device: torch.device) -> str | None:
    """Why the compiled modes can't run here (no working C++ compiler for inductor's CPU
    kernels), or None."""
    problem = cpu_compile_problem() if device.type == "cpu" else None
    return None if problem is None else f"torch.compile on the CPU needs a working C++ compiler ({problem})"


def make_batch(batch: int, device: torch.device, total_length: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """A real Moving MNIST batch and a scheduled-sampling mask at ε = 0.5."""
    gen = MovingMNIST(train_digits(), total_length=total_length)
    frames = to_unit_float(gen.generate(batch, 0)).to(device)
    mask = LinearDecay(slope=2e-5).mask(25_000, batch, total_length, 10, device)
    return frames, mask


def build(
    size: str, mode: str, device: torch.device, batch: int, layer_norm: bool = False, compile_mode: str = "default",
    model: str = "predrnn",
):  # fmt: skip
    """Network, optimiser and one-step callable for a mode; returns (step, net, setup_seconds)."""
    fast, dtype = mode_settings(mode, compile_mode)
    torch.manual_seed(0)
    net = make_network(model, size, layer_norm).to(device)
    fast.prepare(net, device)
    graphed = fast.graphed(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=device.type == "cuda", capturable=graphed)
    frames, mask = make_batch(batch, device)
    frames = fast.layout(frames)

    def loss_fn(x: torch.Tensor, m: torch.Tensor | None, conditioning=None) -> tuple[torch.Tensor]:
        if api.fixed_horizon(net):  # the K frames after the J observed, no mask (models/api.py)
            j = net.input_length
            predictions, aux = api.predict_future(net, x, x.shape[1] - j)
            return (reconstruction_loss(predictions, x[:, j:], "l1_l2") + sum(aux.values(), 0.0),)
        predictions, aux = api.split_output(net(x, m))
        return (reconstruction_loss(predictions, x[:, 1:], "l1_l2") + sum(aux.values(), 0.0),)

    autocast = torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)
    if graphed:
        with autocast:
            graph = fast.train_step(loss_fn, list(net.parameters()), opt)
        t0 = time.perf_counter()
        graph(frames, mask)
        return (lambda: graph(frames, mask)), net, time.perf_counter() - t0

    def step() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = loss_fn(frames, mask)[0]
        loss.backward()
        opt.step()
        return loss

    t0 = time.perf_counter()
    step()  # first call: compilation / autotuning
    if device.type == "cuda":
        torch.cuda.synchronize()
    return step, net, time.perf_counter() - t0


def bench_train(args: argparse.Namespace, device: torch.device) -> None:
    for size, model, batch, mode in itertools.product(args.sizes, args.models, args.batch_sizes, args.modes):
        info = {"suite": "train", "model": model, "mode": mode, "batch": batch, "config": size,
                "layer_norm": args.layer_norm, **device_info(device)}  # fmt: skip
        fast, _ = mode_settings(mode, args.compile_mode)
        if fast.compile:
            info["compile_mode"] = args.compile_mode
        if fast.cuda_graph and device.type != "cuda":
            emit({**info, "skipped": "CUDA graphs need a GPU"})
            continue
        if fast.compile and (why := compile_unavailable(device)):
            emit({**info, "skipped": why})
            continue
        reset_peak(device)
        step, net, setup = build(size, mode, device, batch, args.layer_norm, args.compile_mode, model)
        for _ in range(args.warmup):
            step()
        times = Timer(device).time(step, args.steps)
        ms = statistics.median(times)
        forward = api.forward_flops(net, batch, 20)
        record = {
            **info,
            "ms_per_step": round(ms, 3),
            "seq_per_s": round(batch * 1000 / ms, 1),
            "model_tflops": None if forward is None else significant(3 * forward / (ms / 1000) / 1e12),
            "setup_s": round(setup, 2),
            "steps": args.steps,
        }
        emit({**record, **peak_memory(device)})
        del step, net


def bench_predict(args: argparse.Namespace, device: torch.device) -> None:
    batch = args.predict_batch
    modes = ("eager_fp32", "bf16", "bf16_channels_last", "compiled")
    for size, model, mode in itertools.product(args.sizes, args.models, modes):
        fast, dtype = mode_settings(mode, args.compile_mode)
        info = {"suite": "predict", "model": model, "mode": mode, "batch": batch, "config": size,
                "layer_norm": args.layer_norm, **device_info(device)}  # fmt: skip
        if fast.compile and (why := compile_unavailable(device)):
            emit({**info, "skipped": why})
            continue
        torch.manual_seed(0)
        reset_peak(device)
        net = make_network(model, size, args.layer_norm).to(device).eval()
        fast.prepare(net, device)
        frames = fast.layout(make_batch(batch, device)[0])

        def run(net=net, frames=frames, dtype=dtype) -> torch.Tensor:
            with (
                torch.inference_mode(),
                torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None),
            ):
                return api.predict_future(net, frames, frames.shape[1] - net.input_length)[0]  # either kind

        t0 = time.perf_counter()
        run()
        setup = time.perf_counter() - t0
        times = Timer(device).time(run, max(3, args.steps // 2))
        ms = statistics.median(times)
        emit(
            {
                **info, "ms_per_batch": round(ms, 3), "seq_per_s": round(batch * 1000 / ms, 1), "setup_s": round(setup, 2),
                **peak_memory(device),
            }
        )  # fmt: skip


def bench_compile(args: argparse.Namespace, device: torch.device) -> None:
    """What a run with compiled cells waits before it trains: the first training step and the
    first validation batch (bf16, channels-last, as `speed=fast`), with the number of graphs
    dynamo built for each. `--cold` bypasses inductor's on-disk cache, as on a fresh machine."""
    import torch._inductor.config as inductor_config

    if why := compile_unavailable(device):
        emit({"suite": "compile", "mode": "compiled", "config": args.size, **device_info(device), "skipped": why})
        return
    cached = inductor_config.force_disable_caches
    inductor_config.force_disable_caches = args.cold
    try:
        _time_first_compiled_steps(args, device)
    finally:
        inductor_config.force_disable_caches = cached


def _time_first_compiled_steps(args: argparse.Namespace, device: torch.device) -> None:
    from torch._dynamo.utils import counters

    batch = args.batch_sizes[0]
    torch._dynamo.reset()
    counters.clear()
    step, net, first_train = build(
        args.size, "compiled", device, batch, args.layer_norm, args.compile_mode, args.models[0]
    )
    train_graphs = counters["stats"]["unique_graphs"]
    fast, _ = mode_settings("compiled", args.compile_mode)
    frames = fast.layout(make_batch(args.predict_batch, device)[0])
    t0 = time.perf_counter()
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
        net.eval()(frames)
    if device.type == "cuda":
        torch.cuda.synchronize()
    first_eval = time.perf_counter() - t0
    net.train()
    ms = statistics.median(Timer(device).time(step, args.steps))
    emit(
        {
            "suite": "compile", "mode": "compiled", "batch": batch, "eval_batch": args.predict_batch,
            "config": args.size, "layer_norm": args.layer_norm, "compile_mode": args.compile_mode,
            "cold_cache": args.cold, **device_info(device), "first_train_step_s": round(first_train, 2),
            "first_eval_batch_s": round(first_eval, 2), "train_graphs": train_graphs,
            "eval_graphs": counters["stats"]["unique_graphs"] - train_graphs, "ms_per_step": round(ms, 3),
        }
    )  # fmt: skip


def bench_fit(args: argparse.Namespace, device: torch.device) -> None:
    """Trainer.fit with the fast experiment config: ms per step including the loop's overhead."""
    from pytorch_lightning.callbacks import Callback

    from predrnn.cli.train import train

    class StepClock(Callback):
        """Wall time from step `skip` to the end, synchronised only there (a sync per step
        would stop the host from running ahead of the GPU, as it does in real training)."""

        def __init__(self, skip: int) -> None:
            self.skip, self.start, self.end, self.steps = skip, 0.0, 0.0, 0

        def _now(self) -> float:
            if device.type == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            if trainer.global_step == self.skip:
                self.start, self.first = self._now(), trainer.global_step

        def on_train_end(self, trainer, pl_module) -> None:
            self.end, self.steps = self._now(), trainer.global_step - self.first

    total = args.warmup + args.fit_steps + 1
    experiment = "paper_mnist_fast" if args.size == "paper" else "smoke"
    overrides = [
        f"experiment={experiment}", "logger=none", "test=false", f"trainer.max_steps={total}",
        "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0", "callbacks.media=null",
        "callbacks.progress_bar=null", "trainer.enable_progress_bar=false",
        f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}", *args.fit_overrides,
    ]  # fmt: skip
    if args.size == "small":
        overrides += [
            "model.hidden_channels=[16,16]",
            "model.kernel_size=3",
            f"model.layer_norm={args.layer_norm}",  # the paper config's fit case has it from paper_mnist
            "data.batch_size=8",
            "data.train_size=4000",
        ]
    cfg = compose("train", overrides, Path(tempfile.mkdtemp(prefix="predrnn-bench-")) / "run")
    clock = StepClock(args.warmup)
    # the raw modes turn cuDNN autotuning on for the process; here the trainer config decides
    torch.backends.cudnn.benchmark = False
    reset_peak(device)
    t0 = time.perf_counter()
    train(cfg, extra_callbacks=[clock])
    wall = time.perf_counter() - t0
    ms = (clock.end - clock.start) * 1000 / max(1, clock.steps)
    batch = int(cfg.data.batch_size)
    emit(
        {
            "suite": "fit", "mode": experiment, "batch": batch, "config": args.size,
            "layer_norm": bool(cfg.model.layer_norm), "cudnn_benchmark": torch.backends.cudnn.benchmark,
            **device_info(device),
            "ms_per_step": round(ms, 3), "seq_per_s": round(batch * 1000 / ms, 1), "steps": clock.steps,
            "wall_s": round(wall, 1), "overrides": list(args.fit_overrides), **peak_memory(device),
        }
    )  # fmt: skip


def bench_data(args: argparse.Namespace) -> None:
    """Generator throughput in one process, and through the training DataLoader (uint8
    batches, as the loaders ship them; the float conversion runs on the device)."""
    gen = MovingMNIST(train_digits())
    for batch in (64, 256, 1024):
        gen.generate(batch, 0)
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < args.data_seconds:
            gen.generate(batch, n)
            n += 1
        elapsed = time.perf_counter() - t0
        emit({"suite": "data", "mode": "generator", "batch": batch, "threads": torch.get_num_threads(),
              "seq_per_s": round(n * batch / elapsed, 1)})  # fmt: skip
    from predrnn.data.moving_mnist_datamodule import MovingMNISTDataModule

    for workers in sorted({0, args.workers}):
        dm = MovingMNISTDataModule(batch_size=64, train_size=64 * 400, num_workers=workers, pin_memory=False)
        dm.setup("fit")
        loader = dm.train_dataloader()
        it = iter(loader)
        next(it)
        t0 = time.perf_counter()
        n = 0
        for _ in it:
            n += 1
            if time.perf_counter() - t0 > args.data_seconds:
                break
        elapsed = time.perf_counter() - t0
        emit({"suite": "data", "mode": "dataloader", "batch": 64, "workers": workers,
              "seq_per_s": round(n * 64 / elapsed, 1)})  # fmt: skip


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="predrnn-bench", description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="all", choices=["all", "train", "compile", "predict", "fit", "data"])
    parser.add_argument(
        "--size", default=None,
        help=f"comma list of {', '.join(SIZES)} (train, predict; the other suites take the first); "
        "paper on GPU, small on CPU by default",
    )  # fmt: skip
    parser.add_argument("--models", default="predrnn", help="comma list of conf/model names to time (train, predict)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--batch-sizes", default=None, help="comma list; default 8,64 on GPU, 8 on CPU")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma list of {', '.join(MODES)}")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 30 GPU, 3 CPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 5 GPU, 1 CPU)")
    parser.add_argument("--fit-steps", type=int, default=None, help="timed Trainer.fit steps")
    parser.add_argument("--fit-overrides", nargs="*", default=[], help="extra Hydra overrides for the fit case")
    parser.add_argument(
        "--layer-norm", action="store_true", help="layer norm in the timed network (paper_mnist has it; official not)"
    )
    parser.add_argument(
        "--compile-mode", default="default", choices=["default", "max-autotune-no-cudagraphs"],
        help="torch.compile mode of the cells in the compiled modes",
    )  # fmt: skip
    parser.add_argument("--cold", action="store_true", help="compile suite: bypass inductor's on-disk cache")
    parser.add_argument("--predict-batch", type=int, default=64)
    parser.add_argument("--data-seconds", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(sorted(unknown))}: use {', '.join(MODES)}")
    args.modes = modes
    args.sizes = [s for s in (args.size or "").split(",") if s]
    if set(args.sizes) - set(SIZES):
        parser.error(f"unknown size(s) {', '.join(sorted(set(args.sizes) - set(SIZES)))}: use {', '.join(SIZES)}")
    from predrnn.config import CONF_DIR

    args.models = [m for m in args.models.split(",") if m]
    known = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
    if set(args.models) - set(known):
        parser.error(f"unknown model(s) {', '.join(sorted(set(args.models) - set(known)))}: use {', '.join(known)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(auto if args.device == "auto" else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("predrnn-bench: error: --device cuda but no CUDA device is visible", file=sys.stderr)
        sys.exit(2)
    gpu = device.type == "cuda"
    args.sizes = args.sizes or ["paper" if gpu else "small"]
    args.size = args.sizes[0]
    args.batch_sizes = [int(b) for b in (args.batch_sizes or ("8,64" if gpu else "8")).split(",")]
    args.steps = args.steps or (30 if gpu else 3)
    args.warmup = args.warmup if args.warmup is not None else (5 if gpu else 1)
    args.fit_steps = args.fit_steps or (60 if gpu else 4)
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True  # as the official code ran (TF32 on)
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    if args.suite in ("all", "data"):
        bench_data(args)
    if args.suite in ("all", "train"):
        bench_train(args, device)
    if args.suite in ("all", "compile"):
        bench_compile(args, device)
    if args.suite in ("all", "predict"):
        bench_predict(args, device)
    if args.suite in ("all", "fit"):
        bench_fit(args, device)


if __name__ == "__main__":
    main()
