"""`data=moving_mnist`: the Lightning data module of Moving MNIST, generated on the fly for
training, with fixed sets from MNIST test digits (or the standard test file) for validation
and testing (the shared loading is `base.py`'s)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler
from typing_extensions import override

from predrnn import checks
from predrnn.compatibility import ServedFrames
from predrnn.data.base import SpatiotemporalDataModule, sha256_of
from predrnn.data.loaders import TrainBatchSampler
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
from predrnn.errors import BadValue


class MovingMNISTDataModule(SpatiotemporalDataModule):
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
        super().__init__(batch_size, eval_batch_size)
        self.check_loading(batch_size, eval_batch_size, num_workers, seed, pin_memory)
        for key, value in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size)):
            checks.integer(key, value, 8, minimum=1)
        self.check_lengths(input_length, total_length)
        checks.integer("num_digits", num_digits, 2, minimum=1)
        checks.integer("image_size", image_size, 64, minimum=28)
        checks.integer("test_seed", test_seed, 2017)
        try:
            speed_range(speed)
        except (TypeError, ValueError):
            raise BadValue("speed", speed, "must be a number or [low, high] with 0 <= low <= high", 3.6) from None
        if test_file is not None and not Path(test_file).expanduser().is_file():
            raise BadValue("test_file", test_file, "not found", "<path of mnist_test_seq.npy> (or null)")
        self.save_hyperparameters()
        self.input_length = input_length
        self.total_length = total_length
        self.image_size = image_size
        self.channels = 1  # grey digits
        self.uint8 = True
        self.action_channels = None  # no actions: the digits move on their own

    @property
    def normalization(self) -> Normalization:
        """Frames in [0, 1]: uint8 digits / 255."""
        return Normalization.identity(1)

    def served_frames(self) -> ServedFrames:
        """Any size (the generator renders the model's), but square, grey and at least a digit wide."""
        return ServedFrames(
            None, "", "", rendered="Moving MNIST is square and grey",
            no_actions="Moving MNIST has none: evaluate it with data=arrays data.actions_key=NAME",
            smallest=(28, "an MNIST digit (28 px): use data=arrays"),
        )  # fmt: skip

    def adopt(self, network, normalization: Normalization) -> None:
        """Serve sequences for a trained model (eval): its observed length and frame size, in [0, 1]."""
        height, _ = network.image_size
        if self.total_length <= network.input_length:
            raise BadValue(
                "total_length", self.total_length, f"must exceed the model's input_length={network.input_length}", 20
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

    def command_overrides(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The overrides predrnn-eval and predrnn-predict need to test on this data: (eval, predict).
        Eval gets the run's own test set (its file, or its generator's settings where they differ
        from predrnn-eval's defaults), so the printed command scores what the run's test scored."""
        h = self.hparams
        if h.test_file:
            return {"data.test_file": str(Path(h.test_file).expanduser().resolve())}, {}
        defaults = {"test_seed": 2017, "num_digits": 2, "speed": 3.6, "digits": "bundled", "total_length": 20}
        args: dict[str, Any] = {"data.test_size": h.test_size}
        for key, default in defaults.items():
            value = h[key]
            if not isinstance(value, (str, int, float)):  # a speed range [low, high]
                value = list(value)
            elif key == "digits" and value != default:
                value = str(Path(str(value)).expanduser().resolve())
            if value != default:
                args[f"data.{key}"] = value
        return args, {}

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

    def data_summary(self) -> dict[str, dict]:
        """What each split holds: fresh training sequences per epoch, the fixed val/test sets."""
        h = self.hparams
        test = {"sequences": h.test_size} if h.test_file is None else {"file": str(h.test_file)}
        return {"train": {"sequences_per_epoch": h.train_size}, "val": {"sequences": h.val_size}, "test": test}

    def generator(self, split: str) -> MovingMNIST:
        """The generator over `train` or `test` digits with this module's settings."""
        h = self.hparams
        return MovingMNIST(self.digits[split], h.total_length, h.image_size, h.num_digits, h.speed)

    @override
    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
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

    # --- loaders (base.py): one epoch is `train_size` fresh sequences, split across ranks -----
    def train_dataset(self) -> Dataset:
        return self.train_set

    def train_batch_sampler(self, dataset: Dataset, start_fn: Callable[[], int] | None) -> Sampler:
        per_step = self.batch_size * self.world_size
        batches = max(1, self.hparams.train_size // per_step)
        return TrainBatchSampler(batches, self.batch_size, self.rank, self.world_size, start_fn)

    def eval_dataset(self, split: str) -> Dataset:
        return self.val_set if split == "val" else self.test_set

    def encode(self, frames: Tensor) -> Tensor:
        """uint8 digits -> float32 in [0, 1] (float frames pass as they are)."""
        return to_unit_float(frames) if frames.dtype == torch.uint8 else frames
