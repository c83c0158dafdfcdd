"""Shared fixtures: tiny sizes, one or two threads, real MNIST digits loaded once per process.
Helpers shared by the tests live in `helpers.py`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(autouse=True)
def _no_logging_to_closed_streams():
    """An entry point run in-process (`helpers.run_main`) lets Hydra configure logging with
    handlers on that test's captured stdout/stderr, which pytest closes after the test: a later
    test in the same worker that logs without reconfiguring (Hydra's compose logs at DEBUG)
    would print "--- Logging error ---". Such handlers are removed before each test."""
    import logging

    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in list(getattr(logger, "handlers", [])):
            if getattr(getattr(handler, "stream", None), "closed", False):
                logger.removeHandler(handler)
    yield


@pytest.fixture(scope="session")
def digits() -> dict[str, np.ndarray]:
    from predrnn.data.mnist import load_digits

    return load_digits("bundled")


class Trojan:
    """Unpickling this runs `touch <marker>`: what a crafted checkpoint or array would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    """A folder with a trained smoke checkpoint (`model.ckpt`) and files of every kind."""
    folder = tmp_path_factory.mktemp("errors")
    from helpers import compose
    from predrnn.training.run import train

    cfg = compose("train", folder / "trained", ["experiment=smoke", "trainer.max_steps=2", "logger=csv", "test=false",
                                                "data.val_size=4", "callbacks.media=null"])  # fmt: skip
    train(cfg)
    (folder / "trained" / "run" / "checkpoints" / "last.ckpt").rename(folder / "model.ckpt")
    state = torch.load(folder / "model.ckpt", weights_only=True)
    torch.save(state["state_dict"], folder / "bare.ckpt")
    raw = (folder / "model.ckpt").read_bytes()
    (folder / "truncated.ckpt").write_bytes(raw[: len(raw) // 2])
    (folder / "text.ckpt").write_text("not a checkpoint\n")
    clip = (np.random.default_rng(0).random((2, 12, 64, 64)) * 255).astype(np.uint8)
    np.save(folder / "clip.npy", clip)
    np.save(folder / "empty.npy", np.zeros((0, 12, 64, 64), np.uint8))
    np.save(folder / "int16.npy", clip.astype(np.int16))
    nan = clip.astype(np.float32) / 255
    nan[0, 5, 2, 3] = np.nan  # in the observed frames (the last 10)
    np.save(folder / "nan.npy", nan)
    np.save(folder / "big.npy", clip.astype(np.float32) * 2)
    huge = (folder / "clip.npy").read_bytes().replace(b"(2, 12, 64, 64)", b"(2, 12, 99999999999)", 1)
    (folder / "huge.npy").write_bytes(huge)  # a header declaring ~37 TiB over a few kB of data
    np.save(folder / "seq_empty.npy", np.zeros((20, 0, 64, 64), np.uint8))
    np.save(folder / "seq_small.npy", np.zeros((20, 2, 32, 32), np.uint8))
    np.savez(folder / "digits_float.npz", x_train=np.zeros((3, 28, 28)), x_test=np.zeros((3, 28, 28)))
    import imageio.v2 as imageio

    imageio.mimsave(folder / "clip.gif", list(clip[0]))
    (folder / "existing.npy").write_bytes(b"precious")
    (folder / "existing.pt").write_bytes(b"precious")
    official = torch.load(
        Path(__file__).parent / "fixtures" / "official_parity" / "predrnn_ln0.ckpt", weights_only=True
    )
    torch.save(official, folder / "official.ckpt")
    # trojans: a working checkpoint, an array and an archive that run a command when unpickled
    trojan = Trojan(folder / "PWNED")
    torch.save({**state, "hyper_parameters": {**state["hyper_parameters"], "payload": trojan}}, folder / "trojan.ckpt")
    np.save(folder / "trojan.npy", np.array([trojan], dtype=object), allow_pickle=True)
    np.savez(folder / "trojan.npz", x_train=np.array([trojan], dtype=object), x_test=np.array([trojan], dtype=object))
    torch.save({**official, "payload": trojan}, folder / "trojan_official.ckpt")
    (folder / "afolder").mkdir()
    _user_data(folder)
    return folder


def _user_data(folder: Path) -> None:
    """Files for `data=arrays`: a good HDF5 (4 clips of 12 frames, 16×16, 2 channels), one with
    a NaN, a folder whose frames differ in size, a video that can't be decoded."""
    import h5py
    import imageio.v3 as iio

    fields = np.random.default_rng(1).random((4, 12, 16, 16, 2)).astype(np.float32)
    with h5py.File(folder / "frames.h5", "w") as f:
        f["fields"] = fields
    fields[:, 3, 4, 5, 1] = np.nan
    with h5py.File(folder / "nan_fields.h5", "w") as f:
        f["fields"] = fields
    for i in range(2):
        (folder / "mixed" / f"clip{i}").mkdir(parents=True)
        for t in range(12):
            size = 20 if (i, t) == (1, 7) else 16
            iio.imwrite(folder / "mixed" / f"clip{i}" / f"{t:03d}.png", np.zeros((size, size), np.uint8))
    (folder / "videos").mkdir()
    (folder / "videos" / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    (folder / "notes.txt").write_text("not data\n")


# the files that take longest, longest first (seconds of CPU on 2 cores, `make test` with
# --junitxml): test_learning.py (about 200, one test) first, then as measured; the rest follow
LONGEST_FIRST = ("test_learning.py", "test_stopping.py", "test_conformance.py", "test_fastpath.py", "test_signals.py",
                 "test_sweeps.py", "test_extending.py", "test_console_scripts.py", "test_errors.py", "test_safety.py",
                 "test_arrays_datamodule.py", "test_ddp.py", "test_export.py", "test_sevir.py", "quickstart.ipynb",
                 "test_unused_weights.py", "test_console.py", "test_readers.py", "test_suggestions.py",
                 "test_run.py", "test_remote.py", "test_bair.py", "test_weatherbench_multivariable.py",
                 "test_threads.py", "test_weatherbench.py", "test_xarray_datamodule.py")  # fmt: skip


def pytest_collection_modifyitems(items) -> None:
    """The longest files first (test_learning.py is a real CPU training run of minutes): with two
    workers and `--dist loadfile` each worker takes the next file when it is free, so long files
    at the end would leave one worker running them alone."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
