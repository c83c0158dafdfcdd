"""Helpers the tests share: composing the real configs, running the console scripts, a broken
C++ compiler, and the tiny overrides most runs use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from predrnn.toolchain import cpu_compile_problem

# the smoke experiment, even smaller: a few steps, 4 validation and test sequences
SMOKE = ("experiment=smoke", "data.val_size=4", "data.test_size=4", "trainer.max_steps=4")
# the authors' reference outputs (tests/fixtures/official_parity/README.md)
OFFICIAL = Path(__file__).parent / "fixtures" / "official_parity"
# the model and data overrides that describe the official fixtures' networks
OFFICIAL_OVERRIDES = {
    "predrnn_ln0": (
        "model.hidden_channels=[8,8]",
        "model.kernel_size=5",
        "model.patch_size=4",
        "model.layer_norm=false",
        "data.image_size=32",
        "data.input_length=10",
        "data.total_length=20",
    ),
}
OFFICIAL_OVERRIDES["predrnn_ln1"] = (
    *OFFICIAL_OVERRIDES["predrnn_ln0"][:3],
    "model.layer_norm=elementwise",
    *OFFICIAL_OVERRIDES["predrnn_ln0"][4:],
)
OFFICIAL_OVERRIDES["predrnn_v2_rss"] = ("model=predrnn_v2", *OFFICIAL_OVERRIDES["predrnn_ln0"])
# the environment of the console scripts the tests start: offline wandb, one thread each
ENV = {**os.environ, "WANDB_MODE": "offline", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}

# inductor builds CPU kernels with the system's C++ compiler; without one these tests can't run
# (.ci/run makes sure CI has one, so there they always run)
CPU_COMPILE_PROBLEM = cpu_compile_problem()
needs_cpu_compiler = pytest.mark.skipif(
    CPU_COMPILE_PROBLEM is not None, reason=f"torch.compile on the CPU needs a C++ compiler: {CPU_COMPILE_PROBLEM}"
)


def compose(config_name: str, tmp_path, overrides=()):
    """The real configs composed as the entry points do, with the run folder tmp_path/run."""
    from predrnn.config import compose as compose_config

    return compose_config(config_name, overrides, Path(tmp_path) / "run")


def script(name: str) -> str:
    """A console script of this environment (found beside its python, PATH or not)."""
    local = Path(sys.executable).parent / name
    return str(local) if local.is_file() else name


def run(args, cwd, check=True, env=None):
    """A console script as a user runs it, in `cwd`; fails the test if it fails and `check`."""
    args = [script(args[0]), *args[1:]]
    proc = subprocess.run(args, cwd=cwd, env=env or ENV, capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def broken_compiler(folder) -> Path:
    """A `g++` that answers --version (so inductor picks it) but can't compile: what a machine
    with the compiler driver and without its back end (`cc1plus`) looks like."""
    path = Path(folder) / "g++"
    path.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "g++ (broken) 12"; exit 0; fi\n'
        "echo \"g++: fatal error: cannot execute 'cc1plus': execvp: No such file or directory\" >&2\n"
        'echo "compilation terminated." >&2\n'
        "exit 1\n"
    )
    path.chmod(0o755)
    return path


def run_main(argv, cwd, monkeypatch, capsys) -> tuple[int, list[str]]:
    """A console script's real `main` (Hydra included), run in this process in `cwd`:
    (exit code, the lines it wrote to stderr)."""
    from predrnn.cli import convert, evaluate, export, predict, train

    mains = {"predrnn-train": train.main, "predrnn-eval": evaluate.main, "predrnn-predict": predict.main,
             "predrnn-convert": convert.main, "predrnn-export": export.main}  # fmt: skip
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", list(argv))
    capsys.readouterr()
    try:
        mains[argv[0]]()
        code = 0
    except SystemExit as exit_info:
        code = exit_info.code
    return code, capsys.readouterr().err.strip().splitlines()


# the model and data overrides that describe each reference checkpoint of the family
# (fixtures/family_parity/, whose npz files record these settings)
FAMILY = Path(__file__).parent / "fixtures" / "family_parity"
_SMALL = ("model.kernel_size=5", "data.image_size=32", "data.input_length=10", "data.total_length=20")
FAMILY_OVERRIDES = {
    "convlstm": ("model=convlstm", "model.hidden_channels=[8,8]", "model.patch_size=4", "model.forget_bias=0.0",
                 *_SMALL),
    "predrnnpp": ("model=predrnnpp", "model.hidden_channels=[8,8]", "model.patch_size=4", *_SMALL),
    "mim": ("model=mim", "model.hidden_channels=[8,8,8]", "model.patch_size=4", *_SMALL),
    "mau": ("model=mau", "model.hidden_channels=[8,8]", "model.patch_size=1", "model.tau=5", "model.sr_size=4",
            *_SMALL),
    "e3dlstm": ("model=e3dlstm", "model.hidden_channels=[8,8]", "model.patch_size=4", "model.kernel_size=[2,5,5]",
                "model.update_global_memory=false", *_SMALL[1:]),
    "e3dlstm_fixed": ("model=e3dlstm", "model.hidden_channels=[8,8]", "model.patch_size=4",
                      "model.kernel_size=[2,5,5]", "model.update_global_memory=true", *_SMALL[1:]),
}  # fmt: skip
