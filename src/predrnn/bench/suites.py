"""The suites of `predrnn-bench`: the training step in each mode (`train`), the first compiled
steps (`compile`), prediction (`predict`), `Trainer.fit` with the fast config (`fit`) and the
data (`data`), each case one JSON line (`measure.emit`). `run` fills the options a command line
left to the device and runs the suites it asks for."""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import torch

from predrnn.bench.measure import Timer, device_info, emit, peak_memory, reset_peak, significant
from predrnn.bench.modes import compile_unavailable, compose_train, mode_settings
from predrnn.bench.networks import make_network
from predrnn.bench.step import build, make_batch, train_digits
from predrnn.data.moving_mnist import MovingMNIST
from predrnn.models import api


def bench_train(args: argparse.Namespace, device: torch.device) -> None:
    """The training step (`step.build`) of every size, model, batch and mode: ms per step,
    sequences/s, model TFLOP/s (3 × the analytic forward FLOPs) and peak memory."""
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
    """The K future frames of a batch under inference mode (either kind of network), eager,
    bf16, bf16 channels-last and compiled: ms per batch and sequences/s."""
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

    from predrnn.training.run import train

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
    cfg = compose_train(overrides, Path(tempfile.mkdtemp(prefix="predrnn-bench-")) / "run")
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


def run(args: argparse.Namespace, device: torch.device) -> None:
    """The suites `args.suite` names on `device`, with the defaults of that device for what
    the command line left unset (the paper config, batches 8 and 64 and 30 steps on a GPU;
    the small config, batch 8 and 3 steps on the CPU)."""
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
