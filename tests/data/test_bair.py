"""BAIR robot pushing as released: TFRecord files of `tf.train.Example`s (written here with the
`tfrecord` package, in the official layout) read back exactly without TensorFlow, frames and
actions; bad files fail in one line; `experiment=bair_action_predrnn_v2` trains on them, and
the trained model predicts and exports with actions."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bair_files import FRAMES, bair_record, write_bair
from helpers import ROOT, run_main
from predrnn.data.arrays_datamodule import ArraysDataModule
from predrnn.data.sources import open_clips
from predrnn.errors import DataError


@pytest.fixture(scope="module")
def bair(tmp_path_factory) -> tuple[Path, dict[str, list[dict[str, np.ndarray]]]]:
    """softmotion30_44k/{train,test}: two training files of 3 and 2 records, a test file of 2."""
    root = tmp_path_factory.mktemp("bair") / "softmotion30_44k"
    records = {"train": [bair_record(s) for s in range(5)], "test": [bair_record(10 + s) for s in range(2)]}
    write_bair(root / "train" / "traj_0_to_2.tfrecords", records["train"][:3])
    write_bair(root / "train" / "traj_3_to_4.tfrecords", records["train"][3:])
    write_bair(root / "test" / "traj_0_to_1.tfrecords", records["test"])
    return root, records


def test_records_read_back_exactly_without_tensorflow(bair):
    root, records = bair
    clips = open_clips(root / "train", actions_key="action")
    assert [c.name.rsplit("/", 1)[1] for c in clips] == [f"traj_0_to_2.tfrecords record {k}" for k in range(3)] + [
        f"traj_3_to_4.tfrecords record {k}" for k in range(2)
    ]
    for clip, record in zip(clips, records["train"], strict=True):
        assert (clip.length, clip.source.frame_shape, clip.action_channels) == (FRAMES, (3, 64, 64), 4)
        frames = clip.read(0, FRAMES)
        assert frames.dtype == np.uint8 and frames.shape == (FRAMES, 3, 64, 64)
        np.testing.assert_array_equal(frames, record["image_aux1"].transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(clip.read_actions(0, FRAMES), record["action"])
        np.testing.assert_array_equal(clip.read(5, 9), frames[5:9])  # a window decodes only its frames
        np.testing.assert_array_equal(clip.read_actions(5, 9), record["action"][5:9])
    other = open_clips(root / "test" / "traj_0_to_1.tfrecords", key="image_main", actions_key="endeffector_pos")
    np.testing.assert_array_equal(other[1].read(0, 3), records["test"][1]["image_main"][:3].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(other[1].read_actions(0, FRAMES), records["test"][1]["endeffector_pos"])
    (grey,) = open_clips(root / "test" / "traj_0_to_1.tfrecords", grey=True)[:1]
    assert grey.source.frame_shape == (1, 64, 64) and grey.action_channels is None
    assert importlib.util.find_spec("tensorflow") is None or "tensorflow" not in sys.modules


def test_windows_of_a_bair_folder_carry_each_frames_action(bair):
    root, records = bair
    dm = ArraysDataModule(str(root / "train"), actions_key="action", test_path=str(root / "test"), val_fraction=0.2,
                          input_length=2, total_length=12, stride=1, batch_size=2, num_workers=0)  # fmt: skip
    assert (dm.channels, dm.image_size, dm.action_channels, dm.uint8) == (3, (64, 64), 4, True)
    by_name = {f"traj_0_to_2.tfrecords record {k}": records["train"][k] for k in range(3)}
    by_name.update({f"traj_3_to_4.tfrecords record {k}": records["train"][3 + k] for k in range(2)})
    by_name.update({f"traj_0_to_1.tfrecords record {k}": records["test"][k] for k in range(2)})
    for split, windows in (("train", 4 * 3), ("val", 1), ("test", 2)):  # stride 1 in training, 14 frames each
        dataset = dm.dataset(split)
        assert len(dataset) == windows
        batch = dataset.__getitems__(list(range(len(dataset))))
        for i, (c, start) in enumerate(dataset.windows):
            record = by_name[dataset.clips[c].name.rsplit("/", 1)[1]]
            want = record["image_aux1"][start : start + 12].transpose(0, 3, 1, 2)
            np.testing.assert_array_equal(batch["frames"][i].numpy(), want)
            np.testing.assert_array_equal(batch["actions"][i].numpy(), record["action"][start : start + 12])
    # loader workers each open and parse the records themselves: the same stream of batches
    serial = list(dm.train_dataloader())
    dm.hparams.num_workers = 2
    parallel = list(dm.train_dataloader())
    assert len(serial) == 6
    for got, want in zip(parallel, serial, strict=True):
        assert torch.equal(got["frames"], want["frames"]) and torch.equal(got["actions"], want["actions"])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b"not a record file, just text" * 3), "is not a TFRecord file or is corrupt"),
        (lambda p: p.write_bytes(p.with_name("good.tfrecords").read_bytes()[:-100]), "is truncated (record 1 needs"),
    ],
    ids=["junk", "truncated"],
)
def test_bad_tfrecord_files_are_one_clear_error(make, message, tmp_path):
    write_bair(tmp_path / "good.tfrecords", [bair_record(0, 3), bair_record(1, 3)])
    make(tmp_path / "bad.tfrecords")
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        open_clips(tmp_path / "bad.tfrecords")


def test_bair_errors_name_the_fix(tmp_path):
    write_bair(tmp_path / "short.tfrecords", [bair_record(0, 4), bair_record(1, 4)], drop_last_frame_of=1)
    with pytest.raises(
        DataError, match="data.actions_key=act is not a per-frame float feature .* action, endeffector_pos"
    ):
        open_clips(tmp_path / "short.tfrecords", actions_key="act")
    with pytest.raises(DataError, match="data.key=camera is not an image stream .* image_aux1, image_main"):
        open_clips(tmp_path / "short.tfrecords", key="camera")
    clips = open_clips(tmp_path / "short.tfrecords", actions_key="action")
    assert [c.length for c in clips] == [4, 4]  # the file's first record stands for all of them
    with pytest.raises(
        DataError,
        match="record 1 of .* has no bytes feature 3/image_aux1/encoded \\(3 frames; the file's first record has 4\\)",
    ):
        clips[1].read(0, 4)


def test_experiment_trains_predicts_and_exports_with_actions(bair, tmp_path, monkeypatch, capsys):
    """experiment=bair_action_predrnn_v2, tiny, for 2 steps; then predrnn-predict with the actions
    of the observed and predicted frames, and the ONNX artefact with actions as a second input."""
    if not ROOT.joinpath("src/predrnn/models/action_predrnn.py").is_file():
        pytest.skip("src/predrnn/models/action_predrnn.py (ActionPredRNNV2) is not there yet")
    root, records = bair
    argv = ["predrnn-train", "experiment=bair_action_predrnn_v2", f"data.path={root / 'train'}",
            f"data.test_path={root / 'test'}", "data.val_fraction=0.2", "data.batch_size=2", "data.num_workers=0",
            "model.hidden_channels=[4,4]", "model.kernel_size=3", "trainer=cpu", "logger=csv", "trainer.max_steps=2",
            "trainer.val_check_interval=2", "trainer.limit_test_batches=1"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["global_step"] == 2
    assert len(summary["test"]["mse_per_frame"]) == 10 and summary["reproduce"]["test_set"]["actions_key"] == "action"
    ckpt = run_dir / "checkpoints" / "last.ckpt"

    # predict: 2 observed frames per clip, 10 predicted, so 2 + 10 - 1 = 11 actions per clip
    record = records["test"][0]
    frames = np.stack([record["image_aux1"][:2], records["test"][1]["image_aux1"][:2]])  # (2, 2, 64, 64, 3)
    actions = np.stack([record["action"][:11], records["test"][1]["action"][:11]])
    np.savez(tmp_path / "clips.npz", frames=frames, actions=actions)
    np.savez(tmp_path / "short.npz", frames=frames, actions=actions[:, :10])
    predict = ["predrnn-predict", f"ckpt_path={ckpt}", "data.layout=NTHWC", "data.actions_key=actions"]
    code, err = run_main([*predict, "input=clips.npz", "output=pred.npy"], tmp_path, monkeypatch, capsys)
    assert code == 0, err
    pred = np.load(tmp_path / "pred.npy")
    assert pred.shape == (2, 10, 64, 64, 3) and pred.dtype == np.uint8
    code, err = run_main([*predict, "input=short.npz", "output=p2.npy"], tmp_path, monkeypatch, capsys)
    assert code == 2 and len(err) == 1 and "holds 10 actions per clip for 2 frames" in err[0], err
    assert "predicting 10 frames after them needs 11" in err[0]
    code, err = run_main([*predict[:3], "input=clips.npz", "output=p3.npy"], tmp_path, monkeypatch, capsys)
    assert code == 2 and len(err) == 1 and "data.actions_key=None must name the actions" in err[0], err

    # the same rollout by hand, and the artefacts: actions (N, J + K - 1, A) as their second input
    from predrnn.checkpoints import open_checkpoint
    from predrnn.export import Forecaster, export
    from predrnn.training.module import PredRNNModule

    module = open_checkpoint(ckpt, module_class=PredRNNModule).module.eval()
    rollout = Forecaster(module.network, 10, module.normalization).eval()
    x = torch.from_numpy(frames).permute(0, 1, 4, 2, 3).float() / 255
    a = torch.from_numpy(actions)
    with torch.no_grad():
        want = rollout(x, a)
        padded = torch.cat([a, a.new_zeros(2, 1, 4)], 1)
        by_hand = module.network(torch.cat([x, x.new_zeros(2, 10, 3, 64, 64)], 1), None, actions=padded)[:, 1:]
        other = rollout(x, a + 1)  # the actions change the forecast
    torch.testing.assert_close(want, by_hand.clamp(0, 1))
    assert (want - other).abs().max() > 1e-4
    np.testing.assert_array_equal(pred, (want.permute(0, 1, 3, 4, 2).numpy() * 255 + 0.5).astype(np.uint8))
    with pytest.raises(ValueError, match=r"pass \(N, 11, A\)"):
        rollout(x, a[:, :10])
    info = export(rollout, "torchscript", tmp_path / "m.pt", source=str(ckpt))
    assert info["actions_shape"] == ["N", 11, 4] and info["actions_name"] == "actions"
    torch.testing.assert_close(torch.jit.load(str(tmp_path / "m.pt"))(x, a), want, atol=1e-5, rtol=1e-5)
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime as ort

        export(rollout, "onnx", tmp_path / "m.onnx", source=str(ckpt))
        session = ort.InferenceSession(str(tmp_path / "m.onnx"))
        assert [i.name for i in session.get_inputs()] == ["observed", "actions"]
        (out,) = session.run(None, {"observed": x.numpy(), "actions": a.numpy()})
        np.testing.assert_allclose(out, want.numpy(), atol=1e-4)
