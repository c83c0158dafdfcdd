"""`data=arrays data.actions_key=NAME`: an (N, T, A) array beside the frames in the same HDF5,
Zarr or .npz file. The action of every frame of every window, split and stride is the file's
action of that frame, whatever the reader; batches carry them as float32; bad actions fail
in one line (exit 2) before anything is written."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import run_main
from predrnn.data.arrays_datamodule import ArraysDataModule
from predrnn.errors import ConfigError, DataError

N, T, H, W, A = 6, 14, 8, 8, 3
WINDOWS = {"input_length": 3, "total_length": 6, "eval_total_length": 7, "stride": 2, "val_fraction": 0.2,
           "test_fraction": 0.2, "split_seed": 1, "batch_size": 2, "num_workers": 0}  # fmt: skip


def make_frames() -> np.ndarray:
    """uint8 (N, T, H, W): pixel (0, 0) is the frame number, pixel (0, 1) the clip's."""
    frames = np.random.default_rng(0).integers(0, 256, (N, T, H, W), dtype=np.uint8)
    frames[:, :, 0, 0] = np.arange(T)
    frames[:, :, 0, 1] = np.arange(N)[:, None]
    return frames


def make_actions() -> np.ndarray:
    """float32 (N, T, A): action (n, t) = [n, t, 100 n + t + 0.5], so each names its frame."""
    n, t = np.meshgrid(np.arange(N), np.arange(T), indexing="ij")
    return np.stack([n, t, 100 * n + t + 0.5], axis=-1).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, dict]:
    """The same clips and actions in every array format: {reader: ArraysDataModule arguments}."""
    import h5py
    import zarr

    folder = tmp_path_factory.mktemp("actions")
    frames, actions = make_frames(), make_actions()
    np.savez(folder / "clips.npz", frames=frames, actions=actions)  # data.key left null: the frames are picked
    with h5py.File(folder / "clips.h5", "w") as f:
        f.create_dataset("group/frames", data=frames[..., None], chunks=(1, 4, H, W, 1))
        f["group/actions"] = actions.astype(np.float64)  # any number type is read as float32
    group = zarr.open_group(str(folder / "clips.zarr"), mode="w")
    group.create_array("frames", shape=(N, T, 1, H, W), dtype="uint8", chunks=(1, 4, 1, H, W))[:] = frames[:, :, None]
    group.create_array("actions", shape=actions.shape, dtype="float32")[:] = actions
    return {
        "npz": {"path": str(folder / "clips.npz"), "actions_key": "actions"},
        "hdf5": {"path": str(folder / "clips.h5"), "key": "group/frames", "layout": "NTHWC",
                 "actions_key": "group/actions"},
        "zarr": {"path": str(folder / "clips.zarr"), "key": "frames", "layout": "NTCHW", "actions_key": "actions"},
    }  # fmt: skip


def check_windows(dm: ArraysDataModule, frames: np.ndarray, actions: np.ndarray) -> dict[str, int]:
    """Every window of every split: its frames and the actions of those frames, as in the file."""
    counts = {}
    for split in ("train", "val", "test"):
        dataset = dm.dataset(split)
        batch = dataset.__getitems__(list(range(len(dataset))))
        assert set(batch) == {"frames", "actions"} and batch["actions"].dtype == torch.float32
        length = dm.window_length(split)
        assert batch["actions"].shape == (len(dataset), length, A)
        for i, (c, start) in enumerate(dataset.windows):
            clip = dataset.clips[c]
            first = clip.offset + start
            np.testing.assert_array_equal(batch["frames"][i, :, 0].numpy(), frames[clip.index, first : first + length])
            np.testing.assert_array_equal(batch["actions"][i].numpy(), actions[clip.index, first : first + length])
        counts[split] = len(dataset)
    return counts


@pytest.mark.parametrize("reader", ["npz", "hdf5", "zarr"])
def test_actions_survive_every_reader_window_stride_and_split(reader, files):
    dm = ArraysDataModule(**files[reader], **WINDOWS)
    assert (dm.channels, dm.image_size, dm.action_channels) == (1, (H, W), A)
    counts = check_windows(dm, make_frames(), make_actions())
    # 4 training clips of 14 frames, windows of 6 every 2 frames: 5 each; two 7-frame windows per eval clip
    assert counts == {"train": 4 * 5, "val": 2, "test": 2}
    picked = dm.splits["train"][0].source.key  # the npz's frames, picked as its only array but the actions
    assert picked == {"npz": "frames", "hdf5": "group/frames", "zarr": "frames"}[reader]
    plain = ArraysDataModule(**{**files[reader], "key": picked, "actions_key": None}, **WINDOWS)  # no split changes
    assert {s: dm.windows(s) for s in dm.splits} == {s: plain.windows(s) for s in plain.splits}
    assert [c.index for c in dm.splits["test"]] == [c.index for c in plain.splits["test"]]
    # the loader's batches: a dict, the frames encoded on the device, the actions passed through
    raw = next(iter(dm.train_dataloader()))
    batch = dm.on_after_batch_transfer(raw, 0)
    assert batch["frames"].dtype == torch.float32 and batch["frames"].shape == (2, 6, 1, H, W)
    torch.testing.assert_close(batch["frames"], raw["frames"].float() / 255)
    assert torch.equal(batch["actions"], raw["actions"]) and batch["actions"].shape == (2, 6, A)


def test_the_same_batches_from_every_reader_and_from_loader_workers(files):
    streams = {}
    for reader in files:
        dm = ArraysDataModule(**files[reader], **WINDOWS)
        streams[reader] = list(dm.train_dataloader())
    workers = ArraysDataModule(**{**files["hdf5"], **WINDOWS, "num_workers": 2})  # pickled into two processes
    streams["workers"] = list(workers.train_dataloader())
    reference = streams.pop("npz")
    assert len(reference) == 10
    for name, batches in streams.items():
        for got, want in zip(batches, reference, strict=True):
            assert torch.equal(got["frames"], want["frames"]) and torch.equal(got["actions"], want["actions"]), name


def test_one_long_clip_is_split_along_time_with_its_actions(tmp_path):
    frames = np.random.default_rng(1).integers(0, 256, (40, H, W), dtype=np.uint8)
    actions = np.random.default_rng(2).normal(size=(1, 40, 2)).astype(np.float32)
    np.savez(tmp_path / "long.npz", frames=frames, actions=actions)
    dm = ArraysDataModule(str(tmp_path / "long.npz"), actions_key="actions", layout="THW", **WINDOWS)
    assert [(c.offset, c.length) for s in ("train", "val", "test") for c in dm.splits[s]] == [(0, 24), (24, 8), (32, 8)]
    for split in ("train", "val", "test"):
        dataset = dm.dataset(split)
        for i, (c, start) in enumerate(dataset.windows):
            clip, length = dataset.clips[c], dm.window_length(split)
            item = dataset[i]
            first = clip.offset + start
            np.testing.assert_array_equal(item["frames"][:, 0].numpy(), frames[first : first + length])
            np.testing.assert_array_equal(item["actions"].numpy(), actions[0, first : first + length])


def test_without_actions_key_batches_stay_plain_tensors(files):
    dm = ArraysDataModule(**{**files["hdf5"], "actions_key": None}, **WINDOWS)
    assert dm.action_channels is None
    batch = next(iter(dm.train_dataloader()))
    assert isinstance(batch, torch.Tensor) and batch.shape == (2, 6, 1, H, W)


def bad_files(folder) -> dict[str, str]:
    """{name: .npz file}: frames (N, T, H, W) with actions that are wrong in one way each."""
    import imageio.v3 as iio

    frames, actions = make_frames(), make_actions()
    nan = actions.copy()
    nan[2, 5, 1] = np.nan
    cases = {"missing": {}, "clips": {"actions": actions[:-1]}, "frames": {"actions": actions[:, :-1]},
             "two_d": {"actions": actions[:, :, 0]}, "nan": {"actions": nan},
             "text": {"actions": np.full((N, T, A), "x")}}  # fmt: skip
    paths = {}
    for name, extra in cases.items():
        paths[name] = f"{name}.npz"
        np.savez(folder / paths[name], frames=frames, **extra)
    np.save(folder / "frames.npy", frames)
    (folder / "gifs").mkdir()
    iio.imwrite(folder / "gifs" / "clip.gif", frames[0], duration=100, loop=0)
    return paths


ERRORS = [
    ("missing.npz", DataError, "data.actions_key=actions is not in {f} (it holds frames): give one of those"),
    ("clips.npz", DataError, "data.actions_key=actions in {f} is (N, T, A) = (5, 14, 3) but {f}[frames] holds 6 clips"),
    ("frames.npz", DataError, "data.actions_key=actions of {f}[frames] holds 13 actions per clip for 14 frames: give one action per frame"),
    ("two_d.npz", DataError, "data.actions_key=actions in {f} is 2-D (6, 14): give (N, T, A) actions"),
    ("nan.npz", DataError, "data.actions_key=actions in {f} holds NaN/inf at clip 2, frame 5 (1 values)"),
    ("text.npz", DataError, "data.actions_key=actions in {f} holds <U1 values: give numbers"),
    ("frames.npy", ConfigError, "data.actions_key='actions' names an array beside the frames, but {f} is a .npy"),
    ("gifs", ConfigError, "data.actions_key='actions' names actions beside the frames of an HDF5/Zarr/.npz file or BAIR TFRecords, but {f}/clip.gif is a video"),
]  # fmt: skip


@pytest.mark.parametrize("name, error, message", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_actions_are_one_clear_error(name, error, message, tmp_path):
    bad_files(tmp_path)
    path = str(tmp_path / name)
    with pytest.raises(error) as raised:
        ArraysDataModule(path, actions_key="actions", **WINDOWS)
    assert message.format(f=path) in str(raised.value) and "\n" not in str(raised.value)


def test_bad_actions_end_the_cli_in_one_line_with_exit_2(tmp_path, monkeypatch, capsys):
    bad_files(tmp_path)
    base = ["predrnn-train", "trainer=cpu", "logger=csv", "data=arrays", "data.actions_key=actions",
            "data.input_length=3", "data.total_length=6", "data.num_workers=0"]  # fmt: skip
    for name, want in (("nan.npz", "holds NaN/inf at clip 2, frame 5"), ("frames.npz", "holds 13 actions per clip"),
                       ("frames.npy", "data.actions_key='actions' names an array beside the frames")):  # fmt: skip
        code, err = run_main([*base, f"data.path={name}"], tmp_path, monkeypatch, capsys)
        assert code == 2 and len(err) == 1 and err[0].startswith("predrnn-train: error: ") and want in err[0], err
    assert not (tmp_path / "logs").exists() or not list((tmp_path / "logs").glob("*/runs/*"))
