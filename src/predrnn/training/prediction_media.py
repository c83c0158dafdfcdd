"""PredictionMedia: image strips and GIFs of a few sequences at validation and test."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.loggers import TensorBoardLogger, WandbLogger
from pytorch_lightning.utilities import rank_zero_only
from torch import Tensor
from typing_extensions import override

from predrnn import checks
from predrnn.training import media


class PredictionMedia(Callback):
    """Image strips and GIFs of the first `num_sequences` sequences at validation and test,
    written under `<run>/media/` and logged to wandb / TensorBoard, from rank zero only: in
    colour for three channels, otherwise `channel` (default 0) in grey."""

    def __init__(
        self, num_sequences: int = 2, dirpath: str | None = None, channel: int | None = None, step: int | None = None
    ) -> None:
        self.num_sequences = num_sequences
        self.dirpath = dirpath
        self.channel = None if channel is None else checks.integer("channel", channel, 0, minimum=0)
        self.step = step  # the step the files are named after (predrnn-eval: the checkpoint's); None: the trainer's

    def _folder(self, trainer: pl.Trainer) -> Path:
        return Path(self.dirpath or trainer.default_root_dir) / "media"

    @rank_zero_only
    def _emit(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Tensor, preds: Tensor, stage: str
    ) -> None:
        if trainer.sanity_checking or self.num_sequences <= 0:
            return
        valid = pl_module.valid_of(batch)  # where the data has coverage (masked data), or None
        batch = pl_module.split_batch(batch)[0]  # the frames (a batch with actions is a dict)
        if valid is not None:  # no-coverage pixels drawn at the fill value in every row (media.to_uint8_image)
            batch = batch.masked_fill(~valid, float("nan"))
            preds = preds.masked_fill(~valid[:, pl_module.input_length :], float("nan"))
        j = pl_module.input_length  # `preds`: the K future frames (the module's step output)
        step = trainer.global_step if self.step is None else self.step
        tag = f"{stage}_step{step:07d}"
        images, gifs = [], []
        scaled = pl_module.normalization.to_metric_scale
        channel = self.channel
        for i in range(min(self.num_sequences, batch.shape[0])):
            seq, pred = scaled(batch[i]).cpu(), scaled(preds[i]).cpu()
            inputs, truth = seq[:j], seq[j:]
            image = media.strip(inputs, truth, pred, channel=channel)
            png = media.write_png(self._folder(trainer) / f"{tag}_seq{i}.png", image)
            images.append(image)
            gifs.append(media.write_gif(png.with_suffix(".gif"), inputs, truth, pred, channel=channel))
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import wandb

                logger.log_image(f"{stage}/strip", images=list(images), step=trainer.global_step)
                logger.experiment.log({f"{stage}/gif": [wandb.Video(str(g), format="gif") for g in gifs]}, commit=False)
            elif isinstance(logger, TensorBoardLogger):
                for i, image in enumerate(images):
                    form = "HWC" if image.ndim == 3 else "HW"
                    logger.experiment.add_image(f"{stage}/strip_{i}", image, trainer.global_step, dataformats=form)

    @override
    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0:
            self._emit(trainer, pl_module, batch, outputs["predictions"], "val")

    @override
    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0:
            self._emit(trainer, pl_module, batch, outputs["predictions"], "test")
