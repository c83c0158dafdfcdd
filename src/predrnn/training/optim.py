"""The optimiser settings of a run (the `optim` config group): which optimiser, its learning
rate and weight decay, and the learning-rate schedule."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from predrnn import checks

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
SCHEDULERS = (None, "cosine")


@dataclass
class Optim:
    """`name` (adam, adamw), `lr`, `weight_decay`, and `scheduler` (null, or cosine: per step
    over the run's steps)."""

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str | None = None

    def __post_init__(self) -> None:
        checks.choice("name", self.name, OPTIMIZERS, "adam")
        self.lr = checks.number("lr", self.lr, 1e-3, positive=True)
        self.weight_decay = checks.number("weight_decay", self.weight_decay, 0.0, minimum=0.0)
        checks.choice("scheduler", self.scheduler, SCHEDULERS, "cosine")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def build(self, params, total_steps: int, fused: bool = False, capturable: bool = False):
        """(optimizer, scheduler or None)."""
        optimizer = OPTIMIZERS[self.name](
            params, lr=self.lr, weight_decay=self.weight_decay, fused=fused, capturable=capturable
        )
        if self.scheduler is None:
            return optimizer, None
        return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, int(total_steps)))
