"""The published SSIM/PSNR conventions (predrnn.metrics.conventions) against scikit-image,
called the way the official PredRNN code and OpenSTL call it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from predrnn.metrics.conventions import OfficialPSNR, OfficialSSIM, OpenSTLSSIM, official_uint8

skimage_metrics = pytest.importorskip(
    "skimage.metrics", reason="scikit-image is the reference of these metrics (pip install scikit-image)"
)
structural_similarity = skimage_metrics.structural_similarity


def official_reference(pred: np.ndarray, true: np.ndarray, psnr_dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """The official test loop (core/trainer.py) on (B, K, C, H, W) float32 frames on [0, 1]:
    per future frame, frames in its (B, H, W, C) layout cast by uint8(x * 255); SSIM summed
    over sequences then divided by their number; PSNR per sequence as core/utils/metrics.py's
    batch_psnr (its MSE summed in float32, or `psnr_dtype`), averaged over the batch."""
    batch, frames = pred.shape[:2]
    ssim, psnr = np.zeros(frames), np.zeros(frames)
    for i in range(frames):
        x = true[:, i].transpose(0, 2, 3, 1)
        gx = np.minimum(np.maximum(pred[:, i].transpose(0, 2, 3, 1), 0), 1)
        real_frm, pred_frm = np.uint8(x * 255), np.uint8(gx * 255)
        a, b = np.int32(pred_frm), np.int32(real_frm)
        mse = np.sum((a - b) ** 2, axis=(1, 2, 3), dtype=psnr_dtype) / float(np.size(pred_frm[0]))
        psnr[i] = np.mean(20 * np.log10(255) - 10 * np.log10(mse))
        for s in range(batch):
            ssim[i] += structural_similarity(pred_frm[s], real_frm[s], channel_axis=-1)
    return ssim / batch, psnr


def openstl_reference(pred: np.ndarray, true: np.ndarray, data_range: float) -> np.ndarray:
    """OpenSTL's SSIM per future frame: scikit-image on each (C, H, W) frame with its axes
    swapped to (W, H, C), channels last, averaged over sequences."""
    return np.array(
        [
            np.mean(
                [
                    structural_similarity(
                        pred[b, f].swapaxes(0, 2), true[b, f].swapaxes(0, 2), channel_axis=-1, data_range=data_range
                    )
                    for b in range(pred.shape[0])
                ]
            )
            for f in range(pred.shape[1])
        ]
    )


def scored(metric_class, pred: torch.Tensor, true: torch.Tensor, batches: int = 1) -> np.ndarray:
    metric = metric_class(pred.shape[1])
    for p, t in zip(pred.chunk(batches), true.chunk(batches)):
        metric.update(p, t)
    (value,) = metric.compute().values()
    return value.numpy()


def random_frames(seed: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    true = torch.rand(shape, generator=g)
    pred = (true + 0.2 * torch.randn(shape, generator=g)).clamp(0, 1)  # correlated, clipped like the caller's
    return pred, true


def mnist_frames() -> tuple[torch.Tensor, torch.Tensor]:
    """Future frames of real Moving MNIST clips on [0, 1], and a blurred, shifted 'prediction'."""
    from predrnn.data.mnist import load_digits
    from predrnn.data.moving_mnist import MovingMNIST

    clips = MovingMNIST(load_digits("bundled")["train"], total_length=20).generate(4, seed=0)
    true = clips[:, 10:].float() / 255  # (4, 10, 1, 64, 64), the values the data pipeline gives
    blurred = torch.nn.functional.avg_pool2d(clips[:, 9:-1].float().flatten(0, 1) / 255, 3, 1, 1)
    return blurred.view_as(true).clamp(0, 1), true


@pytest.mark.parametrize("channels", [1, 3])
def test_official_ssim_and_psnr_equal_the_official_code_on_random_frames(channels):
    pred, true = random_frames(channels, (3, 4, channels, 16, 20))
    ssim, psnr = official_reference(pred.numpy(), true.numpy())
    _, psnr64 = official_reference(pred.numpy(), true.numpy(), psnr_dtype=np.float64)
    np.testing.assert_allclose(scored(OfficialSSIM, pred, true), ssim, rtol=0, atol=1e-9)
    # the official code sums and takes log10 in float32 (~4e-6 dB of rounding at 30 dB); the
    # same formula in float64 is what the metric gives
    np.testing.assert_allclose(scored(OfficialPSNR, pred, true), psnr, rtol=1e-6, atol=0)
    np.testing.assert_allclose(scored(OfficialPSNR, pred, true), psnr64, rtol=0, atol=1e-9)


def test_official_ssim_and_psnr_equal_the_official_code_on_moving_mnist():
    pred, true = mnist_frames()
    ssim, psnr = official_reference(pred.numpy(), true.numpy())
    _, psnr64 = official_reference(pred.numpy(), true.numpy(), psnr_dtype=np.float64)
    ours = scored(OfficialSSIM, pred, true)
    assert 0.3 < ours.min() < ours.max() < 1  # a real comparison, not identical frames
    np.testing.assert_allclose(ours, ssim, rtol=0, atol=1e-9)
    np.testing.assert_allclose(scored(OfficialPSNR, pred, true), psnr, rtol=1e-6, atol=0)
    np.testing.assert_allclose(scored(OfficialPSNR, pred, true), psnr64, rtol=0, atol=1e-9)


def test_uint8_cast_truncates_like_numpy():
    # float32 values just below and on the 8-bit grid: k/255 * 255 can land below k
    values = torch.cat([torch.arange(256) / 255, torch.tensor([0.5, 0.999, 1.0, 0.0039])]).float()
    np.testing.assert_array_equal(official_uint8(values).numpy(), np.uint8(values.numpy() * 255))
    assert int(official_uint8(torch.tensor(0.5))) == 127  # 127.5 truncated, not rounded


def test_identical_frames_score_one_and_infinite_psnr():
    _, true = random_frames(0, (2, 3, 1, 8, 8))
    np.testing.assert_allclose(scored(OfficialSSIM, true, true), 1.0, atol=1e-12)
    np.testing.assert_allclose(scored(OpenSTLSSIM, true, true), 1.0, atol=1e-12)
    assert np.isposinf(scored(OfficialPSNR, true, true)).all()


@pytest.mark.parametrize("channels", [1, 2])
def test_openstl_ssim_is_skimage_with_data_range_two(channels):
    pred, true = random_frames(10 + channels, (3, 4, channels, 12, 9))
    ours = scored(OpenSTLSSIM, pred, true)
    np.testing.assert_allclose(ours, openstl_reference(pred.double().numpy(), true.double().numpy(), 2.0), atol=1e-9)
    # OpenSTL handed scikit-image float32 frames, which it filters in float32
    np.testing.assert_allclose(ours, openstl_reference(pred.numpy(), true.numpy(), 2.0), atol=1e-6)
    # the range matters: with data range 1 the scores are clearly lower
    assert (ours - openstl_reference(pred.double().numpy(), true.double().numpy(), 1.0) > 1e-3).all()


def test_skimage_up_to_0_19_inferred_range_two_for_floats():
    """What OpenSTL relied on: without data_range, old scikit-image took the float dtype's
    range (-1, 1); newer versions refuse floats without it."""
    pred, true = (x[0, 0, 0].double().numpy() for x in random_frames(3, (1, 1, 1, 16, 16)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inferred = structural_similarity(pred, true)
    except ValueError as err:
        assert "data_range" in str(err)
    else:
        assert inferred == pytest.approx(structural_similarity(pred, true, data_range=2.0), abs=1e-12)


@pytest.mark.parametrize("metric_class", [OfficialSSIM, OfficialPSNR, OpenSTLSSIM])
def test_several_updates_equal_one_batch(metric_class):
    pred, true = random_frames(5, (6, 3, 1, 10, 10))
    np.testing.assert_allclose(
        scored(metric_class, pred, true, batches=3), scored(metric_class, pred, true), atol=1e-12
    )


def test_frames_smaller_than_the_window_are_refused():
    pred, true = random_frames(0, (1, 2, 1, 6, 10))
    with pytest.raises(ValueError, match="7x7"):
        OfficialSSIM(2).update(pred, true)


def test_names_and_scale():
    pred, true = random_frames(0, (1, 2, 1, 8, 8))
    for metric_class, name in (
        (OfficialSSIM, "ssim_official"),
        (OfficialPSNR, "psnr_official"),
        (OpenSTLSSIM, "ssim_openstl"),
    ):
        metric = metric_class(2)
        metric.update(pred, true)
        assert metric_class.scale == "unit"
        assert list(metric.compute()) == [name]
        assert metric.compute()[name].shape == (2,)
