"""The family side by side on this machine (issue 27: recurrent and fixed-horizon networks
under one protocol).

    python benchmarks/family.py --steps 300

Every network of `conf/model/` that reads no actions (found from the folder; a config with a
`model_type` key runs each of its network's `MODEL_TYPES` once: SimVP's incepu, gsta and tau)
is trained by `predrnn-train` at a matched small size: the recurrent ones 2 × 16 wide, kernel 3,
patch 4, with linear sampling fitted to the run (ε reaches 0 at 3/4 of it); the fixed-horizon
ones (SimVP, SimVPv2, TAU) with `--simvp` (hid_S 16, hid_T 64, N_S 4, N_T 2 by default: forward
FLOPs per 20-frame sequence matched, 0.75 / 0.92 / 0.91 GFLOPs for IncepU / gSTA / TAU against
PredRNN's 0.73; 2-5× PredRNN's 75 k parameters), no teacher mask. All share batch 8, steps, Adam 2e-3, MSE and seed, on Moving MNIST, and are tested
on the same generated test set (test digits, test_seed 2017). Prints one JSON line per network:
test MSE and SSIM (torchmetrics, and the official code's), the zeros and copy-last baselines,
parameters, forward FLOPs per 20-frame sequence, CPU ms per training step (forward, backward
and Adam on one batch, eager fp32, median of 5 after 2 warm-ups), training seconds, and the
step at which its validation MSE first reached the best recurrent network's final one (the
validation runs every `--val-every` steps) and the time that takes at the timed ms per step; then
a Markdown table. `--time-only` trains nothing and re-times the finished runs under `--out`: the
quality columns do not depend on the machine's load, the timings do, so runs trained on a busy
machine are timed together on an idle one. Not a test: run it on purpose (benchmarks/RESULTS.md
records the figures).
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

CONF = Path(__file__).resolve().parents[1] / "conf"


def networks() -> list[tuple[str, str, list[str]]]:
    """[(row name, config, its own overrides)] of every `conf/model/*.yaml` whose network reads
    no actions; a network with `model_type` choices (its module's MODEL_TYPES) also gets a row
    for each type no config holds by default (`simvp_incepu`)."""
    from hydra.utils import get_class

    from predrnn.cli.hydra_state import compose
    from predrnn.models import api

    rows, typed, seen = [], [], set()
    for path in sorted((CONF / "model").glob("*.yaml")):
        cfg = compose("train", [f"model={path.stem}"], Path("/tmp/predrnn-family/compose")).model
        cls = get_class(cfg._target_)
        if api.conditioning(cls):
            continue  # needs action data
        rows.append((path.stem, path.stem, []))
        if "model_type" in cfg:
            seen.add((cfg._target_, cfg.model_type))
            typed.append((path.stem, cfg._target_, getattr(sys.modules[cls.__module__], "MODEL_TYPES", ())))
    for stem, target, kinds in typed:
        for kind in kinds:
            if (target, kind) not in seen:
                seen.add((target, kind))
                rows.append((f"{stem}_{kind}", stem, [f"model.model_type={kind}"]))
    return rows


def overrides(name: str, model: str, own: list[str], args) -> list[str]:
    from hydra.utils import get_class

    from predrnn.cli.hydra_state import compose
    from predrnn.models import api

    cfg = compose("train", [f"model={model}"], Path("/tmp/predrnn-family/compose")).model
    sizes = list(own)
    if api.fixed_horizon(get_class(cfg._target_)):
        sizes += [f"model.{kv}" for kv in args.simvp.split(",") if kv] + ["sampling=none"]
    else:
        sizes += ["sampling=linear", "sampling.end=0.75"]
    if "hidden_channels" in cfg:
        sizes.append(f"model.hidden_channels=[{args.hidden}]")
    if "kernel_size" in cfg:  # a 3D kernel keeps its temporal depth
        k = args.kernel
        sizes.append(f"model.kernel_size={k}" if isinstance(cfg.kernel_size, int) else f"model.kernel_size=[2,{k},{k}]")
    if "patch_size" in cfg:
        sizes.append("model.patch_size=4")
    common = [
        f"model={model}", *sizes, "module.loss=mse", "optim.lr=2e-3",
        f"data.batch_size={args.batch}", f"trainer.max_steps={args.steps}", f"data.train_size={args.steps * args.batch}",
        "data.val_size=32", f"data.test_size={args.test_size}", "data.num_workers=0", f"seed={args.seed}",
        f"trainer={args.trainer}", "logger=csv", "callbacks.media=null", "callbacks.progress_bar=null",
        "trainer.enable_progress_bar=false", "trainer.num_sanity_val_steps=0", f"hydra.run.dir={args.out}/{name}",
        f"+trainer.val_check_interval={args.val_every}", "trainer.check_val_every_n_epoch=null",
    ]  # fmt: skip
    return common


def fixed(model: str) -> bool:
    """Whether the network of `conf/model/<model>.yaml` predicts a fixed horizon (models/api.py)."""
    from hydra.utils import get_class

    from predrnn.cli.hydra_state import compose
    from predrnn.models import api

    cfg = compose("train", [f"model={model}"], Path("/tmp/predrnn-family/compose")).model
    return api.fixed_horizon(get_class(cfg._target_))


def val_curve(run: Path) -> list[tuple[int, float]]:
    """[(step, val/mse)] of a run's CSV log."""
    import csv

    points = []
    for path in sorted(run.rglob("metrics.csv")):
        with path.open() as f:
            for row in csv.DictReader(f):
                if row.get("val/mse"):
                    points.append((int(row["step"]), float(row["val/mse"])))
    return points


def size_and_speed(checkpoint: Path, batch: int) -> tuple[int, int | None, float]:
    """(parameters, forward FLOPs per 20-frame sequence, CPU ms per training step) of the trained
    network: the step is the module's own loss (what it trains on), backward and Adam."""
    import statistics

    from predrnn.checkpoints import open_checkpoint
    from predrnn.models import api
    from predrnn.training.module import PredRNNModule

    module = open_checkpoint(checkpoint, module_class=PredRNNModule).module.cpu().train()
    network = module.network
    params = sum(p.numel() for p in network.parameters())
    flops = api.forward_flops(network, 1, 20)
    frames = torch.rand(batch, 20, network.in_channels, *network.image_size)
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        loss = module.compute_loss(frames, None, True)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append((time.perf_counter() - t0) * 1000)
    return params, flops, statistics.median(times[2:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="", help="comma list of row names (default: every network found)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--test-size", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--hidden", default="16,16", help="widths of every recurrent network (the papers': 128,128,128,128)"
    )
    parser.add_argument("--kernel", type=int, default=3)
    parser.add_argument("--simvp", default="hid_S=16,hid_T=64,N_S=4,N_T=2", help="the fixed-horizon networks' sizes")
    parser.add_argument("--val-every", type=int, default=50, help="validation interval (steps): the time-to-MSE curve")
    parser.add_argument("--trainer", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/family_runs"))
    parser.add_argument(
        "--time-only", action="store_true",
        help="no training: re-time the runs already under --out (on an idle machine, every row in one timing run)",
    )  # fmt: skip
    args = parser.parse_args()
    machine = {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}
    wanted = [m for m in args.models.split(",") if m]
    found = {name: (name, model, own) for name, model, own in networks()}
    unknown = [m for m in wanted if m not in found]
    if unknown:
        raise SystemExit(f"family.py: --models {','.join(unknown)} not found: the networks are {', '.join(found)}")
    rows = []
    for name, model, own in [found[m] for m in wanted] if wanted else found.values():  # in the order asked
        run = args.out / name
        seconds = None
        if not args.time_only:
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "predrnn.cli.train", *overrides(name, model, own, args)],
                                  capture_output=True, text=True)  # fmt: skip
            seconds = round(time.perf_counter() - t0, 1)
            if proc.returncode != 0:
                print(json.dumps({"model": name, "error": proc.stderr.strip().splitlines()[-1:]}), flush=True)
                continue
        elif not (run / "metrics.json").is_file():
            print(json.dumps({"model": name, "error": f"--time-only: no finished run in {run}"}), flush=True)
            continue
        metrics = json.loads((run / "metrics.json").read_text())
        params, flops, ms = size_and_speed(run / "checkpoints" / "last.ckpt", args.batch)
        base = metrics["baselines"]
        row = {
            "model": name, "config": model, "steps": args.steps, "device": args.trainer, "test_mse": metrics["mse"],
            "test_ssim": metrics["ssim"], "test_ssim_official": metrics.get("ssim_official"),
            "zeros_mse": base["zeros"]["mse"], "copy_last_mse": base["copy_last"]["mse"], "params": params,
            "gflops_per_sequence": flops and flops / 1e9, "cpu_ms_per_step": round(ms, 1),
            "train_seconds": seconds, "val_curve": val_curve(run), "fixed_horizon": fixed(model), **machine,
        }  # fmt: skip
        rows.append(row)
        print(json.dumps(row), flush=True)
    recurrent = [r for r in rows if not r["fixed_horizon"] and r["val_curve"]]
    target = min((r["val_curve"][-1][1] for r in recurrent), default=None)  # the best recurrent final val MSE
    print(f"\n(time to MSE: the first validation step at or below {target} = the best recurrent final val MSE)")
    print("(time to MSE: those steps × the CPU ms per step timed here)")
    print("| model | test MSE | SSIM | SSIM (official) | zeros MSE | copy-last MSE | params | GFLOPs/seq | ms/step | "
          "steps to MSE | time to MSE |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        reached = next((step for step, mse in r["val_curve"] if target is not None and mse <= target), None)
        took = f"{reached * r['cpu_ms_per_step'] / 1000:.0f} s" if reached else "—"
        print(f"| {r['model']} | {r['test_mse']:.2f} | {r['test_ssim']:.4f} | {r['test_ssim_official'] or 0:.4f} | "
              f"{r['zeros_mse']:.2f} | {r['copy_last_mse']:.2f} | {r['params']:,} | "
              f"{(r['gflops_per_sequence'] or 0):.3f} | {r['cpu_ms_per_step'] or 0:.1f} | {reached or '—'} | {took} |")  # fmt: skip


if __name__ == "__main__":
    main()
