"""The optimiser settings of a run (the `optim` config group): which optimiser, its learning
rate and weight decay, and the learning-rate schedule fitted to the run (docs/method.md,
"Schedules fitted to the run")."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import torch

from predrnn import checks
from predrnn.errors import BadValue

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
SCHEDULERS = (None, "cosine")


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """The learning-rate factor at `step`: linear warm-up over `warmup` steps to 1, then a
    cosine to 0 at `total` (a pure function of the step: resume continues exactly)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class Optim:
    """`name` (adam, adamw), `lr`, `weight_decay`, `scheduler` (null, or cosine: per step over the
    run's steps) and `warmup` (the fraction of the run spent warming the learning rate up
    linearly before the cosine)."""

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str | None = None
    warmup: float = 0.0

    def __post_init__(self) -> None:
        checks.choice("name", self.name, OPTIMIZERS, "adam")
        self.lr = checks.number("lr", self.lr, 1e-3, positive=True)
        self.weight_decay = checks.number("weight_decay", self.weight_decay, 0.0, minimum=0.0)
        for key, value, example in (("lr", self.lr, 1e-3), ("weight_decay", self.weight_decay, 0.0)):
            if not math.isfinite(value):  # inf would make every weight NaN at the first step
                raise BadValue(key, value, "must be finite", example)
        checks.choice("scheduler", self.scheduler, SCHEDULERS, "cosine")
        self.warmup = checks.number("warmup", self.warmup, 0.05, minimum=0.0, below=1.0)
        if self.warmup > 0 and self.scheduler is None:
            raise BadValue("warmup", self.warmup, "warms up a schedule: set optim.scheduler=cosine too", 0.0)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def build(self, params, fused: bool = False, capturable: bool = False) -> torch.optim.Optimizer:
        """The optimiser. `capturable` (the CUDA-graph step): the learning rate is a tensor on the
        parameters' device, which the captured update reads, so a schedule that changes it in
        place (`schedule`) reaches the graphed step too."""
        params = list(params)
        lr = torch.tensor(self.lr, device=params[0].device) if capturable else self.lr
        return OPTIMIZERS[self.name](params, lr=lr, weight_decay=self.weight_decay, fused=fused, capturable=capturable)

    def schedule(self, optimizer: torch.optim.Optimizer, total_steps: int):
        """The per-step learning-rate schedule over `total_steps` (None: constant). A tensor
        learning rate is updated in place (`fill_`), never replaced."""
        if self.scheduler is None:
            return None
        total = max(1, int(total_steps))
        factor = partial(warmup_cosine, total=total, warmup=round(self.warmup * total))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
