"""Quality for a fixed budget of steps: recipes side by side on the same small network and the
same generated test set, several seeds each (issue: quality per unit of compute).

    python benchmarks/budget_recipe.py --steps 2000 --seeds 0,1,2 \\
        --recipe official=experiment=official_mnist --recipe budget=experiment=mnist_budget

Each (recipe, seed) is one `predrnn-train` run with the network and data overrides below
(default: 2 × 32 ST-LSTM, 3 × 3, patch 4, batch 8, `--steps` steps, validation once at the
end), tested on `--test-size` generated Moving MNIST test sequences (test digits, test_seed
2017: the same set for every run). Runs go `--jobs` at a time, each with its share of the CPU
threads. Prints one JSON line per run, then one per recipe with mean ± std over seeds and the
zeros / copy-last baselines, and, with two recipes or more, the relative MSE of each against the
first. Each run's line has `seconds` (the whole command), `train_seconds` (the wall time of
training with its validations, `summary.json`'s `fit_seconds`) and the `precision` it ran in;
a recipe takes several overrides separated by commas, e.g. a precision:
`--recipe bf16=experiment=mnist_budget,trainer.precision=bf16-mixed` (on a CPU with native bf16
the CPU presets choose bf16 themselves: give `trainer.precision=32-true` for an fp32 run, docs/cpu.md).
Not a test: run it on purpose (RESULTS.md records the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def network_overrides(args) -> list[str]:
    return [
        f"model.hidden_channels=[{args.hidden}]", f"model.kernel_size={args.kernel}", "model.patch_size=4",
        f"data.batch_size={args.batch}", f"trainer.max_steps={args.steps}", f"data.train_size={args.steps * args.batch}",
        f"data.val_size={args.val_size}", f"data.test_size={args.test_size}", "data.num_workers=0",
        "trainer=cpu", "logger=csv", "callbacks.media=null", "callbacks.progress_bar=null",
        "trainer.enable_progress_bar=false", "trainer.num_sanity_val_steps=0",
    ]  # fmt: skip


def run_one(name: str, recipe: list[str], seed: int, args, threads: int) -> dict:
    root = Path(args.out) / f"{name}_seed{seed}"
    command = [str(Path(sys.executable).parent / "predrnn-train"), *recipe, *network_overrides(args), f"seed={seed}",
               f"paths.root_dir={root}", *args.extra]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore"}
    done = sorted(root.glob("logs/train/runs/*/metrics.json"))
    seconds = None
    if not (args.reuse and done):  # --reuse: a run finished earlier (same folder) is read, not repeated
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, env=env)
        seconds = round(time.perf_counter() - start, 1)
        if proc.returncode != 0:
            return {"recipe": name, "seed": seed, "error": proc.stderr.strip().splitlines()[-1:], "command": command}
    metrics_file = sorted(root.glob("logs/train/runs/*/metrics.json"))[-1]
    m = json.loads(metrics_file.read_text())
    summary_file = metrics_file.with_name("summary.json")
    fit_seconds = json.loads(summary_file.read_text()).get("fit_seconds") if summary_file.is_file() else None
    config = (metrics_file.parent / ".hydra" / "config.yaml").read_text()
    precision = next((ln.split(":", 1)[1].strip() for ln in config.splitlines() if ln.startswith("  precision:")), None)
    return {
        "recipe": name, "seed": seed, "mse": m["mse"], "ssim": m["ssim"], "mae": m["mae"], "psnr": m["psnr"],
        "mse_per_frame": m["mse_per_frame"], "zeros_mse": m["baselines"]["zeros"]["mse"],
        "copy_last_mse": m["baselines"]["copy_last"]["mse"], "test_sequences": m["num_sequences"],
        "seconds": seconds, "train_seconds": fit_seconds, "precision": precision, "threads": threads,
        "overrides": recipe,
    }  # fmt: skip


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", action="append", required=True, help="NAME=override,override,… (repeatable)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--hidden", default="32,32")
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--val-size", type=int, default=64)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="threads per run (default: the CPUs / jobs)")
    parser.add_argument("--out", default="benchmarks/budget_runs")
    parser.add_argument("--extra", nargs="*", default=[], help="overrides added to every run")
    parser.add_argument("--reuse", action="store_true", help="read runs already in --out instead of repeating them")
    args = parser.parse_args()
    recipes = {}
    for spec in args.recipe:
        name, _, overrides = spec.partition("=")
        recipes[name] = [o for o in overrides.split(",") if o]
    seeds = [int(s) for s in args.seeds.split(",")]
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    tasks = [(name, recipe, seed) for seed in seeds for name, recipe in recipes.items()]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda t: run_one(*t, args, threads), tasks))
    machine = {"machine": platform.node(), "cpus": os.cpu_count(), "steps": args.steps, "hidden": args.hidden,
               "kernel": args.kernel, "batch": args.batch, "test_size": args.test_size}  # fmt: skip
    for r in results:
        print(json.dumps({"bench": "budget_recipe_run", **machine, **r}), flush=True)
    first = None
    for name in recipes:
        done = [r for r in results if r["recipe"] == name and "mse" in r]
        if not done:
            continue
        summary = {"bench": "budget_recipe", **machine, "recipe": name, "overrides": recipes[name], "seeds": len(done)}
        for key in ("mse", "ssim", "zeros_mse", "copy_last_mse", "train_seconds"):
            values = [r[key] for r in done if r.get(key) is not None]
            if values:
                summary[f"{key}_mean"], summary[f"{key}_std"] = (round(v, 4) for v in mean_std(values))
        if first is None:
            first = summary
        else:
            summary["mse_vs_first"] = round(summary["mse_mean"] / first["mse_mean"] - 1, 4)
            if "train_seconds_mean" in summary and first.get("train_seconds_mean"):
                summary["train_seconds_vs_first"] = round(
                    summary["train_seconds_mean"] / first["train_seconds_mean"], 4
                )
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
