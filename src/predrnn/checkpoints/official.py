"""Checkpoints and masks of the authors' PredRNN code (thuml/predrnn-pytorch): PredRNN,
PredRNN-V2 and the action-conditioned networks.

An official checkpoint is `{"net_param": state_dict}` and carries no settings: the model and
data overrides describe it, and `checkpoints/reference.py` maps it onto the network they build.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor


def is_official(state: Mapping) -> bool:
    return isinstance(state.get("net_param"), Mapping)


def teacher_mask(official: Tensor, input_length: int, total_length: int, reverse: bool) -> Tensor:
    """Our teacher mask (B, T−2), one column per step t = 1 … T−2, from a reference code's
    per-sequence mask: reverse scheduled sampling masks the same steps (B, T−2); scheduled
    sampling only the decoder steps t = J … T−2 (B, T−J−1), and the encoder steps see true
    frames (ones). OpenSTL's masks follow the same two conventions."""
    if reverse:
        return official.float()
    encoder = official.new_ones(official.shape[0], input_length - 1)
    return torch.cat([encoder.float(), official.float()], dim=1)
