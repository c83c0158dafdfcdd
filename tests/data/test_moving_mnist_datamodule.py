"""The data module: batch format, epochs of fresh sequences, fixed eval sets, checks."""

import numpy as np
import pytest
import torch

from predrnn.data.moving_mnist import to_unit_float as to_float
from predrnn.data.moving_mnist_datamodule import MovingMNISTDataModule
from predrnn.errors import ConfigError


def test_batches_are_float_sequences():
    dm = MovingMNISTDataModule(batch_size=4, train_size=8, val_size=6, test_size=5, num_workers=0)
    dm.setup()
    raw = next(iter(dm.train_dataloader()))
    assert raw.dtype == torch.uint8  # loaders ship uint8; the float conversion runs on the device
    batch = dm.on_after_batch_transfer(raw, 0)
    assert batch.shape == (4, 20, 1, 64, 64) and batch.dtype == torch.float32
    assert batch.min() >= 0 and batch.max() <= 1 and batch.max() > 0.9
    assert len(dm.train_dataloader()) == 2
    assert sum(len(b) for b in dm.val_dataloader()) == 6
    assert sum(len(b) for b in dm.test_dataloader()) == 5
    v1 = torch.cat(list(dm.val_dataloader()))
    v2 = torch.cat(list(dm.val_dataloader()))
    assert torch.equal(v1, v2)  # fixed
    loader = dm.train_dataloader()
    loader.batch_sampler.set_epoch(0)
    e0 = torch.cat(list(loader))
    loader.batch_sampler.set_epoch(1)
    e1 = torch.cat(list(loader))
    assert not torch.equal(e0, e1)  # every epoch new


def test_workers_give_the_same_batches():
    kw = {
        "batch_size": 2,
        "train_size": 6,
        "val_size": 2,
        "test_size": 2,
        "total_length": 4,
        "input_length": 2,
    }
    a = MovingMNISTDataModule(num_workers=0, **kw)
    b = MovingMNISTDataModule(num_workers=2, **kw)
    a.setup("fit")
    b.setup("fit")
    torch.testing.assert_close(torch.cat(list(a.train_dataloader())), torch.cat(list(b.train_dataloader())))


def test_test_file_is_used(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (20, 5, 64, 64), dtype=np.uint8)
    np.save(tmp_path / "mnist_test_seq.npy", arr)
    dm = MovingMNISTDataModule(batch_size=2, test_file=str(tmp_path / "mnist_test_seq.npy"), num_workers=0)
    dm.setup("test")
    got = to_float(torch.cat(list(dm.test_dataloader())))
    torch.testing.assert_close(got[3, :, 0], torch.from_numpy(arr[:, 3]).float() / 255)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "^batch_size=0 must be at least 1: e.g. batch_size=8$"),
        ({"input_length": 20}, "^input_length=20 must be less than total_length=20"),
        ({"speed": [3, 1]}, "^speed=\\[3, 1\\] must be a number or \\[low, high\\]"),
        ({"test_file": "/no/such/file.npy"}, "^test_file='/no/such/file.npy' not found"),
        ({"num_workers": -1}, "^num_workers=-1 must be at least 0"),
        ({"num_digits": "two"}, "^num_digits='two' must be an integer"),
    ],
)
def test_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        MovingMNISTDataModule(**kwargs)
