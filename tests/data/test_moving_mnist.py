"""Moving MNIST generator invariants: canvas, bounce, determinism, speed, digit split."""

import math

import numpy as np
import pytest
import torch

from predrnn.data.loaders import ShardBatchSampler, TrainBatchSampler
from predrnn.data.moving_mnist import FixedSequences, MovingMNIST, SequenceFile
from predrnn.errors import DataError


@pytest.fixture(scope="module")
def gen(digits):
    return MovingMNIST(digits["train"], total_length=20, image_size=64, num_digits=2)


def test_shapes_dtype_and_pixels_come_from_digits(gen, digits):
    rng = np.random.default_rng(0)
    motion = gen.sample_motion(rng, 16)
    x = gen.render(motion)
    assert x.shape == (16, 20, 1, 64, 64) and x.dtype == torch.uint8
    # every frame holds all of both digits: nothing is cut off at the canvas edge
    pos = gen.positions(motion)
    assert pos.min() >= 0 and pos.max() <= 64 - 28
    for b in range(3):
        for t in (0, 7, 19):
            frame = x[b, t, 0]
            for k in range(2):
                r, c = pos[b, t, k].tolist()
                glyph = torch.from_numpy(digits["train"][motion.digit_index[b, k]])
                assert torch.all(frame[r : r + 28, c : c + 28] >= glyph)  # max overlap keeps each
            # nothing is drawn outside the two digits' boxes
            covered = torch.zeros(64, 64, dtype=torch.bool)
            for k in range(2):
                r, c = pos[b, t, k].tolist()
                covered[r : r + 28, c : c + 28] = True
            assert torch.count_nonzero(frame[~covered]) == 0


def test_overlap_is_max(gen, digits):
    from predrnn.data.moving_mnist import Motion

    motion = Motion(np.array([[3, 7]]), np.full((1, 2, 2), 10.0), np.zeros((1, 2, 2)))
    x = gen.render(motion)[0, 0, 0, 10:38, 10:38]
    want = np.maximum(digits["train"][3], digits["train"][7])
    np.testing.assert_array_equal(x.numpy(), want)


def test_bounce_reflects_at_edges(gen):
    from predrnn.data.moving_mnist import Motion

    # start at column 30 moving right at 4 px/frame: 30, 34, 36 (=edge 36), then back
    motion = Motion(np.array([[0]]), np.array([[[5.0, 30.0]]]), np.array([[[0.0, 4.0]]]))
    one = MovingMNIST(gen.digits.numpy(), total_length=6, num_digits=1)
    cols = one.positions(motion)[0, :, 0, 1].tolist()
    assert cols == [30, 34, 34, 30, 26, 22]  # 30, 34, 38→34, 42→30, …
    rows = one.positions(motion)[0, :, 0, 0].tolist()
    assert rows == [5] * 6
    # a long path never leaves the canvas and keeps its speed away from the edges
    m = gen.sample_motion(np.random.default_rng(3), 200)
    p = gen.positions(m).double()
    assert p.min() >= 0 and p.max() <= 36
    step = (p[:, 1:] - p[:, :-1]).norm(dim=-1)
    assert step.max() <= 3.6 + 1.5  # rounding only


def test_determinism_per_seed(gen):
    a, b, c = gen.generate(8, 5), gen.generate(8, 5), gen.generate(8, 6)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_speed_distribution(digits):
    fixed = MovingMNIST(digits["train"], speed=3.6)
    m = fixed.sample_motion(np.random.default_rng(0), 2000)
    speed = np.linalg.norm(m.velocity, axis=-1)
    np.testing.assert_allclose(speed, 3.6)
    angles = np.arctan2(m.velocity[..., 0], m.velocity[..., 1]).ravel()
    hist, _ = np.histogram(angles, bins=8, range=(-math.pi, math.pi))
    assert hist.min() > 0.8 * hist.mean()  # direction uniform on the circle
    ranged = MovingMNIST(digits["train"], speed=[2.0, 5.0])
    s = np.linalg.norm(ranged.sample_motion(np.random.default_rng(0), 4000).velocity, axis=-1)
    assert s.min() >= 2.0 and s.max() <= 5.0
    assert s.mean() == pytest.approx(3.5, abs=0.05)
    with pytest.raises(ValueError, match="speed must satisfy"):
        MovingMNIST(digits["train"], speed=[5, 2])


def test_black_frame_baseline(gen):
    """Predicting black frames costs ~174 per frame (sum over pixels), as the notes say."""
    x = gen.generate(500, 1).float() / 255
    mse = x[:, 10:].pow(2).sum(dim=(2, 3, 4)).mean().item()
    assert 150 < mse < 195


def test_fixed_sets_use_test_digits_only(digits):
    test_gen = MovingMNIST(digits["test"])
    fixed = FixedSequences(test_gen, 50, seed=2017)
    assert fixed.motion.digit_index.max() < 10000
    batch = fixed.__getitems__([0, 3, 49])
    torch.testing.assert_close(batch[1], fixed[3])
    torch.testing.assert_close(FixedSequences(test_gen, 50, seed=2017)[3], fixed[3])
    # a rendered test frame is made of test-split glyphs, not train ones
    pos = test_gen.positions(fixed.motion[[0]])[0, 0, 0]
    r, c = pos.tolist()
    glyph = digits["test"][fixed.motion.digit_index[0, 0]]
    assert np.all(batch[0, 0, 0, r : r + 28, c : c + 28].numpy() >= glyph)


def test_samplers_split_work():
    a = list(TrainBatchSampler(3, 4, rank=0, world_size=2))
    b = list(TrainBatchSampler(3, 4, rank=1, world_size=2))
    s = TrainBatchSampler(3, 4)
    e0 = list(s)
    s.set_epoch(1)
    e1 = list(s)
    ids = [i for batch in a + b for i in batch]
    assert len(ids) == len(set(ids)) == 24
    assert not set(sum(e0, [])) & set(sum(e1, []))
    shards = [list(ShardBatchSampler(10, 3, r, 3)) for r in range(3)]
    flat = sorted(i for sh in shards for batch in sh for i in batch)
    assert flat == list(range(10))  # every index once, no padding


def test_sequence_file(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (20, 7, 64, 64), dtype=np.uint8)
    np.save(tmp_path / "seq.npy", arr)
    ds = SequenceFile(tmp_path / "seq.npy", 20, 64)
    assert len(ds) == 7
    batch = ds.__getitems__([4, 2])
    assert batch.shape == (2, 20, 1, 64, 64)
    np.testing.assert_array_equal(batch[0, :, 0].numpy(), arr[:, 4])
    np.testing.assert_array_equal(batch[1, :, 0].numpy(), arr[:, 2])


def test_sequence_file_errors(tmp_path):
    with pytest.raises(DataError, match="data.test_file=.*missing.npy not found"):
        SequenceFile(tmp_path / "missing.npy")
    np.save(tmp_path / "f.npy", np.zeros((20, 3, 64, 64), np.float32))
    with pytest.raises(DataError, match="is float32 .* expected uint8 \\(T, N, H, W\\)"):
        SequenceFile(tmp_path / "f.npy")
    np.save(tmp_path / "short.npy", np.zeros((10, 3, 64, 64), np.uint8))
    with pytest.raises(DataError, match="has 10 frames per sequence, fewer than total_length=20"):
        SequenceFile(tmp_path / "short.npy", 20)
    np.save(tmp_path / "small.npy", np.zeros((20, 3, 32, 32), np.uint8))
    with pytest.raises(DataError, match="has 32x32 frames"):
        SequenceFile(tmp_path / "small.npy", 20, 64)
    (tmp_path / "corrupt.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match="corrupt.npy is not a .npy file"):
        SequenceFile(tmp_path / "corrupt.npy")
