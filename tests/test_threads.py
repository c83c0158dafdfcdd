"""The CPU path: which CPUs compute bf16 natively (cpu_features.py), the CPU presets' precision
and the line that says why (training/presets.py), and as many OpenMP threads as the idle CPUs
(threads.py, set by the entry point before torch starts). docs/cpu.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import run_main
from predrnn.cpu_features import Bf16Support, bf16_support, cpu_bf16, cpuinfo_flags
from predrnn.threads import busy_cpus, choose_openmp, cpu_times
from predrnn.training.presets import choose_precision

ROOT = Path(__file__).resolve().parents[1]
NATIVE, EMULATED = Bf16Support("native", ("avx512_bf16",)), Bf16Support("emulated", ())


@pytest.mark.parametrize(
    "flags, kind, found",
    [
        ("flags\t\t: fpu vme sse2 avx2 avx512f avx512_bf16 avx512_vnni", "native", ("avx512_bf16",)),  # Zen 4
        ("flags : fpu avx512f avx512_bf16 amx_bf16 amx_tile amx_int8", "native", ("amx_bf16", "avx512_bf16")),  # SPR
        ("flags : fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni", "emulated", ()),  # Skylake-SP, Cascade Lake
        ("flags : fpu sse2 avx avx2 fma", "emulated", ()),  # Zen 2/3
        ("Features : fp asimd evtstrm aes sve bf16 i8mm", "native", ("bf16",)),  # ARM with the BF16 extension
        ("Features : fp asimd evtstrm aes crc32", "emulated", ()),
        ("avx512f AVX512_BF16", "native", ("avx512_bf16",)),  # a bare list, any case
        ("", "emulated", ()),
        (["avx2", "amx_bf16"], "native", ("amx_bf16",)),
    ],
)
def test_bf16_support_is_read_from_the_cpu_flags(flags, kind, found):
    support = bf16_support(flags)
    assert (support.kind, support.flags) == (kind, found)
    assert support.record() == {"cpu_bf16": kind, "cpu_bf16_flags": list(found)}
    assert ("natively" in support.reason()) == (kind == "native")


def test_the_flags_line_is_found_in_cpuinfo():
    text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu avx512_bf16\nbugs\t\t: sysret_ss_attrs\n"
    assert cpuinfo_flags(text) == "flags\t\t: fpu avx512_bf16"
    assert cpuinfo_flags("processor : 0\nFeatures : fp asimd bf16\n") == "Features : fp asimd bf16"
    assert cpuinfo_flags("processor : 0\n") == ""
    assert cpu_bf16().kind in ("native", "emulated")  # this machine's, from /proc/cpuinfo


# (user's arguments, GPU present, CPU bf16) → (arguments added, words in the line or None)
BF16 = ["speed=bf16_fp32_start"]
SAID_BF16 = "speed=bf16_fp32_start: bf16 autocast after an fp32 start (this CPU computes bf16 natively"
SAID_KEPT = "fp32 (this CPU computes bf16 natively (avx512_bf16), but bf16 after an fp32 start cost this preset"
SAID_EMULATED = "fp32 (this CPU has no native bf16"
PRECISION_CASES = [
    (["experiment=cpu_quick"], False, NATIVE, [], SAID_KEPT),  # measured: not within 2 % at 600 steps
    (["experiment=cpu_quick"], False, EMULATED, [], SAID_EMULATED),
    (["experiment=cpu_quick"], True, NATIVE, [], SAID_KEPT),  # trainer: cpu
    (["experiment=mnist_budget"], False, NATIVE, BF16, SAID_BF16),  # measured: within 2 % on every seed
    (["experiment=mnist_budget"], False, EMULATED, [], SAID_EMULATED),
    (["experiment=mnist_budget"], True, NATIVE, [], None),  # on the GPU: not a CPU run
    (["experiment=mnist_budget", "trainer=cpu"], True, NATIVE, BF16, SAID_BF16),
    (["experiment=mnist_budget", "trainer.precision=32"], False, NATIVE, [], None),  # the user's precision wins
    (["experiment=cpu_quick", "trainer.precision=bf16-mixed"], False, EMULATED, [], None),
    (["experiment=mnist_budget", "speed=eager_fp32"], False, NATIVE, [], None),  # the user's speed wins
    (["experiment=mnist_budget", "speed=fast"], False, NATIVE, [], None),
    (["experiment=smoke"], False, NATIVE, [], None),  # not a CPU preset
    (["experiment=official_mnist"], False, NATIVE, [], None),
    (["trainer.max_steps=5"], False, NATIVE, [], None),
]


@pytest.mark.parametrize("args, gpu, bf16, added, said", PRECISION_CASES)
def test_cpu_presets_run_in_their_measured_precision_and_say_why(args, gpu, bf16, added, said):
    chosen, line = choose_precision(list(args), gpu=gpu, bf16=bf16)
    assert chosen == [*args, *added]
    if said is None:
        assert line is None
    else:  # which, why (with the measurement), and how to override
        assert said in line
        override = {SAID_BF16: "trainer.precision=32-true", SAID_KEPT: "speed=bf16_fp32_start"}.get(
            said, "trainer.precision=bf16-mixed"
        )
        assert override in line and ("benchmarks/RESULTS.md" in line) == bf16.native


# (environment, CPUs, idle CPUs) → (variables set, words in the line or None)
OPENMP_CASES = [
    ({}, 2, 2, {}, None),  # idle: torch's default, nothing to say
    ({}, 2, 1, {"OMP_NUM_THREADS": "1"}, "1 thread(s) (1 of 2 CPUs busy at start)"),
    ({}, 2, 0, {"OMP_NUM_THREADS": "1"}, "1 thread(s) (2 of 2 CPUs busy at start)"),
    ({}, 8, 6, {"OMP_NUM_THREADS": "6"}, "6 thread(s) (2 of 8 CPUs busy"),
    ({}, 2, None, {}, None),  # no /proc/stat: torch's default
    ({}, 1, 0, {}, None),  # one CPU: one thread anyway
    (
        {"OMP_WAIT_POLICY": "PASSIVE"},
        2,
        1,
        {"OMP_NUM_THREADS": "1"},
        "1 thread(s)",
    ),  # a policy alone: threads still chosen
    ({"OMP_NUM_THREADS": "2"}, 2, 0, {}, None),  # the user's threads win
    ({"OMP_NUM_THREADS": "1"}, 2, 2, {}, None),  # the test suite's
]


@pytest.mark.parametrize("environ, available, idle, chosen, said", OPENMP_CASES)
def test_openmp_choice_keeps_the_users_variables(environ, available, idle, chosen, said):
    got, line = choose_openmp(dict(environ), available, idle)
    assert got == chosen
    assert "OMP_WAIT_POLICY" not in got  # torch's wait policy: PASSIVE made the idle step 1.9× slower
    assert (line is None) if said is None else (said in line and "set OMP_NUM_THREADS to choose" in line)


def test_busy_cpus_from_two_proc_stat_readings():
    before = "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 5 0 5 50 0 0 0 0 0 0\ncpu1 5 0 5 50 0 0 0 0 0 0\nintr 1 2\n"
    after = "cpu  100 0 10 200 0 0 0 0 0 0\ncpu0 95 0 5 58 0 0 0 0 0 0\ncpu1 5 0 5 142 2 0 0 0 0 0\nintr 1 2\n"
    assert cpu_times(before) == {0: (10, 60), 1: (10, 60)}
    assert busy_cpus(cpu_times(before), cpu_times(after), {0, 1}) == {0}  # cpu0 90 of 98 busy, cpu1 idle
    assert busy_cpus(cpu_times(before), cpu_times(after), {1}) == set()  # only the CPUs this process may use


CHILD = """
import json, os, sys
from predrnn.cli.entry import entry_point

def task(cfg):
    import torch
    print(json.dumps({"policy": os.environ.get("OMP_WAIT_POLICY"), "threads": torch.get_num_threads()}))

sys.argv = ["predrnn-train", "hydra.run.dir=run", "logger=none"]
entry_point("train", "predrnn-train", task)()
"""


@pytest.mark.parametrize("user", [{}, {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "1"}])
def test_the_entry_point_leaves_the_wait_policy_and_keeps_the_users_threads(user, tmp_path):
    """In a fresh process, as `predrnn-train` starts, before torch: the wait policy stays torch's
    (or the user's), the user's OMP_NUM_THREADS reaches torch, and without it torch runs at most
    one thread per CPU this process may use."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    env.update(user)
    proc = subprocess.run([sys.executable, "-c", CHILD], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["policy"] == user.get("OMP_WAIT_POLICY")
    if "OMP_NUM_THREADS" in user:
        assert seen["threads"] == int(user["OMP_NUM_THREADS"])
    else:
        assert 1 <= seen["threads"] <= len(os.sched_getaffinity(0))


TINY = ["logger=csv", "callbacks.media=null", "data.train_size=8", "data.val_size=4", "data.test_size=4",
        "trainer.max_steps=1", "trainer.num_sanity_val_steps=0", "baselines=[]"]  # fmt: skip


@pytest.mark.parametrize(
    "experiment, user",
    [("cpu_quick", []), ("mnist_budget", ["trainer=cpu"]), ("mnist_budget", ["trainer=cpu", "trainer.precision=32"]),
     ("mnist_budget", ["trainer=cpu", "speed=eager_fp32"])],
)  # fmt: skip
def test_the_chosen_precision_is_in_the_runs_config(experiment, user, tmp_path, monkeypatch, capsys):
    """`predrnn-train experiment=cpu_quick` composes fp32 on every CPU; `experiment=mnist_budget`
    on a CPU bf16 after an fp32 start where this CPU computes bf16 natively and fp32 elsewhere;
    the user's trainer.precision or speed wins (the config the run would use)."""
    code, err, out = run_main(["predrnn-train", f"experiment={experiment}", *user, "--cfg", "job"], tmp_path,
                              monkeypatch, capsys, stdout=True)  # fmt: skip
    assert code == 0, err[-5:]
    config = yaml.safe_load(out)
    precision = str(config["trainer"]["precision"])
    if experiment == "mnist_budget" and not user[1:] and cpu_bf16().native:
        assert precision == "bf16-mixed" and config["callbacks"]["fp32_start"]["fraction"] == 0.25
    else:
        assert precision == ("32" if "trainer.precision=32" in user else "32-true")
        assert "fp32_start" not in config["callbacks"]


@pytest.mark.slow
def test_cpu_quick_runs_in_the_chosen_precision_and_says_so(tmp_path, monkeypatch, capsys):
    """`predrnn-train experiment=cpu_quick` end to end: fp32 in the run's config, and its first
    line says why (bf16 native or not, and what bf16 cost this preset where it is)."""
    code, err = run_main(["predrnn-train", "experiment=cpu_quick", *TINY], tmp_path, monkeypatch, capsys)
    assert code == 0, err[-5:]
    (run,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and 0 < summary["test"]["mse"] < 1e4
    lines = [line for line in err if line.startswith("predrnn-train: ")]
    assert config["trainer"]["precision"] == "32-true" and "fp32_start" not in config["callbacks"] and lines
    reason = "this CPU computes bf16 natively" if cpu_bf16().native else "this CPU has no native bf16"
    assert f"fp32 ({reason}" in lines[0]


@pytest.mark.slow
def test_busy_machine_benchmark_runs(tmp_path):
    """benchmarks/busy_machine.py with tiny arguments: a fresh process per (load, setting), the
    chosen setting with fewer threads beside a busy core, JSON lines and the summary ratios."""
    script = ROOT / "benchmarks" / "busy_machine.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    proc = subprocess.run([sys.executable, str(script), "--steps", "1", "--warmup", "0", "--loads", "one",
                           "--settings", "chosen"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    runs = [r for r in records if r["bench"] == "busy_machine"]
    assert [(r["load"], r["setting"]) for r in runs] == [("one", "chosen")]
    assert all(r["ms_per_step"] > 0 and r["omp_wait_policy"] == "default" and "cpu_bf16" in r for r in runs)
    if len(os.sched_getaffinity(0)) > 1:  # a busy core: fewer threads than CPUs
        assert runs[0]["threads"] < len(os.sched_getaffinity(0)) and "busy at start" in runs[0]["note"]
    assert [r["setting"] for r in records if r["bench"] == "busy_machine_summary"] == ["chosen"]


def test_busy_machine_summary_ratios():
    import importlib.util

    spec = importlib.util.spec_from_file_location("busy_machine", ROOT / "benchmarks" / "busy_machine.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    records = [{"load": load, "setting": setting, "ms_per_step": ms} for load, setting, ms in [
        ("idle", "default", 200), ("one", "default", 8000), ("idle", "one_thread", 300), ("one", "one_thread", 400),
        ("both", "one_thread", 600), ("idle", "chosen", 200), ("one", "chosen", 400),
    ]]  # fmt: skip
    assert bench.summarise(records) == [
        {"bench": "busy_machine_summary", "setting": "default", "one_busy_over_idle": 40.0,
         "one_busy_over_one_thread": 20.0},
        {"bench": "busy_machine_summary", "setting": "one_thread", "one_busy_over_idle": 1.333,
         "one_busy_over_one_thread": 1.0, "both_busy_over_idle": 2.0, "both_busy_over_one_thread": 1.0},
        {"bench": "busy_machine_summary", "setting": "chosen", "one_busy_over_idle": 2.0,
         "one_busy_over_one_thread": 1.0},
    ]  # fmt: skip
