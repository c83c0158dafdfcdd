"""TrainingGuard: stops a run whose loss goes NaN/inf or diverges, before a checkpoint is written after it."""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Mapping

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.trainer.states import TrainerFn
from torch import Tensor
from typing_extensions import override

from predrnn import checks
from predrnn.errors import TrainingStopped


class TrainingGuard(Callback):
    """Stops training when it goes wrong, before a checkpoint is written after it.

    The loss of every step is kept on its device (no host sync per step) and read every
    `check_every_n_steps` and before every checkpoint save. Training stops with one line when a
    loss is NaN/inf, or when it diverges: the median of the last `median_window` losses exceeds
    `divergence_factor` × the lowest such running median so far (null: no divergence check).
    The checkpoint IO (`predrnn.checkpoints.SafeCheckpointIO`) refuses non-finite weights too,
    so every checkpoint written is one whose weights were verified finite.
    """

    def __init__(
        self, check_every_n_steps: int = 50, divergence_factor: float | None = 100.0, median_window: int = 20
    ) -> None:
        self.every = checks.integer("check_every_n_steps", check_every_n_steps, 50, minimum=1)
        if divergence_factor is not None:
            checks.number("divergence_factor", divergence_factor, 100.0, minimum=1.0)
        self.factor = divergence_factor
        self.window = checks.integer("median_window", median_window, 20, minimum=1)
        self.pending: list[tuple[int, Tensor]] = []
        self.recent: deque[float] = deque(maxlen=self.window)
        self.best_median = math.inf

    def _problem(self) -> str | None:
        """Reads the pending losses (one sync) and says what is wrong, if anything."""
        if not self.pending:
            return None
        steps = [s for s, _ in self.pending]
        values = torch.stack([v.float() for _, v in self.pending]).tolist()
        self.pending.clear()
        for step, value in zip(steps, values):
            if not math.isfinite(value):
                if not self.recent:  # the first loss, computed before any update: not the learning rate's doing
                    self.before_update = True
                    return (
                        f"training loss is {value} at its first step {step}, before any update: the weights it starts "
                        "from (a ckpt_path that overflows on this data?) or the data give it, not optim.lr; check that "
                        "the checkpoint and the model/data overrides belong together"
                    )
                return f"training loss became {value} at step {step}"
            self.recent.append(value)
            median = statistics.median(self.recent)
            self.best_median = min(self.best_median, median)
            if self.factor is not None and median > self.factor * self.best_median:
                return (
                    f"training diverged at step {step}: the median loss {median:.3g} is over "
                    f"{self.factor:g}× its lowest running median {self.best_median:.3g}"
                )
        return None

    def check(self, trainer: pl.Trainer) -> None:
        problem = self._problem()
        bad = problem is not None
        if trainer.world_size > 1:
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        if bad and getattr(self, "before_update", False):
            raise TrainingStopped(f"{problem}; nothing was saved")
        if bad:
            last = getattr(trainer.strategy.checkpoint_io, "last_verified", None)
            raise TrainingStopped(
                f"{problem or 'another rank stopped'}; nothing was saved after it: lower optim.lr "
                f"(or set trainer.gradient_clip_val=1.0); last good checkpoint: {last or 'none yet'}"
            )

    @override
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, Tensor):
            self.pending.append((trainer.global_step - 1, loss.detach()))
        if trainer.global_step % self.every == 0:
            self.check(trainer)

    @override
    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            self.check(trainer)
