"""Every network of the family goes through the real entry points at tiny sizes: it trains a few
steps with predrnn-train, resumes exactly, predicts more frames than it was trained for, and
exports to ONNX with outputs equal to PyTorch's."""

from __future__ import annotations

import pytest
import torch

from helpers import compose
from predrnn.checkpoints import open_checkpoint
from predrnn.cli.train import train
from predrnn.export import Rollout, export

pytestmark = pytest.mark.slow

NETWORKS = {
    "convlstm": ("model.kernel_size=3", "model.patch_size=4"),
    "predrnn_v2": ("model.kernel_size=3", "model.patch_size=4"),
    "predrnnpp": ("model.kernel_size=3", "model.patch_size=4"),
    "mim": ("model.kernel_size=3", "model.patch_size=4"),
    "mau": ("model.kernel_size=3", "model.patch_size=2", "model.sr_size=2"),
    "e3dlstm": ("model.kernel_size=[2,3,3]", "model.patch_size=4"),
}
TINY = ("trainer=cpu", "logger=csv", "test=false", "callbacks.media=null", "callbacks.progress_bar=null",
        "model.hidden_channels=[4,4]", "data.image_size=32", "data.batch_size=2", "data.train_size=16",
        "data.val_size=2", "data.num_workers=0", "data.input_length=5", "data.total_length=10",
        "sampling=linear", "sampling.slope=0.1", "trainer.num_sanity_val_steps=0", "trainer.log_every_n_steps=1")  # fmt: skip


def weights(path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.mark.parametrize("model", sorted(NETWORKS))
def test_trains_resumes_predicts_longer_and_exports(model, tmp_path):
    common = [f"model={model}", *NETWORKS[model], *TINY]
    train(compose("train", tmp_path / "a", [*common, "trainer.max_steps=4"]))
    train(compose("train", tmp_path / "b", [*common, "trainer.max_steps=2"]))
    half = tmp_path / "b" / "run" / "checkpoints" / "last.ckpt"
    train(compose("train", tmp_path / "c", [*common, "trainer.max_steps=4", f"ckpt_path={half}"]))
    straight, resumed = (weights(tmp_path / x / "run" / "checkpoints" / "last.ckpt") for x in "ac")
    assert straight.keys() == resumed.keys()
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=1e-6, msg=key)
    assert any(not torch.equal(weights(half)[k], straight[k]) for k in straight)  # the second half trained

    checkpoint = open_checkpoint(tmp_path / "a" / "run" / "checkpoints" / "last.ckpt")
    assert checkpoint.module.hparams["network"]["_target_"].split(".")[2] in (model, "predrnn_v2")
    network = checkpoint.module.network.eval()
    observed = torch.rand(2, 5, 1, 32, 32)
    with torch.no_grad():
        longer = Rollout(network, 8)(observed)  # trained to predict 5
    assert longer.shape == (2, 8, 1, 32, 32) and torch.isfinite(longer).all()

    ort = pytest.importorskip("onnxruntime")
    rollout = Rollout(network, 5, checkpoint.module.normalization).eval()
    out = tmp_path / f"{model}.onnx"
    export(rollout, "onnx", out, source="test")
    session = ort.InferenceSession(str(out))
    clip = torch.rand(3, 5, 1, 32, 32)
    (got,) = session.run(None, {session.get_inputs()[0].name: clip.numpy()})
    with torch.no_grad():
        want = rollout(clip)
    torch.testing.assert_close(torch.from_numpy(got), want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("model", ["e3dlstm", "mim"])
def test_ddp_trains_networks_with_weights_the_step_may_not_use(model, tmp_path):
    """DDP refuses trainable parameters that get no gradient: E3D-LSTM as released (its global
    memory convolution never changes the output) and MIM (unapplied reference weights are
    buffers) train on two CPU ranks."""
    from helpers import ENV, run

    env = {k: v for k, v in ENV.items() if k != "OMP_NUM_THREADS"}  # each rank takes its share
    extra = ["model.update_global_memory=false"] if model == "e3dlstm" else []
    tiny = [o for o in TINY if o != "trainer=cpu"]
    run(["predrnn-train", f"model={model}", *NETWORKS[model], *extra, *tiny, "trainer=ddp_cpu", "trainer.max_steps=2"],
        tmp_path, env=env)  # fmt: skip
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
