"""What every data module of predrnn is and does (docs/data.md, "Data modules").

`SpatiotemporalDataModule` holds what Moving MNIST (`moving_mnist_datamodule.py`) and a user's
arrays (`arrays_datamodule.py`) share: the checks of the loader keys, this process's rank, the
training stream (numbered across the whole run, so a resumed run draws the batches the
uninterrupted one would), the evaluation shards, and the move of a batch into model units on
the device. It also declares the surface the rest of predrnn reads; a new data module fills
that in and `build.py`, the entry points and the LightningModule work with it unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler
from typing_extensions import override

from predrnn import checks
from predrnn.compatibility import ServedFrames
from predrnn.data.loaders import ShardBatchSampler, make_loader
from predrnn.data.normalization import Normalization
from predrnn.data.windows import WindowBatchSampler
from predrnn.errors import BadValue, DataError
from predrnn.training import lightning_internals

Batch = Tensor | dict[str, Tensor]


class SpatiotemporalDataModule(pl.LightningDataModule):
    """A Lightning data module of frame sequences, and what predrnn needs to know about them.

    Batches leave the loaders as uint8 (B, T, C, H, W) where the data is 8-bit (4× less to
    copy between processes and to the GPU), float32 otherwise, or, when the data carries
    actions, as `{"frames": those frames, "actions": float32 (B, T, A)}` with the action of
    each frame. `on_after_batch_transfer` turns the frames into float32 model units on the
    model's device and passes the actions through.

    Set by the subclass's constructor (after `save_hyperparameters()`, which a subclass calls
    itself so that its own arguments are saved):

    - `channels`: C, the frames' channels (the network's `in_channels`);
    - `image_size`: the frame size, an int for square frames or (H, W);
    - `input_length`: J, the frames a model observes before it predicts;
    - `total_length`: the frames of a training sequence (J observed, the rest predicted);
    - `action_channels`: A, the length of one action vector, None when the data has no actions
      (a network with `action_channels` in its constructor gets it from here, `build.py`);
    - `uint8`: the loaders ship uint8 frames.

    Class attribute `no_data`: "refuse" (the default: frames hold no NaN, the data module checks
    it) or "mask": float frames hold NaN where a pixel has no data, and `on_after_batch_transfer`
    hands the module `{"frames", "valid"}` (docs/metrics.md, "Pixels without data").

    Provided here for the subclass to use: `check_loading`, `check_lengths`, `setup` (rank and
    world size), `train_dataloader` (the training stream), `val_dataloader`/`test_dataloader`
    (the shards of `eval_dataset`), `on_after_batch_transfer`, `_loader` and `_eval_loader`.
    """

    channels: int
    image_size: int | tuple[int, int]
    input_length: int
    total_length: int
    action_channels: int | None = None
    uint8: bool = True
    no_data: str = "refuse"

    def __init__(self, batch_size: int, eval_batch_size: int | None) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.rank, self.world_size = 0, 1

    # --- argument checks of the keys every data module has -------------------------------------
    @staticmethod
    def check_loading(
        batch_size: int, eval_batch_size: int | None, num_workers: int, seed: int, pin_memory: bool
    ) -> None:
        """The loader keys: batch sizes ≥ 1, workers ≥ 0, an integer seed, a boolean pin_memory."""
        checks.integer("batch_size", batch_size, 8, minimum=1)
        if eval_batch_size is not None:
            checks.integer("eval_batch_size", eval_batch_size, 64, minimum=1)
        checks.integer("num_workers", num_workers, 2, minimum=0)
        checks.integer("seed", seed, 0)
        checks.boolean("pin_memory", pin_memory)

    @staticmethod
    def check_lengths(input_length: int, total_length: int) -> None:
        """J ≥ 1 observed frames, sequences of at least 2 frames, and J < total_length."""
        checks.integer("input_length", input_length, 10, minimum=1)
        checks.integer("total_length", total_length, 20, minimum=2)
        if total_length <= input_length:
            raise BadValue(
                "input_length", input_length, f"must be less than total_length={total_length}", total_length // 2
            )

    # --- the surface the rest of predrnn reads -------------------------------------------------
    @property
    def eval_total_length(self) -> int:
        """The frames of a validation or test sequence (default: as long as training ones); the
        module scores the `eval_total_length − input_length` frames after the observed ones."""
        return self.total_length

    @property
    def normalization(self) -> Normalization:
        """Data units ↔ model units per channel, and the metric scale (`normalization.py`);
        stored in every checkpoint by `build.py`."""
        raise NotImplementedError

    def check_sources(self, splits: tuple[str, ...] = ("train", "val", "test")) -> None:
        """Read what `splits` need now (headers, statistics, a scan for NaN/inf), so that a bad
        file fails before a run writes anything; `predrnn-eval` asks for ("test",) only."""
        raise NotImplementedError

    def value_range(self, split: str) -> tuple[list[float], list[float]] | None:
        """The per-channel min and max of `split` in data units, where `check_sources` read them
        (float data); None where the units are fixed (uint8) or the split was not read. Eval
        checks them against the checkpoint's normalisation (`Normalization.check_range`)."""
        return None

    def description(self) -> dict[str, Any] | None:
        """What the data is (variables, units, …), JSON-able, kept verbatim in the module's
        `data_description` hyper-parameter and so in every checkpoint; None (the default) where
        the data module knows nothing beyond its frames."""
        return None

    def test_set_definition(self) -> dict[str, Any]:
        """What makes the test set this one (files and their SHA-256, or a generator's
        settings): recorded in the run's `summary.json` to reproduce the numbers."""
        raise NotImplementedError

    def command_overrides(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The overrides `predrnn-eval` and `predrnn-predict` need to read this data, as
        (eval, predict) dicts of override key -> value in the order they are given (`data` for the
        group's choice, `data.path`, …); the run summary renders them into its closing commands
        (`command_line.data_arguments`)."""
        raise NotImplementedError

    def served_frames(self) -> ServedFrames:
        """What this data serves, as `compatibility.check_data` compares it with a trained
        network (`predrnn-eval`): the frames' shape and how a message names them."""
        raise NotImplementedError

    def adopt(self, network, normalization: Normalization) -> None:
        """Serve data for a trained `network` (`predrnn-eval`): its observed length and its
        checkpoint's `normalization` (whether the data fits it is `compatibility.check_data`'s
        decision, taken before)."""
        raise NotImplementedError

    # --- what each data module fills in ----------------------------------------------------------
    def train_dataset(self) -> Dataset:
        """The dataset the training stream's batch sampler indexes."""
        raise NotImplementedError

    def train_batch_sampler(self, dataset: Dataset, start_fn: Callable[[], int] | None) -> Sampler:
        """This rank's training batches of `dataset`, numbered from `start_fn()` (the batches
        drawn so far, restored on resume) when it is given."""
        raise NotImplementedError

    def eval_dataset(self, split: str) -> Dataset:
        """The fixed set of `split` ("val" or "test")."""
        raise NotImplementedError

    def encode(self, frames: Tensor) -> Tensor:
        """Frames as the loaders ship them -> float32 model units, on their device."""
        raise NotImplementedError

    # --- shared machinery ------------------------------------------------------------------------
    @override
    def setup(self, stage: str | None = None) -> None:
        """This process's rank and the number of processes: each takes its own share of every
        training step and of the evaluation sets."""
        if self.trainer is not None:
            self.rank, self.world_size = self.trainer.global_rank, self.trainer.world_size

    def batches_drawn(self) -> Callable[[], int] | None:
        """The resume hook: a function giving how many training batches the run has drawn so far
        (Lightning's batch counter, restored from a checkpoint), or None without a Trainer."""
        if self.trainer is None:
            return None
        return lightning_internals.batches_drawn(self.trainer)

    def _loader(self, dataset: Dataset, batch_sampler: Sampler) -> DataLoader:
        return make_loader(dataset, batch_sampler, self.hparams.num_workers, self.hparams.pin_memory)

    def _eval_loader(self, dataset: Dataset) -> DataLoader:
        sampler = ShardBatchSampler(len(dataset), self.eval_batch_size, self.rank, self.world_size)
        return self._loader(dataset, sampler)

    @override
    def train_dataloader(self) -> DataLoader:
        dataset = self.train_dataset()
        return self._loader(dataset, self.train_batch_sampler(dataset, self.batches_drawn()))

    @override
    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.eval_dataset("val"))

    @override
    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.eval_dataset("test"))

    @override
    def on_after_batch_transfer(self, batch: Batch, dataloader_idx: int) -> Batch:
        if self.no_data == "mask":
            return self.masked(batch)
        if isinstance(batch, Mapping):
            return {**batch, "frames": self.encode(batch["frames"])}
        return self.encode(batch)

    def masked(self, batch: Batch) -> dict[str, Tensor]:
        """A batch whose frames (B, T, C, H, W, data units) hold NaN where there is no data, as
        `{"frames": model units, the NaN replaced by the data's lowest value (normalization.low)
        first, "valid": bool (B, T, C, H, W), False there}` plus its other keys (actions)."""
        extra, frames = (dict(batch), batch["frames"]) if isinstance(batch, Mapping) else ({}, batch)
        valid = ~frames.isnan()
        low = self.normalization.low.to(device=frames.device, dtype=frames.dtype)
        filled = torch.where(valid, frames, low)
        return {**extra, "frames": self.encode(filled), "valid": valid}


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file, read in chunks (a test file may be larger than memory)."""
    digest = hashlib.sha256()
    with open(Path(path).expanduser(), "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class WindowedDataModule(SpatiotemporalDataModule):
    """A data module whose splits are fixed sets of windows (`data=arrays`, `data=xarray`,
    `data=sevir`): the subclass gives `dataset(split)` and its `normalization`; the training
    stream draws shuffled batches of the training windows (`windows.WindowBatchSampler`), the
    evaluation sets are the other splits' windows, and frames are encoded with the fitted
    normalisation. `more_data` ends the "too few windows" line with what gives more of them."""

    more_data = ""

    def dataset(self, split: str) -> Dataset:
        """The windows of `split` as a dataset."""
        raise NotImplementedError

    def check_batch(self, windows: int, processes: int) -> None:
        """At least one full batch per process in the training split, or a DataError."""
        if windows < self.batch_size * processes:
            raise DataError(
                f"the training split has {windows} windows, fewer than data.batch_size={self.batch_size} × "
                f"{processes} processes: lower data.batch_size{self.more_data}"
            )

    @override
    def train_dataset(self) -> Dataset:
        dataset = self.dataset("train")
        self.check_batch(len(dataset), self.world_size)
        return dataset

    @override
    def train_batch_sampler(self, dataset: Dataset, start_fn: Callable[[], int] | None) -> Sampler:
        return WindowBatchSampler(len(dataset), self.batch_size, self.hparams.seed, self.rank, self.world_size,
                                  start_fn)  # fmt: skip

    @override
    def eval_dataset(self, split: str) -> Dataset:
        return self.dataset(split)

    @override
    def encode(self, frames: Tensor) -> Tensor:
        """Frames in data units (uint8, or float with NaN kept) -> float32 model units, the
        statistics moved to the frames' device once."""
        norm = self.normalization
        if norm.shift.device != frames.device:
            norm.to(frames.device)
        return norm.encode(frames)
