"""No file is ever executed: checkpoints are read weights-only (even when the environment asks
torch to unpickle everything) and arrays without pickle. Each entry point that reads a file
gets a trojan (a working checkpoint, an array or an archive whose pickle runs a command) and
must refuse it in one line, exit code 2, without running the command."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import OFFICIAL_OVERRIDES, run_main

TROJANS = [
    (("predrnn-train", "experiment=smoke", "ckpt_path=trojan.ckpt"), "trojan.ckpt holds a Python object (posix.system"),
    (("predrnn-eval", "ckpt_path=trojan.ckpt"), "trojan.ckpt holds a Python object (posix.system"),
    (("predrnn-predict", "ckpt_path=trojan.ckpt", "input=clip.npy"), "trojan.ckpt holds a Python object"),
    (("predrnn-predict", "ckpt_path=model.ckpt", "input=trojan.npy"), "trojan.npy holds Python objects"),
    (("predrnn-train", "experiment=smoke", "data.test_file=trojan.npy"), "trojan.npy holds Python objects"),
    (("predrnn-eval", "ckpt_path=model.ckpt", "data.test_file=trojan.npy"), "trojan.npy holds Python objects"),
    (("predrnn-train", "experiment=smoke", "data.digits=trojan.npz"), "trojan.npz is not a readable .npz"),
    (
        ("predrnn-train", "experiment=smoke", "ckpt_path=trojan_official.ckpt", *OFFICIAL_OVERRIDES["predrnn_ln0"]),
        "trojan_official.ckpt holds a Python object (posix.system",
    ),  # fine-tuning
    (
        ("predrnn-convert", "ckpt_path=trojan_official.ckpt", "output=n.ckpt", *OFFICIAL_OVERRIDES["predrnn_ln0"]),
        "trojan_official.ckpt holds a Python object",
    ),
    (("predrnn-export", "ckpt_path=trojan.ckpt", "output=m.onnx"), "trojan.ckpt holds a Python object"),
    (
        (
            "predrnn-export",
            "ckpt_path=trojan_official.ckpt",
            "output=m.pt",
            "format=torchscript",
            *OFFICIAL_OVERRIDES["predrnn_ln0"],
        ),
        "trojan_official.ckpt holds a Python object",
    ),
]


def test_the_trojans_are_real(workdir):
    """Loaded the unsafe way, each file runs its command (so the tests below can fail)."""
    marker = workdir / "PWNED"
    for load in (
        lambda: torch.load(workdir / "trojan.ckpt", weights_only=False),
        lambda: np.load(workdir / "trojan.npy", allow_pickle=True),
        lambda: np.load(workdir / "trojan.npz", allow_pickle=True)["x_train"],
    ):
        load()
        assert marker.exists()
        marker.unlink()


@pytest.mark.parametrize("argv, message", TROJANS, ids=[" ".join(a[1:]) for a, _ in TROJANS])
def test_trojan_never_runs(argv, message, workdir, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch's default would unpickle anything
    code, err = run_main(argv, workdir, monkeypatch, capsys)
    assert not (workdir / "PWNED").exists(), "the payload ran"
    assert code == 2 and len(err) == 1 and message in err[0], err
