"""Fold p×p pixel blocks into channels and back (PredRNN's 'patch' trick; docs/method.md, "The network").

A (B, T, C, H, W) sequence becomes (B, T, C·p·p, H/p, W/p): the RNN then works on a p² times
smaller grid, which cuts its cost ~p²-fold at equal quality.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def fold_patches(frames: Tensor, patch_size: int) -> Tensor:
    """(B, T, C, H, W) -> (B, T, C·p², H/p, W/p)."""
    if patch_size == 1:
        return frames
    b, t = frames.shape[:2]
    folded = F.pixel_unshuffle(frames.flatten(0, 1), patch_size)
    return folded.unflatten(0, (b, t))


def unfold_patches(frames: Tensor, patch_size: int) -> Tensor:
    """(B, T, C·p², H/p, W/p) -> (B, T, C, H, W); the inverse of `fold_patches`."""
    if patch_size == 1:
        return frames
    b, t = frames.shape[:2]
    return F.pixel_shuffle(frames.flatten(0, 1), patch_size).unflatten(0, (b, t))
