"""Baseline forecasts scored beside the model on the same test sequences (docs/metrics.md,
"Baselines"): what a collapsed model would score (`zeros`: black frames, the data's minimum),
persistence (`copy_last`: the last observed frame repeated) and an optical-flow extrapolation
nowcast (`extrapolation`, pySTEPS). Each takes the observed frames in data units (B, J, C, H, W),
the number of future frames K and the data's per-channel minimum (C, 1, 1), and returns the
forecast (B, K, C, H, W) in data units."""

from __future__ import annotations

from torch import Tensor


def zeros(observed: Tensor, num_frames: int, low: Tensor) -> Tensor:
    b, _, c, h, w = observed.shape
    return low.to(observed.dtype).expand(b, num_frames, c, h, w)


def copy_last(observed: Tensor, num_frames: int, low: Tensor) -> Tensor:
    b, _, c, h, w = observed.shape
    return observed[:, -1:].expand(b, num_frames, c, h, w)


def extrapolation(observed: Tensor, num_frames: int, low: Tensor) -> Tensor:
    from predrnn.extrapolation import extrapolate

    return extrapolate(observed, num_frames).to(observed.dtype)


BASELINES = {"zeros": zeros, "copy_last": copy_last, "extrapolation": extrapolation}
