"""Baseline forecasts scored beside the model on the same test sequences (docs/metrics.md,
"Baselines"): what a collapsed model would score (`zeros`: black frames, the data's minimum),
persistence (`copy_last`: the last observed frame repeated) and an optical-flow extrapolation
nowcast (`extrapolation`, pySTEPS). Each takes the observed frames in data units (B, J, C, H, W),
the number of future frames K and the data's per-channel minimum (C, 1, 1), and returns the
forecast (B, K, C, H, W) in data units.

Observed frames may hold NaN where the data has no coverage (docs/metrics.md, "No-coverage
pixels"). A forecast has a value everywhere: a pixel it can't tell (its source had no coverage)
gets the data's minimum, the value the model sees there; scoring then leaves out the pixels
where the truth has no coverage."""

from __future__ import annotations

import torch
from torch import Tensor


def filled(forecast: Tensor, low: Tensor) -> Tensor:
    """`forecast` with the data's per-channel minimum where it is NaN (unchanged without NaN)."""
    return torch.where(forecast.isnan(), low.to(device=forecast.device, dtype=forecast.dtype), forecast)


def zeros(observed: Tensor, num_frames: int, low: Tensor) -> Tensor:
    """Black frames (the data's minimum): what a collapsed model scores."""
    b, _, c, h, w = observed.shape
    return low.to(observed.dtype).expand(b, num_frames, c, h, w)


def copy_last(observed: Tensor, num_frames: int, low: Tensor) -> Tensor:
    """Persistence: the last observed frame, repeated."""
    b, _, c, h, w = observed.shape
    return filled(observed[:, -1:], low).expand(b, num_frames, c, h, w)


def extrapolation(observed: Tensor, num_frames: int, low: Tensor) -> Tensor:
    """Optical-flow nowcast (pySTEPS Lucas-Kanade + advection; pip install 'predrnn[nowcast]')."""
    from predrnn.extrapolation import extrapolate

    return filled(extrapolate(observed, num_frames).to(observed.dtype), low)


BASELINES = {"zeros": zeros, "copy_last": copy_last, "extrapolation": extrapolation}
