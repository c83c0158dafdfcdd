"""What every recurrent network of the family shares when it unrolls over a sequence
(docs/architecture.md, "Networks"): the input check, and which frame a step sees.

Step t = 0 … T−2 predicts frame t + 1. Its input is the true frame t where the teacher mask
says so (column t − 1 of the (B, T−2) mask), else the network's own prediction of frame t.
Without a mask (inference) the first `input_length` steps see true frames and the rest the
network's own outputs. Step 0 always sees the true frame 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from predrnn import checks
from predrnn.errors import BadValue


def check_frames(
    frames: Tensor, teacher_mask: Tensor | None, in_channels: int, image_size: Sequence[int], input_length: int
) -> None:
    """One clear error for frames or a mask the network cannot take."""
    if frames.ndim != 5:
        raise ValueError(f"frames must be (B, T, C, H, W), got shape {tuple(frames.shape)}")
    b, t, c, h, w = frames.shape
    if (c, h, w) != (in_channels, *image_size):
        raise ValueError(f"frames are {c}x{h}x{w} but the model expects {in_channels}x{image_size[0]}x{image_size[1]}")
    if t <= input_length:
        raise ValueError(
            f"sequence length {t} leaves nothing to predict after input_length {input_length}: give more frames"
        )
    if teacher_mask is not None and tuple(teacher_mask.shape) != (b, t - 2):
        raise ValueError(f"teacher_mask must be (B, T-2) = ({b}, {t - 2}), got {tuple(teacher_mask.shape)}")


def expand_mask(teacher_mask: Tensor | None, like: Tensor) -> Tensor | None:
    """The (B, T−2) mask as (B, T−2, 1, 1, 1) in `like`'s dtype, ready to mix frames."""
    if teacher_mask is None:
        return None
    return teacher_mask.to(like.dtype)[:, :, None, None, None]


def step_input(step: int, true: Tensor, generated: Tensor, mask: Tensor | None, input_length: int) -> Tensor:
    """The input of step `step`: the true frame `true` (frame `step`), the network's own
    prediction `generated` of that frame, or their mix under the expanded `mask`."""
    if step == 0 or (mask is None and step < input_length):
        return true
    if mask is None:
        return generated.to(true.dtype)  # fed back in the frames' dtype (autocast's output may differ)
    return mask[:, step - 1] * true + (1 - mask[:, step - 1]) * generated


def memory_format_of(module: nn.Module) -> torch.memory_format:
    """The layout states should take to follow the weights (`.to(memory_format=channels_last)`
    is then enough). Read from a k×k kernel: a 1×1 kernel's two layouts can't be told apart."""
    weight = next((p for p in module.parameters() if p.ndim == 4 and p.shape[-1] > 1), None)
    if weight is not None and weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def step_frames(x: Tensor, dense: bool, fmt: torch.memory_format) -> list[Tensor]:
    """The per-step input frames of (B, T, C, H, W) `x`, steps 0 … T−2. Compiled cells get each
    as a dense tensor in the weights' layout (a copy: dynamo guards on a view's base, which the
    network's own predictions lack)."""
    return [x[:, step].contiguous(memory_format=fmt) if dense else x[:, step] for step in range(x.shape[1] - 1)]


def conv_flops(module: nn.Module, grid: tuple[int, int], skip: set[nn.Module] = frozenset()) -> int:
    """Multiply-add FLOPs (2 per MAC) of one step of every 'same' Conv2d in `module` on a grid
    of `grid` = (height, width), leaving out the modules in `skip`."""
    flops = 0
    for conv in module.modules():
        if isinstance(conv, nn.Conv2d) and conv not in skip:
            kh, kw = conv.kernel_size
            flops += 2 * conv.in_channels * conv.out_channels * kh * kw * grid[0] * grid[1] // conv.groups
    return flops


def check_widths(hidden_channels) -> list[int]:
    """`hidden_channels` as a list of widths (each width is checked by its cell)."""
    if isinstance(hidden_channels, (str, int)) or not hidden_channels:
        raise BadValue("hidden_channels", hidden_channels, "must be a non-empty list, one width per layer", "[64,64]")
    widths = list(hidden_channels)
    example = "[" + ",".join("64" for _ in widths) + "]"  # as many layers, each width valid
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise BadValue("hidden_channels", widths, "must be positive integers, one width per layer", example)
    return widths


def check_patch(patch_size, height: int, width: int) -> int:
    """A patch size that divides the frame (height × width)."""
    checks.integer("patch_size", patch_size, 4, minimum=1)
    if height % patch_size or width % patch_size:
        raise BadValue(
            "patch_size", patch_size, f"must divide the frame size {height}x{width}",
            4 if height % 4 == width % 4 == 0 else 1,
        )  # fmt: skip
    return patch_size
