"""A training step on a machine that is not idle: the CPU preset's step (forward, backward,
Adam; the bench's step builder) timed idle, beside one busy core and with every core busy, under
each OpenMP setting, each (load, setting) in a fresh process (the wait policy is read once,
when the OpenMP runtime starts). docs/cpu.md, "A busy machine".

    python benchmarks/busy_machine.py                     # all loads × all settings, 10 steps each
    python benchmarks/busy_machine.py --steps 1 --warmup 0 --loads idle,one --settings default,one_thread

Settings: `default` (torch's: OMP_WAIT_POLICY unset, one thread per CPU), `passive`
(OMP_WAIT_POLICY=PASSIVE, one thread per CPU), `short_spin` (GOMP_SPINCOUNT=10000: a short spin,
then sleep; one thread per CPU), `chosen` (what predrnn's entry points choose,
predrnn/threads.py `openmp_policy`, decided in the child after the load started) and
`one_thread`. The load is one pure-Python busy loop per busy core, pinned to it
(os.sched_setaffinity). Prints one JSON line per (load, setting), then one per setting with
its busy/idle ratios and its ratio to one thread under the same load. Not a test: run it on an
otherwise idle machine on purpose (RESULTS.md records the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

LOADS = ("idle", "one", "both")
SETTINGS = ("default", "passive", "short_spin", "chosen", "one_thread")
SPIN = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


def cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def busy_cores(load: str) -> list[int]:
    """The cores the load keeps busy: none, the last one, or all."""
    return {"idle": [], "one": cpus()[-1:], "both": cpus()}[load]


def start_load(cores: list[int]) -> list[subprocess.Popen]:
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN, str(core)]) for core in cores]
    time.sleep(0.5 if spinners else 0)  # running before the timed process starts (and samples the CPUs)
    return spinners


def stop_load(spinners: list[subprocess.Popen]) -> None:
    for proc in spinners:
        proc.terminate()
    for proc in spinners:
        proc.wait(timeout=10)


def child_env(setting: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    env.pop("GOMP_SPINCOUNT", None)
    if setting in ("default", "passive", "short_spin"):
        env["OMP_NUM_THREADS"] = str(len(cpus()))
    if setting == "short_spin":  # libgomp: spin this many iterations (its default 300 000), then sleep
        env["GOMP_SPINCOUNT"] = "10000"
    if setting == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    if setting == "one_thread":
        env["OMP_NUM_THREADS"] = "1"
    return env


def run_child(args, load: str, setting: str) -> dict:
    command = [sys.executable, __file__, "--child", setting, "--size", args.size, "--batch", str(args.batch),
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--mode", args.mode]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, env=child_env(setting), timeout=args.timeout)
    if proc.returncode != 0:
        return {"load": load, "setting": setting, "error": proc.stderr.strip().splitlines()[-1:]}
    return {"load": load, "setting": setting, **json.loads(proc.stdout.strip().splitlines()[-1])}


def child(args) -> None:
    """One (load, setting): the OpenMP choice first (before torch starts), then the timed steps."""
    note = None
    if args.child == "chosen":
        from predrnn.threads import openmp_policy

        note = openmp_policy()  # as predrnn's entry points do, before torch is imported
    import torch

    from predrnn.bench.step import build
    from predrnn.cpu_features import cpu_bf16

    step, _, setup = build(args.size, args.mode, torch.device("cpu"), args.batch)
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    print(json.dumps({
        "ms_per_step": round(statistics.median(times) * 1000, 3), "ms_max": round(max(times) * 1000, 3),
        "steps": args.steps, "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "gomp_spincount": os.environ.get("GOMP_SPINCOUNT"), "note": note, "setup_s": round(setup, 2),
        **cpu_bf16().record(),
    }))  # fmt: skip


def summarise(records: list[dict]) -> list[dict]:
    """Per setting: step time under each load over its idle time, and over one thread's under
    the same load (the requirement: busy one core ≤ 2.5 × idle, and ≤ 1.0 × one thread)."""
    ms = {(r["load"], r["setting"]): r["ms_per_step"] for r in records if "ms_per_step" in r}
    lines = []
    for setting in dict.fromkeys(r["setting"] for r in records):
        line = {"bench": "busy_machine_summary", "setting": setting}
        idle = ms.get(("idle", setting))
        for load in ("one", "both"):
            here = ms.get((load, setting))
            if here is None:
                continue
            if idle:
                line[f"{load}_busy_over_idle"] = round(here / idle, 3)
            if (one := ms.get((load, "one_thread"))) is not None:
                line[f"{load}_busy_over_one_thread"] = round(here / one, 3)
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", default=",".join(LOADS), help=f"comma list of {', '.join(LOADS)}")
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma list of {', '.join(SETTINGS)}")
    parser.add_argument("--size", default="small", help="a predrnn-bench size (small: the CPU preset's 2 × 16)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--mode", default="eager_fp32", help="a bench mode (default: the CPU preset's, eager_fp32)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per (load, setting)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return
    loads = [x for x in args.loads.split(",") if x]
    settings = [x for x in args.settings.split(",") if x]
    if set(loads) - set(LOADS) or set(settings) - set(SETTINGS):
        parser.error(f"--loads takes {', '.join(LOADS)}; --settings takes {', '.join(SETTINGS)}")
    records = []
    for load in loads:
        spinners = start_load(busy_cores(load))
        try:
            for setting in settings:
                record = {"bench": "busy_machine", "cpus": len(cpus()), "busy_cores": busy_cores(load),
                          "size": args.size, "batch": args.batch, "mode": args.mode,
                          **run_child(args, load, setting)}  # fmt: skip
                records.append(record)
                print(json.dumps(record), flush=True)
        finally:
            stop_load(spinners)
    for line in summarise(records):
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
