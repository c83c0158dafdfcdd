"""Own networks that break the contract of predrnn.models.api, for tests/cli/test_errors.py (the
"family" rows): each must end in one line naming it and what it returned."""

from __future__ import annotations

import torch
from torch import nn


def pair(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


class OneFrameShort(nn.Module):
    """A next-frame network that returns T-2 frames instead of T-1."""

    def __init__(self, in_channels: int = 1, image_size=64, input_length: int = 10, **own) -> None:
        super().__init__()
        self.in_channels, self.image_size, self.input_length = in_channels, pair(image_size), input_length
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, frames, teacher_mask=None):
        return self.scale * frames[:, 1:-1]


class NotAModule:
    """Not an nn.Module."""

    def __init__(self, in_channels: int = 1, image_size=64, input_length: int = 10, **own) -> None:
        self.in_channels, self.image_size, self.input_length = in_channels, pair(image_size), input_length


class NoDataArguments(nn.Module):
    """A constructor without in_channels, image_size and input_length."""

    def __init__(self, **own) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, frames, teacher_mask=None):
        return self.scale * frames[:, 1:]
