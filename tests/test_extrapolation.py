"""The pySTEPS extrapolation nowcast (predrnn.extrapolation) on a blob moving at a known speed."""

from __future__ import annotations

import sys

import pytest
import torch

from predrnn.errors import ConfigError
from predrnn.extrapolation import extrapolate
from predrnn.metrics.events import EventScores

SIZE, SPEED = 48, (2.0, 1.0)  # pixels per frame along x (columns) and y (rows)


def blob(t: float) -> torch.Tensor:
    """A Gaussian (peak 50, σ 3 px) whose centre moves by SPEED per frame from (12, 16)."""
    rows, cols = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    x, y = 12 + SPEED[0] * t, 16 + SPEED[1] * t
    return 50 * torch.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * 3.0**2))


def clip(start: int, length: int) -> torch.Tensor:
    """(1, length, 1, H, W) frames start … start + length − 1."""
    return torch.stack([blob(t) for t in range(start, start + length)])[None, :, None].float()


def centre(frame: torch.Tensor) -> torch.Tensor:
    """The intensity-weighted centre (x, y) of a (H, W) frame."""
    frame = frame.double()
    rows, cols = torch.meshgrid(torch.arange(frame.shape[0]), torch.arange(frame.shape[1]), indexing="ij")
    return torch.stack([(frame * cols).sum(), (frame * rows).sum()]) / frame.sum()


def csi(forecast: torch.Tensor, truth: torch.Tensor, threshold: float = 10) -> float:
    metric = EventScores(forecast.shape[1], thresholds=[threshold])
    metric.update(forecast, truth)
    return float(metric.compute()["csi_10"][1])


@pytest.fixture(scope="module")
def pysteps_available():
    pytest.importorskip("pysteps", reason="pySTEPS is the optional extra predrnn[nowcast]")
    pytest.importorskip("cv2", reason="pySTEPS' Lucas-Kanade needs OpenCV (predrnn[nowcast])")


def test_a_moving_blob_is_carried_to_its_true_position(pysteps_available):
    observed, future = clip(0, 5), clip(5, 5)
    forecast = extrapolate(observed, 5)
    assert forecast.shape == future.shape and forecast.dtype == observed.dtype
    for k in range(5):
        error = (centre(forecast[0, k, 0]) - centre(future[0, k, 0])).abs().max()
        assert error < 1.0, f"frame {k + 1}: centre off by {float(error):.2f} px"
    persistence = observed[:, -1:].expand_as(future)
    assert csi(forecast, future) > csi(persistence, future) + 0.3


def test_each_sequence_and_channel_has_its_own_motion(pysteps_available):
    # sequence 0 moves; sequence 1 is the same blob standing still, in a second channel too
    moving, still = clip(0, 5), clip(0, 1).expand(1, 5, 1, SIZE, SIZE)
    observed = torch.cat([torch.cat([moving, still], 2), torch.cat([still, moving], 2)])
    forecast = extrapolate(observed, 3)
    assert forecast.shape == (2, 3, 2, SIZE, SIZE)
    moved = centre(forecast[0, 2, 0]) - centre(observed[0, -1, 0])
    assert torch.allclose(moved, torch.tensor([6.0, 3.0], dtype=moved.dtype), atol=1.0)
    assert (centre(forecast[0, 2, 1]) - centre(observed[0, -1, 1])).abs().max() < 0.5
    assert (centre(forecast[1, 2, 0]) - centre(observed[1, -1, 0])).abs().max() < 0.5


def test_one_observed_frame_is_persisted(pysteps_available):
    observed = clip(3, 1)
    torch.testing.assert_close(extrapolate(observed, 2), observed.expand(1, 2, 1, SIZE, SIZE))


def test_without_pysteps_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pysteps", None)  # `import pysteps` now raises ImportError
    with pytest.raises(ConfigError) as caught:
        extrapolate(clip(0, 3), 2)
    message = str(caught.value)
    assert "pip install 'predrnn[nowcast]'" in message and "\n" not in message
