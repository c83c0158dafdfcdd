"""Helpers the tests share: composing the real configs, running the console scripts, a broken
C++ compiler, and the tiny overrides most runs use."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from predrnn.checkpoints.official import teacher_mask
from predrnn.errors import BadValue
from predrnn.toolchain import cpu_compile_problem

# the smoke experiment, even smaller: a few steps, 4 validation and test sequences
SMOKE = ("experiment=smoke", "data.val_size=4", "data.test_size=4", "trainer.max_steps=4")
# the authors' reference outputs (tests/fixtures/official_parity/README.md)
TESTS = Path(__file__).resolve().parent  # this folder: the shared helpers and tests/fixtures/
ROOT = TESTS.parent  # the repository
OFFICIAL = TESTS / "fixtures" / "official_parity"
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
    from predrnn.cli.hydra_state import compose as compose_config

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


def run_main(argv, cwd, monkeypatch, capsys, stdout: bool = False):
    """A console script's real `main` (Hydra included), run in this process in `cwd`:
    (exit code, the lines it wrote to stderr), and what it printed with `stdout=True`."""
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
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    return (code, err, captured.out) if stdout else (code, err)


def eval_score(ckpt, eval_args: str, cwd, monkeypatch, capsys) -> dict:
    """`metrics.json` of `predrnn-eval ckpt_path=CKPT` run in-process with the data overrides a
    data module prints (`command_line.data_arguments(dm.command_overrides()[0])`), on the CPU, without media."""
    import json
    import shlex

    argv = ["predrnn-eval", f"ckpt_path={ckpt}", *shlex.split(eval_args), "trainer=cpu", "logger=csv", "num_media=0",
            "data.num_workers=0"]  # fmt: skip
    code, err = run_main(argv, cwd, monkeypatch, capsys)
    assert code == 0, err
    (eval_dir,) = (Path(cwd) / "logs" / "eval" / "runs").iterdir()
    return json.loads((eval_dir / "metrics.json").read_text())


# the model and data overrides that describe each reference checkpoint of the family
# (fixtures/family_parity/, whose npz files record these settings)
FAMILY = TESTS / "fixtures" / "family_parity"
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


# the family's parity tests (tests/test_family_*.py): reading the fixtures, and the checks
# every network of the family passes


def family_arrays(case: str) -> dict[str, torch.Tensor]:
    """The numeric arrays of a family_parity npz as tensors, the frames and both references
    channels-first, (B, T, H, W, C) -> (B, T, C, H, W)."""
    with np.load(FAMILY / f"{case}.npz", allow_pickle=False) as z:
        data = {k: torch.from_numpy(np.asarray(z[k])) for k in z.files if z[k].dtype.kind in "fiu"}
    for key in ("frames", "next_frames", "next_frames_inference"):
        data[key] = data[key].permute(0, 1, 4, 2, 3)
    return data


def family_case(name: str, cls, own=lambda data: {}, official: bool = False) -> dict:
    """A family_parity case for network class `cls`: its settings (the arguments every case
    records, plus `own(data)`), its reference state dict (OpenSTL's `.pth`, or the authors'
    `.ckpt` when `official`), frames and references channels-first in float64, and its
    scheduled-sampling mask as ours (the authors' reverse mask already covers steps 1 … T−2).
    `data` holds the npz's arrays."""
    with np.load(FAMILY / f"{name}.npz", allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    path, key = (FAMILY / f"{name}.ckpt", "net_param") if official else (FAMILY / f"{name}.pth", "state_dict")
    settings = {
        "hidden_channels": [int(w) for w in data["hidden"]], "in_channels": int(data["img_channel"]),
        "image_size": int(data["img_width"]), "patch_size": int(data["patch_size"]),
        "kernel_size": int(data["filter_size"]), "input_length": int(data["input_length"]), **own(data),
    }  # fmt: skip
    j, t = int(data["input_length"]), int(data["total_length"])
    mask = teacher_mask(torch.from_numpy(data["teacher_mask"]), j, t, reverse=official)
    channels_first = {k: torch.from_numpy(data[k]).permute(0, 1, 4, 2, 3).double()
                      for k in ("frames", "next_frames", "next_frames_inference")}  # fmt: skip
    state = torch.load(path, map_location="cpu", weights_only=True)[key]
    return {"name": name, "cls": cls, "data": data, "settings": settings, "state": state, "mask": mask,
            **channels_first}  # fmt: skip


def loaded_network(case: dict, dtype=torch.float64, **changes):
    """The case's network through its public constructor (its settings with `changes`), the
    reference state dict loaded strictly (every key, no other), in `dtype`, in eval mode."""
    net = case["cls"](**{**case["settings"], **changes})
    net.load_state_dict(case["state"])
    return net.to(dtype).eval()


def masked_and_inferred(net, case: dict, dtype=torch.float64, extra: int = 0, **conditioning):
    """The network's predictions (under its mask, and at inference) of the case's frames in
    `dtype`, followed by `extra` random frames whose mask entries are 1 (true frames)."""
    frames, mask = case["frames"].to(dtype), case["mask"]
    if extra:
        b = frames.shape[0]
        frames = torch.cat([frames, torch.rand(b, extra, *frames.shape[2:], dtype=frames.dtype)], dim=1)
        mask = torch.cat([mask, torch.ones(b, extra)], dim=1)
    with torch.no_grad():
        return net(frames, mask, **conditioning), net(frames, **conditioning)


def assert_every_parameter_learns(net) -> None:
    """After a backward pass every parameter has a finite, non-zero gradient."""
    for name, param in net.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().max() > 0, name


def state_shapes(net) -> dict[str, torch.Size]:
    return {k: v.shape for k, v in net.state_dict().items()}


def assert_rebuilds_and_counts_its_flops(net, frames: torch.Tensor, **conditioning) -> None:
    """`cls(**init_args)` has the same state-dict keys and shapes, and `forward_flops` of the
    frames' (batch, length) is what torch's FLOP counter counts for one inference pass."""
    assert state_shapes(type(net)(**net.init_args)) == state_shapes(net)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(frames, **conditioning)
    assert net.forward_flops(*frames.shape[:2]) == counter.get_total_flops()


def assert_bad_argument(cls, args: dict, key: str) -> None:
    """`cls(**args)` raises a one-line BadValue naming `key`, whose example (read as a config
    value) the constructor accepts."""
    with pytest.raises(BadValue) as error:
        cls(**args)
    message = str(error.value)
    assert error.value.key == key and "\n" not in message and message.startswith(f"{key}=")
    example = re.search(rf"e\.g\. {key}=(.+)$", message).group(1)
    cls(**{**args, key: yaml.safe_load(example)})


def assert_exports_for_inference(net, frames_shape, conditioning_shapes=None, atol: float = 1e-8) -> None:
    """torch.export (non-strict) traces the network for inference, and its program predicts
    what the network does from other frames (and conditioning, random normal)."""
    shapes = conditioning_shapes or {}
    example = {k: torch.randn(s) for k, s in shapes.items()}
    program = torch.export.export(net, (torch.rand(frames_shape),), example, strict=False)
    other, other_conditioning = torch.rand(frames_shape), {k: torch.randn(s) for k, s in shapes.items()}
    with torch.no_grad():
        exported = program.module()(other, **other_conditioning)
        assert torch.allclose(exported, net(other, **other_conditioning), atol=atol)


def assert_compiled_cells_match(net, frames: torch.Tensor, **conditioning) -> None:
    """`compile_cells` (dynamo's tracing, without a C++ compiler) keeps the predictions and the
    state-dict keys."""
    with torch.no_grad():
        eager = net(frames, **conditioning)
        net.compile_cells(mode=None, backend="eager")
        compiled = net(frames, **conditioning)
    assert torch.allclose(compiled, eager)
    assert set(net.state_dict()) == set(type(net)(**net.init_args).state_dict())  # keys unchanged
