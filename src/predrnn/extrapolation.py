"""The optical-flow extrapolation nowcast (docs/metrics.md, "Baselines"), with pySTEPS: the
motion of the observed frames by Lucas-Kanade (`pysteps.motion.get_method("lucaskanade")`,
pySTEPS' defaults) and the last observed frame advected along it by the semi-Lagrangian scheme
(`pysteps.extrapolation.get_method("semilagrangian")`), for each sequence and channel on its
own. Pixels carried in from outside the field take the last frame's minimum. With a single
observed frame there is no motion, and the forecast is that frame repeated.

NaN in the observed frames marks pixels without coverage, in the form pySTEPS reads them: its
Lucas-Kanade masks non-finite values (no features are tracked there), and its semi-Lagrangian
scheme, with `allow_nonfinite_values=True`, carries NaN along (a forecast pixel whose source
had no coverage is NaN). A last frame with no coverage at all gives a forecast of NaN.

pySTEPS (and OpenCV, which its Lucas-Kanade uses) is the optional extra `predrnn[nowcast]`.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import torch
from torch import Tensor

from predrnn import checks
from predrnn.extras import require


def _methods():
    """pySTEPS' Lucas-Kanade motion and semi-Lagrangian advection (pySTEPS prints where its
    configuration file is on import: kept off the console)."""
    with contextlib.redirect_stdout(io.StringIO()):
        # pySTEPS' Lucas-Kanade needs OpenCV, and says so only when called
        require("cv2", "nowcast", "the extrapolation nowcast")
        pysteps = require("pysteps", "nowcast", "the extrapolation nowcast")
    return pysteps.motion.get_method("lucaskanade"), pysteps.extrapolation.get_method("semilagrangian")


def require_pysteps() -> None:
    """A one-line MissingExtra naming the extra when pySTEPS or OpenCV is missing."""
    _methods()


def extrapolate(observed: Tensor, num_frames: int) -> Tensor:
    """observed: (B, J, C, H, W) frames in the data's units, NaN where there is no coverage →
    the next `num_frames` frames (B, K, C, H, W), on `observed`'s device and in its dtype, NaN
    where the advected values came from no coverage."""
    if observed.ndim != 5:
        raise ValueError(f"expected observed frames (B, J, C, H, W), got {tuple(observed.shape)}")
    num_frames = checks.integer("num_frames", num_frames, 10, minimum=1)
    motion, advect = _methods()
    frames = observed.detach().to("cpu", torch.float64).numpy()
    b, _, c, h, w = frames.shape
    forecast = np.empty((b, num_frames, c, h, w))
    with warnings.catch_warnings():
        # few tracked features (a small echo) make pySTEPS' local outlier test singular; it then
        # keeps the vectors, which is what is wanted here
        warnings.filterwarnings("ignore", message="Singular matrix during outlier detection")
        for i in range(b):
            for channel in range(c):
                forecast[i, :, channel] = _nowcast(frames[i, :, channel], num_frames, motion, advect)
    return torch.from_numpy(forecast).to(device=observed.device, dtype=observed.dtype)


def _nowcast(sequence: np.ndarray, num_frames: int, motion, advect) -> np.ndarray:
    """One channel of one sequence (J, H, W), NaN where there is no coverage → (K, H, W)."""
    j, h, w = sequence.shape
    last = sequence[-1]
    if np.isnan(last).all():  # nothing to advect
        return np.full((num_frames, h, w), np.nan)
    velocity = motion(sequence) if j >= 2 else np.zeros((2, h, w))
    masked = bool(np.isnan(sequence).any())
    return advect(last, velocity, num_frames, outval="min", allow_nonfinite_values=masked)
