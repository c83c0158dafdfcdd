"""What both data modules load with: the training stream's batch sampler, the evaluation
shards, and the DataLoader around a dataset whose `__getitems__` returns a whole batch."""

from __future__ import annotations

import atexit
import multiprocessing
import signal
from collections.abc import Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_convert


def _worker_init(_: int) -> None:
    """Each worker: one thread (workers read or render in parallel; more would oversubscribe),
    and deaf to Ctrl-C and SIGTERM. A terminal's Ctrl-C and `timeout` signal the whole process
    group; the main process handles the signal (finish the step, save `last.ckpt`, exit 130 /
    143) and then shuts its workers down itself, so a worker killed by it would only turn a
    clean stop into "DataLoader worker exited unexpectedly". A worker still ends with its
    parent: torch's worker loop checks that the parent is alive."""
    torch.set_num_threads(1)
    from predrnn.training.signals import STOP_SIGNALS  # and a closed terminal's SIGHUP, SIGUSR1

    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


@atexit.register
def _kill_leftover_workers() -> None:
    """At exit, loader workers that are still alive are killed. A loader abandoned mid-epoch
    (a benchmark that stops reading, an error raised in a worker) keeps its workers until it is
    collected; multiprocessing's own exit handler, which runs after this one, would stop them
    with SIGTERM, which they ignore (above), and then wait for them forever. Workers are
    daemonic: nothing else of predrnn's is."""
    for child in multiprocessing.active_children():
        if child.daemon:
            child.kill()


def make_loader(dataset: Dataset, batch_sampler: Sampler, num_workers: int, pin_memory: bool) -> DataLoader:
    return DataLoader(
        dataset,
        batch_sampler=batch_sampler,
        collate_fn=default_convert,  # `__getitems__` already returns the batch as one tensor
        num_workers=num_workers,
        pin_memory=pin_memory and torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
        worker_init_fn=_worker_init if num_workers > 0 else None,
    )


class TrainBatchSampler(Sampler[list[int]]):
    """Batches of fresh sequence ids, distinct per batch and rank.

    Ids are numbered by the batch's position in the whole training stream: `start_fn()`
    gives how many batches training has already drawn (Lightning's restored batch counter),
    so a resumed run draws exactly the batches the uninterrupted run would. Without it,
    `set_epoch` (called by Lightning at each epoch) numbers them.
    """

    def __init__(
        self,
        num_batches: int,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        start_fn: Callable[[], int] | None = None,
    ) -> None:
        self.num_batches = num_batches
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.start_fn = start_fn
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def sampler(self) -> TrainBatchSampler:
        """Lightning calls `set_epoch` on `batch_sampler.sampler`: that is this object."""
        return self

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        start = self.start_fn() if self.start_fn is not None else self.epoch * self.num_batches
        for b in range(start, start + self.num_batches):
            yield self.batch(b)

    def batch(self, b: int) -> list[int]:
        """This rank's ids of batch `b` of the stream: fresh sequence ids."""
        first = (b * self.world_size + self.rank) * self.batch_size
        return list(range(first, first + self.batch_size))


class ShardBatchSampler(Sampler[list[int]]):
    """This rank's share of a fixed set, in batches: every index exactly once across ranks
    (no padding with duplicates, unlike DistributedSampler), so metrics count each once."""

    def __init__(self, size: int, batch_size: int, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(rank, size, world_size))
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(0, len(self.indices), self.batch_size):
            yield self.indices[i : i + self.batch_size]
