"""The Lightning data module: Moving MNIST generated on the fly for training, fixed sets
from MNIST test digits (or the standard test file) for validation and testing."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset
from typing_extensions import override

from predrnn import checks
from predrnn.data.arrays import sha256_of
from predrnn.data.loaders import ShardBatchSampler, TrainBatchSampler, make_loader
from predrnn.data.mnist import load_digits
from predrnn.data.moving_mnist import (
    FixedSequences,
    GeneratedSequences,
    MovingMNIST,
    SequenceFile,
    speed_range,
    to_unit_float,
)
from predrnn.data.normalization import Normalization
from predrnn.errors import BadValue, DataError


class MovingMNISTDataModule(pl.LightningDataModule):
    """Batches are float32 (B, total_length, 1, image_size, image_size) in [0, 1].

    The loaders yield uint8 (4× less to copy between worker processes and to the GPU);
    `on_after_batch_transfer` turns them into float32 on the device the model is on.

    One training epoch is `train_size` fresh sequences (split across ranks); validation and
    test sets are fixed by `test_seed`, drawn from test digits only, and sharded across ranks
    without duplicates.
    """

    def __init__(
        self,
        batch_size: int = 8,
        input_length: int = 10,
        total_length: int = 20,
        image_size: int = 64,
        num_digits: int = 2,
        speed: float | Sequence[float] = 3.6,
        digits: str = "bundled",
        test_file: str | None = None,
        train_size: int = 10_000,
        val_size: int = 1_000,
        test_size: int = 10_000,
        eval_batch_size: int | None = None,
        num_workers: int = 2,
        seed: int = 0,
        test_seed: int = 2017,
        pin_memory: bool = True,
    ) -> None:
        super().__init__()
        for key, value in (("batch_size", batch_size), ("train_size", train_size), ("val_size", val_size),
                           ("test_size", test_size)):  # fmt: skip
            checks.integer(key, value, 8, minimum=1)
        if eval_batch_size is not None:
            checks.integer("eval_batch_size", eval_batch_size, 64, minimum=1)
        checks.integer("input_length", input_length, 10, minimum=1)
        checks.integer("total_length", total_length, 20, minimum=2)
        if total_length <= input_length:
            raise BadValue(
                "input_length", input_length, f"must be less than total_length={total_length}", total_length // 2
            )
        checks.integer("num_workers", num_workers, 2, minimum=0)
        checks.integer("num_digits", num_digits, 2, minimum=1)
        checks.integer("image_size", image_size, 64, minimum=28)
        checks.integer("seed", seed, 0)
        checks.integer("test_seed", test_seed, 2017)
        checks.boolean("pin_memory", pin_memory)
        try:
            speed_range(speed)
        except (TypeError, ValueError):
            raise BadValue("speed", speed, "must be a number or [low, high] with 0 <= low <= high", 3.6) from None
        if test_file is not None and not Path(test_file).expanduser().is_file():
            raise BadValue("test_file", test_file, "not found", "<path of mnist_test_seq.npy> (or null)")
        self.save_hyperparameters()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.input_length = input_length
        self.total_length = total_length
        self.image_size = image_size
        self.channels = 1  # grey digits
        self.uint8 = True
        self.rank, self.world_size = 0, 1

    @property
    def eval_total_length(self) -> int:
        """Validation and test sequences are as long as training ones."""
        return self.total_length

    @property
    def normalization(self) -> Normalization:
        """Frames in [0, 1]: uint8 digits / 255."""
        return Normalization.identity(1)

    def adopt(self, network, normalization: Normalization) -> None:
        """Serve sequences for a trained model (eval): its observed length and frame size (the
        generator renders any size), in [0, 1]."""
        height, width = network.image_size
        if network.in_channels != 1 or height != width:
            raise DataError(
                f"the model takes {height}x{width}x{network.in_channels} frames; Moving MNIST is square and grey: "
                "evaluate it with data=arrays on data of its shape"
            )
        if self.total_length <= network.input_length:
            raise BadValue(
                "total_length", self.total_length, f"must exceed the model's input_length={network.input_length}", 20
            )
        if height < 28:
            raise DataError(
                f"the model takes {height}x{width} frames, smaller than an MNIST digit (28 px): use data=arrays"
            )
        self.input_length = self.hparams.input_length = network.input_length
        self.image_size = self.hparams.image_size = height

    @cached_property
    def digits(self) -> dict[str, np.ndarray]:
        return load_digits(self.hparams.digits)

    def check_sources(self, splits: tuple[str, ...] = ("train", "val", "test")) -> None:
        """Read the digits (and, when `splits` has the test split, the test file's header) now,
        so that a bad file fails before a run starts rather than in its first epoch."""
        _ = self.digits
        if "test" in splits and self.hparams.test_file is not None:
            self.make_test_set()

    def command_arguments(self) -> tuple[str, str]:
        """The overrides predrnn-eval and predrnn-predict need to test on this data: (eval, predict)."""
        test_file = self.hparams.test_file
        return (f" data.test_file={Path(test_file).expanduser().resolve()}" if test_file else ""), ""

    def test_set_definition(self) -> dict:
        """What makes the test set this one: the file and its SHA-256, or the generator's settings."""
        h = self.hparams
        if h.test_file is not None:
            return {"file": str(Path(h.test_file).expanduser().resolve()), "sha256": sha256_of(h.test_file)}
        return {
            "generated": "Moving MNIST from MNIST test digits", "digits": str(h.digits), "size": h.test_size,
            "seed": h.test_seed, "num_digits": h.num_digits, "speed": h.speed, "image_size": h.image_size,
            "total_length": h.total_length,
        }  # fmt: skip

    def generator(self, split: str) -> MovingMNIST:
        """The generator over `train` or `test` digits with this module's settings."""
        h = self.hparams
        return MovingMNIST(self.digits[split], h.total_length, h.image_size, h.num_digits, h.speed)

    @override
    def setup(self, stage: str | None = None) -> None:
        if self.trainer is not None:
            self.rank, self.world_size = self.trainer.global_rank, self.trainer.world_size
        h = self.hparams
        if stage in (None, "fit"):
            self.train_set = GeneratedSequences(self.generator("train"), h.seed)
        if stage in (None, "fit", "validate"):
            self.val_set = FixedSequences(self.generator("test"), h.val_size, h.test_seed + 1)
        if stage in (None, "test", "predict"):
            self.test_set = self.make_test_set()

    def make_test_set(self) -> Dataset:
        h = self.hparams
        if h.test_file is not None:
            return SequenceFile(h.test_file, h.total_length, h.image_size)
        return FixedSequences(self.generator("test"), h.test_size, h.test_seed)

    def _loader(self, dataset: Dataset, batch_sampler) -> DataLoader:
        return make_loader(dataset, batch_sampler, self.hparams.num_workers, self.hparams.pin_memory)

    @override
    def train_dataloader(self) -> DataLoader:
        per_step = self.batch_size * self.world_size
        batches = max(1, self.hparams.train_size // per_step)
        start_fn = None
        if self.trainer is not None:
            progress = self.trainer.fit_loop.epoch_loop.batch_progress
            start_fn = lambda: progress.total.ready  # noqa: E731  batches drawn so far (restored on resume)
        sampler = TrainBatchSampler(batches, self.batch_size, self.rank, self.world_size, start_fn)
        return self._loader(self.train_set, sampler)

    def _eval_loader(self, dataset: Dataset) -> DataLoader:
        sampler = ShardBatchSampler(len(dataset), self.eval_batch_size, self.rank, self.world_size)
        return self._loader(dataset, sampler)

    @override
    def on_after_batch_transfer(self, batch: torch.Tensor, dataloader_idx: int) -> torch.Tensor:
        return to_unit_float(batch) if batch.dtype == torch.uint8 else batch

    @override
    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.val_set)

    @override
    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_set)
