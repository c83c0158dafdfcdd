"""Lightning's loggers as the configs build them: wandb without its one stale argument, and
TensorBoard asking for its extra by name when it is not installed."""

from __future__ import annotations

from typing import Any

from pytorch_lightning.loggers import TensorBoardLogger as LightningTensorBoardLogger
from pytorch_lightning.loggers import WandbLogger as LightningWandbLogger

from predrnn.extras import require
from predrnn.training.lightning_internals import drop_wandb_init_argument


class WandbLogger(LightningWandbLogger):
    """Lightning's WandbLogger, which always passes `anonymous` to `wandb.init`, so wandb warns
    on every run that the setting has no effect; here it is passed only when set."""

    def __init__(self, *args: Any, anonymous: bool | None = None, **kwargs: Any) -> None:
        super().__init__(*args, anonymous=anonymous, **kwargs)
        if anonymous is None:
            drop_wandb_init_argument(self, "anonymous")


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's TensorBoardLogger; without TensorBoard, one line naming the `tensorboard`
    extra instead of Lightning's traceback."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        require("tensorboard", "tensorboard", "logger=tensorboard")
        super().__init__(*args, **kwargs)
