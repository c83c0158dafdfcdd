"""Every network in `conf/model/` (found from the folder: no list is kept here) keeps the
contract of `models/api.py` through the real entry points, at tiny sizes: it trains a few steps
with predrnn-train, resumes exactly, predicts more frames than it was trained for, exports to
ONNX with outputs equal to PyTorch's, and (one network of each kind, slow) trains under DDP.

Tiny sizes come from the keys a config has (by key name, not by network), so a new network's
YAML is tested as it is, shrunk where its keys are the family's usual ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import get_class

from helpers import ENV, compose, run
from predrnn.checkpoints import open_checkpoint
from predrnn.config_groups import CONF_DIR
from predrnn.export import Forecaster, example_inputs, export
from predrnn.models import api
from predrnn.training.module import PredRNNModule
from predrnn.training.run import train

# three short trainings and one ONNX export per network: about 20-60 s each on a shared 2-core machine
pytestmark = pytest.mark.slow

MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))
J, T, SIZE, ACTIONS = 3, 6, 16, 2  # observed, trained sequence length (K = 3), frame size, action values
LONGER = 5  # frames predicted after training on K = T - J = 3

# tiny values for the family's usual keys (a key a config lacks is not set)
TINY_KEYS = {"hidden_channels": "[4,4]", "hid_S": "4", "hid_T": "8", "N_T": "2", "N_S": "2", "tau": "2"}
COMMON = ("trainer=cpu", "logger=csv", "test=false", "callbacks.media=null", "callbacks.progress_bar=null",
          "data=arrays", "data.key=frames", "data.layout=NTCHW", "data.batch_size=2", "data.num_workers=0",
          f"data.input_length={J}", f"data.total_length={T}", "data.val_fraction=0.2", "data.test_fraction=0.1",
          "data.pin_memory=false", "trainer.num_sanity_val_steps=0", "trainer.log_every_n_steps=1",
          "sampling.slope=0.1")  # fmt: skip


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """10 tiny uint8 clips with an action per frame (read only by networks that take actions)."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "clips.npz"
    frames = rng.integers(0, 256, (10, T + LONGER, 1, SIZE, SIZE), dtype=np.uint8)
    actions = rng.uniform(-1, 1, (10, T + LONGER, ACTIONS)).astype(np.float32)
    np.savez(path, frames=frames, actions=actions)
    return path


def overrides(model: str, clips: Path) -> list[str]:
    """The tiny settings of `model` for its config's keys."""
    cfg = compose("train", clips.parent / "compose", [f"model={model}"]).model
    tiny = [f"model={model}", f"data.path={clips}", *COMMON]
    tiny += [f"model.{key}={value}" for key, value in TINY_KEYS.items() if key in cfg]
    if "kernel_size" in cfg:  # 3 in space (E3D-LSTM's first entry is its temporal depth)
        kernel = cfg.kernel_size
        tiny.append(f"model.kernel_size=[{kernel[0]},3,3]" if not isinstance(kernel, int) else "model.kernel_size=3")
    if "sr_size" in cfg:
        tiny.append("model.sr_size=2")
    if "actions" in api.conditioning(get_class(cfg._target_)):
        tiny.append("data.actions_key=actions")
    return tiny


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.fixture(scope="module", params=MODELS)
def trained(request, clips, tmp_path_factory):
    """(model, its tiny overrides, the folder of three runs): 2 steps straight (a), 1 step (b),
    and b resumed to 2 steps (c)."""
    model = request.param
    folder = tmp_path_factory.mktemp(model)
    tiny = overrides(model, clips)
    train(compose("train", folder / "a", [*tiny, "trainer.max_steps=2"]))
    train(compose("train", folder / "b", [*tiny, "trainer.max_steps=1"]))
    half = folder / "b" / "run" / "checkpoints" / "last.ckpt"
    train(compose("train", folder / "c", [*tiny, "trainer.max_steps=2", f"ckpt_path={half}"]))
    return model, tiny, folder


def test_trains_and_resumes_exactly(trained):
    _, _, folder = trained
    straight, resumed = (weights(folder / x / "run" / "checkpoints" / "last.ckpt") for x in "ac")
    half = weights(folder / "b" / "run" / "checkpoints" / "last.ckpt")
    assert straight.keys() == resumed.keys()
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=1e-6, msg=key)
    assert any(not torch.equal(half[k], straight[k]) for k in straight)  # the second step trained


def test_predicts_longer_than_trained_and_exports_equal_to_pytorch(trained):
    model, _, folder = trained
    checkpoint = open_checkpoint(folder / "a" / "run" / "checkpoints" / "last.ckpt", module_class=PredRNNModule)
    network = checkpoint.module.network.eval()
    rollout = Forecaster(network, LONGER, checkpoint.module.normalization).eval()  # trained to predict T - J = 3
    inputs = example_inputs(rollout, 2)
    with torch.no_grad():
        want = rollout(*inputs)
    assert want.shape == (2, LONGER, 1, SIZE, SIZE) and bool(torch.isfinite(want).all())
    ort = pytest.importorskip("onnxruntime")
    out = folder / f"{model}.onnx"
    export(rollout, "onnx", out, source="test")
    session = ort.InferenceSession(str(out))
    names = [i.name for i in session.get_inputs()]
    (got,) = session.run(None, {name: x.numpy() for name, x in zip(names, inputs)})
    torch.testing.assert_close(torch.from_numpy(got), want, rtol=0, atol=1e-5)


def one_of_each_kind() -> list[str]:
    """The first model of each kind the folder holds (networks that read no actions)."""
    picked: dict[str, str] = {}
    for model in MODELS:
        cls = get_class(compose("train", Path("/tmp"), [f"model={model}"]).model._target_)
        if not api.conditioning(cls):
            picked.setdefault(api.predicts(cls), model)
    return sorted(picked.values())


@pytest.mark.parametrize("model", one_of_each_kind())
def test_ddp_trains_each_kind(model, clips, tmp_path):
    env = {k: v for k, v in ENV.items() if k != "OMP_NUM_THREADS"}  # each rank takes its share
    tiny = [o for o in overrides(model, clips) if o != "trainer=cpu"]
    run(["predrnn-train", *tiny, "trainer=ddp_cpu", "trainer.max_steps=2"], tmp_path, env=env)
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
