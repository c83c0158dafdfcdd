"""The PredRNN family side by side on this machine (issue: the family under one protocol).

    python benchmarks/family.py --steps 300 --models predrnn,predrnn_v2,convlstm,predrnnpp,mim,mau,e3dlstm

Every network is trained by `predrnn-train` with the same width (2 × 16), kernel 3, patch 4,
batch 8, steps, linear sampling fitted to the run (ε reaches 0 at 3/4 of it), Adam 2e-3, MSE
and seed, on Moving MNIST, and tested on the same generated test set (test digits, test_seed
2017). Prints one JSON line per network: test MSE and SSIM (torchmetrics, and the official
code's), the zeros and copy-last baselines, parameters, forward FLOPs per 20-frame sequence,
and ms per training step (`predrnn-bench --suite train`, eager fp32, batch 8); then a
Markdown table. Not a test: run it on purpose (benchmarks/RESULTS.md records the figures).
The action-conditioned networks need action data and are left out here.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

KERNELS = {"e3dlstm"}  # a 3D kernel: window of 2 × height × width


def overrides(model: str, args) -> list[str]:
    kernel = f"[2,{args.kernel},{args.kernel}]" if model in KERNELS else str(args.kernel)
    common = [
        f"model={model}", f"model.hidden_channels=[{args.hidden}]", f"model.kernel_size={kernel}",
        "model.patch_size=4", "module.loss=mse", "optim.lr=2e-3", "sampling=linear", "sampling.end=0.75",
        f"data.batch_size={args.batch}", f"trainer.max_steps={args.steps}", f"data.train_size={args.steps * args.batch}",
        "data.val_size=32", f"data.test_size={args.test_size}", "data.num_workers=0", f"seed={args.seed}",
        f"trainer={args.trainer}", "logger=csv", "callbacks.media=null", "callbacks.progress_bar=null",
        "trainer.enable_progress_bar=false", "trainer.num_sanity_val_steps=0", f"hydra.run.dir={args.out}/{model}",
    ]  # fmt: skip
    return common


def size_of(checkpoint: Path) -> tuple[int, int | None]:
    """(parameters, forward FLOPs per 20-frame sequence) of the trained network."""
    from predrnn.checkpoints import open_checkpoint
    from predrnn.models import api

    network = open_checkpoint(checkpoint).module.network
    params = sum(p.numel() for p in network.parameters())
    return params, api.forward_flops(network, 1, 20)


def ms_per_step(model: str, args) -> float | None:
    device = "cuda" if args.trainer == "gpu" else "cpu"
    proc = subprocess.run(
        [sys.executable, "-m", "predrnn.cli.bench", "--suite", "train", "--models", model, "--modes", "eager_fp32", "--batch-sizes", str(args.batch),
         "--size", args.bench_size, "--device", device, "--steps", "3"], capture_output=True, text=True,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            return record.get("ms_per_step")
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="predrnn,predrnn_v2,convlstm,predrnnpp,mim,mau,e3dlstm")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--test-size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", default="16,16", help="widths of every network (the papers': 128,128,128,128)")
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--trainer", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--bench-size", default="small", choices=["small", "paper"], help="predrnn-bench's --size")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/family_runs"))
    args = parser.parse_args()
    machine = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}
    rows = []
    for model in [m for m in args.models.split(",") if m]:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "predrnn.cli.train", *overrides(model, args)], capture_output=True,
                              text=True)  # fmt: skip
        seconds = time.perf_counter() - t0
        run = args.out / model
        if proc.returncode != 0:
            print(json.dumps({"model": model, "error": proc.stderr.strip().splitlines()[-1:]}), flush=True)
            continue
        metrics = json.loads((run / "metrics.json").read_text())
        params, flops = size_of(run / "checkpoints" / "last.ckpt")
        base = metrics["baselines"]
        row = {
            "model": model, "steps": args.steps, "hidden": args.hidden, "device": args.trainer, "test_mse": metrics["mse"], "test_ssim": metrics["ssim"],
            "test_ssim_official": metrics.get("ssim_official"), "zeros_mse": base["zeros"]["mse"],
            "copy_last_mse": base["copy_last"]["mse"], "params": params, "gflops_per_sequence": flops and flops / 1e9,
            "cpu_ms_per_step": ms_per_step(model, args), "train_seconds": round(seconds, 1), **machine,
        }  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| model | test MSE | SSIM | SSIM (official) | zeros MSE | copy-last MSE | params | GFLOPs/seq | ms/step |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['test_mse']:.2f} | {r['test_ssim']:.4f} | {r['test_ssim_official'] or 0:.4f} | "
              f"{r['zeros_mse']:.2f} | {r['copy_last_mse']:.2f} | {r['params']:,} | "
              f"{(r['gflops_per_sequence'] or 0):.3f} | {r['cpu_ms_per_step'] or 0:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
