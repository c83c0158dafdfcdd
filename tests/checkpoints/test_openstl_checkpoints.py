"""OpenSTL's checkpoints of the family load through the public readers (as its training
checkpoint and as its Lightning branch saves them), with the model and data overrides that
describe them, and compute the reference outputs; ConvLSTM's parity lives here (its network is
predrnn's own, `forget_bias=0` matching OpenSTL's)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import FAMILY, FAMILY_OVERRIDES, compose, family_arrays, run_main
from predrnn.build import described_network
from predrnn.checkpoints import open_checkpoint
from predrnn.checkpoints.official import teacher_mask
from predrnn.training.module import PredRNNModule

CASES = sorted(FAMILY_OVERRIDES)


def lightning_form(case: str, folder) -> str:
    """The checkpoint as OpenSTL's Lightning branch saves it: a Lightning checkpoint whose
    state_dict keys carry the LightningModule's `model.` prefix."""
    state = torch.load(FAMILY / f"{case}.pth", weights_only=True)
    path = folder / f"{case}_lightning.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in state["state_dict"].items()}, "epoch": 3,
                "global_step": 30, "pytorch-lightning_version": "2.0.0",
                "hyper_parameters": {"method": case, "lr": 1e-3}}, path)  # fmt: skip
    return str(path)


def opened(case: str, path, tmp_path):
    cfg = compose("convert", tmp_path, [*FAMILY_OVERRIDES[case], f"ckpt_path={path}", "output=x.ckpt"])
    return open_checkpoint(path, cfg, describe=lambda: described_network(cfg), module_class=PredRNNModule)


@pytest.mark.parametrize("form", ["openstl", "lightning"])
@pytest.mark.parametrize("case", CASES)
def test_openstl_checkpoints_load_with_their_weights(case, form, tmp_path):
    path = FAMILY / f"{case}.pth" if form == "openstl" else lightning_form(case, tmp_path)
    checkpoint = opened(case, path, tmp_path)
    assert checkpoint.kind == "openstl"
    network = checkpoint.module.network
    reference = torch.load(FAMILY / f"{case}.pth", weights_only=True)["state_dict"]
    own = network.state_dict()
    placed = [k for k in reference if k in own]
    if case != "convlstm":  # every other network names its modules as OpenSTL does
        assert placed == list(reference)
    for key in placed:
        assert torch.equal(own[key], reference[key]), key
    # the first steps are reproduced closely (the later ones amplify the fixture's float32
    # rounding in some networks: each network's own test bounds them)
    ref = family_arrays(case)
    net = network.double().eval()
    mask = teacher_mask(ref["teacher_mask"], 10, 20, reverse=False).double()
    with torch.no_grad():
        out = net(ref["frames"].double(), mask)
    torch.testing.assert_close(out[:, :4], ref["next_frames"][:, :4].double(), rtol=0, atol=1e-5)


def test_convlstm_equals_openstl(tmp_path):
    """ConvLSTM is predrnn's own network: OpenSTL's names are mapped onto it, its never-called
    convolutions are reported and left out, and with forget_bias=0 it computes OpenSTL's outputs."""
    ref = family_arrays("convlstm")
    net = opened("convlstm", FAMILY / "convlstm.pth", tmp_path).module.network.double().eval()
    mask = teacher_mask(ref["teacher_mask"], 10, 20, reverse=False).double()
    with torch.no_grad():
        out, inference = net(ref["frames"].double(), mask), net(ref["frames"].double())
    print("ConvLSTM vs OpenSTL, float64:", float((out - ref["next_frames"]).abs().max()),
          float((inference - ref["next_frames_inference"]).abs().max()))  # fmt: skip
    torch.testing.assert_close(out, ref["next_frames"].double(), rtol=0, atol=1e-5)
    torch.testing.assert_close(inference, ref["next_frames_inference"].double(), rtol=0, atol=1e-5)
    net = net.float()
    with torch.no_grad():
        torch.testing.assert_close(net(ref["frames"]), ref["next_frames_inference"], rtol=0, atol=1e-4)


def test_predict_reads_an_openstl_checkpoint_and_reports_unused_weights(tmp_path, monkeypatch, capsys):
    ref = family_arrays("convlstm")
    np.save(tmp_path / "clip.npy", ref["frames"][:, :10, 0].numpy())
    argv = ["predrnn-predict", f"ckpt_path={FAMILY}/convlstm.pth", "input=clip.npy", "output=pred.npy",
            *FAMILY_OVERRIDES["convlstm"]]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert any("holds 4 weights for modules the network never calls" in line for line in err), err
    pred = np.load(tmp_path / "pred.npy")
    want = ref["next_frames_inference"][:, 9:, 0].clamp(0, 1).numpy()
    np.testing.assert_allclose(pred, want, rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (("model.hidden_channels=[8,8]",), "the model=… it was trained with"),  # MIM has three layers
        (("model.kernel_size=3",), "set model.kernel_size=5"),
        (("model=predrnnpp",), "openstl weight stlstm_layer.0.conv_x.0.weight has no place in this model"),
    ],
)
def test_openstl_checkpoint_that_does_not_fit_is_one_line(overrides, message, tmp_path, monkeypatch, capsys):
    np.save(tmp_path / "clip.npy", np.zeros((1, 10, 32, 32), np.float32))
    argv = ["predrnn-predict", f"ckpt_path={FAMILY}/mim.pth", "input=clip.npy", *FAMILY_OVERRIDES["mim"], *overrides]
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 2 and len(err) == 1 and message in err[0], err


@pytest.mark.slow
def test_convert_eval_and_fine_tune_from_an_openstl_checkpoint(tmp_path, monkeypatch, capsys):
    common = FAMILY_OVERRIDES["predrnnpp"]
    code, err = run_main(["predrnn-convert", f"ckpt_path={FAMILY}/predrnnpp.pth", "output=native.ckpt", *common],
                         tmp_path, monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    native = open_checkpoint(tmp_path / "native.ckpt", module_class=PredRNNModule)  # carries its network: no overrides
    assert native.kind == "predrnn" and native.module.hparams["network"]["_target_"].endswith("PredRNNpp")
    code, err = run_main(["predrnn-eval", "ckpt_path=native.ckpt", "data.image_size=32", "data.test_size=4",
                          "data.num_workers=0", "num_media=0"], tmp_path, monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    argv = ["predrnn-train", f"ckpt_path={FAMILY}/predrnnpp.pth", *common, "trainer=cpu", "trainer.max_steps=2",
            "logger=csv", "test=false", "callbacks.media=null", "data.train_size=8", "data.val_size=4",
            "data.batch_size=4", "data.num_workers=0"]  # fmt: skip
    code, err = run_main(argv, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert any("fine-tuning from the OpenSTL checkpoint" in line and "step 0" in line for line in err), err
