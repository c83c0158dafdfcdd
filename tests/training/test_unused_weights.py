"""DDP with weights a training step may not use (E3D-LSTM, MIM). What every network does through
the entry points (train, resume, predict longer, ONNX, DDP per kind) is tests/models/test_conformance.py."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow

NETWORKS = {
    "mim": ("model.kernel_size=3", "model.patch_size=4"),
    "e3dlstm": ("model.kernel_size=[2,3,3]", "model.patch_size=4"),
}
TINY = ("trainer=cpu", "logger=csv", "test=false", "callbacks.media=null", "callbacks.progress_bar=null",
        "model.hidden_channels=[4,4]", "data.image_size=32", "data.batch_size=2", "data.train_size=16",
        "data.val_size=2", "data.num_workers=0", "data.input_length=5", "data.total_length=10",
        "sampling=linear", "sampling.slope=0.1", "trainer.num_sanity_val_steps=0", "trainer.log_every_n_steps=1")  # fmt: skip


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
