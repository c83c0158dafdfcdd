"""Fp32Start: a bf16-mixed run trains its first steps in fp32 and the rest in bf16, resumes in
the right precision, and leaves other precisions alone."""

import json

import pytest
import torch
from pytorch_lightning.callbacks import Callback

from helpers import SMOKE, compose
from predrnn.errors import BadValue
from predrnn.training.fp32_start import Fp32Start
from predrnn.training.run import train


class DtypeProbe(Callback):
    """The network's output dtype at each training step, and in the test."""

    def __init__(self):
        self.train: list[torch.dtype] = []
        self.test: set[torch.dtype] = set()

    def on_fit_start(self, trainer, pl_module):
        def record(net, inputs, output):
            if trainer.testing:
                self.test.add(output.dtype)
            elif net.training:
                self.train.append(output.dtype)

        pl_module.network.register_forward_hook(record)


def _run(tmp_path, overrides):
    probe = DtypeProbe()
    cfg = compose("train", tmp_path, [*SMOKE, "logger=none", "callbacks.media=null", *overrides])
    train(cfg, extra_callbacks=[probe])
    return cfg, probe


F32, B16 = torch.float32, torch.bfloat16


@pytest.mark.parametrize(
    ("overrides", "want_train", "want_test"),
    [
        (["speed=bf16_fp32_start"], [F32, B16, B16, B16], {B16}),  # a quarter of 4 steps
        (["speed=bf16_fp32_start", "callbacks.fp32_start.fraction=0.5"], [F32, F32, B16, B16], {B16}),
        (["speed=bf16_fp32_start", "callbacks.fp32_start.fraction=0"], [B16] * 4, {B16}),
        (["speed=bf16_fp32_start", "trainer.precision=32-true"], [F32] * 4, {F32}),  # left alone
    ],
)
def test_the_first_fraction_of_steps_trains_in_fp32_then_bf16(tmp_path, overrides, want_train, want_test):
    cfg, probe = _run(tmp_path, overrides)
    assert cfg.callbacks.fp32_start._target_.endswith("Fp32Start")
    assert probe.train == want_train and probe.test == want_test
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["global_step"] == 4


def test_a_resumed_run_continues_in_the_precision_of_its_step(tmp_path):
    """Stopped after 2 of 8 steps with an fp32 start of 4, the resumed run trains steps 3-4 in
    fp32 and 5-8 in bf16: the switch follows the trainer's step, not the process."""
    first = ["speed=bf16_fp32_start", "callbacks.fp32_start.fraction=0.5", "trainer.max_steps=8"]
    _run(tmp_path / "a", [*first, "+trainer.limit_train_batches=2", "trainer.max_epochs=1"])
    last = next((tmp_path / "a" / "run").glob("**/last.ckpt"))
    _, probe = _run(tmp_path / "b", [*first, f"ckpt_path={last}"])
    assert probe.train == [F32, F32, B16, B16, B16, B16]


@pytest.mark.parametrize("fraction", [-0.1, 1.5, "a quarter", True])
def test_a_fraction_outside_0_to_1_is_refused(fraction):
    with pytest.raises(BadValue, match="fraction"):
        Fp32Start(fraction)
