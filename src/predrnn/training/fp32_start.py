"""Fp32Start: a `bf16-mixed` run trains its first steps in fp32 (docs/cpu.md, "bf16 on the CPU")."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.plugins.precision import MixedPrecision, Precision
from typing_extensions import override

from predrnn import checks


class Fp32Start(Callback):
    """Under `trainer.precision=bf16-mixed`, the first `fraction` of the optimiser steps
    (`trainer.max_steps`) run in plain fp32, the rest in bf16 autocast.

    Why: measured on the CPU side by side (benchmarks/RESULTS.md), bf16 autocast from the first
    step sometimes sends the early, high-learning-rate phase of training somewhere worse (one
    seed of three ended 17 % behind fp32), while the same steps after an fp32 start keep the
    fp32 run's quality; most of the run still gets bf16's speed.

    How: before each training step the run's precision plugin is the fp32 one (`Precision()`)
    while `trainer.global_step` is below `fraction × max_steps`, and the run's own bf16 plugin
    from then on; the step counter is the trainer's, so a resumed run continues in the right
    precision. bf16 needs no gradient scaler, so nothing else changes at the switch.
    Validations run in whichever precision the training is in; the test after `fit` in bf16.
    Any other precision (`32-true`, `16-mixed`, …) is left alone.
    """

    def __init__(self, fraction: float = 0.25) -> None:
        checks.number("fraction", fraction, 0.25, minimum=0.0, maximum=1.0)
        self.fraction = float(fraction)
        self._bf16: Precision | None = None
        self.steps = 0

    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        plugin = trainer.strategy.precision_plugin
        if isinstance(plugin, MixedPrecision) and plugin.precision == "bf16-mixed":
            self._bf16 = plugin
            self.steps = round(self.fraction * max(trainer.max_steps, 0))

    @override
    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._bf16 is not None:
            trainer.strategy.precision_plugin = Precision() if trainer.global_step < self.steps else self._bf16

    @override
    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._bf16 is not None:
            trainer.strategy.precision_plugin = self._bf16
