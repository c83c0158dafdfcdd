"""What every recurrent network of the family shares when it unrolls over a sequence
(docs/architecture.md, "Networks"): the constructor's shared arguments (`RecurrentNetwork`), the
input check, which frame a step sees, the zero states of step 0, and the FLOP count.

Step t = 0 … T−2 predicts frame t + 1. Its input is the true frame t where the teacher mask
says so (column t − 1 of the (B, T−2) mask), else the network's own prediction of frame t.
Without a mask (inference) the first `input_length` steps see true frames and the rest the
network's own outputs. Step 0 always sees the true frame 0.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

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


def conv_step_flops(conv: nn.Module, grid: tuple[int, int]) -> int:
    """Multiply-add FLOPs (2 per MAC) of one convolution or transposed convolution on a grid of
    `grid` = (height, width): its output grid for a convolution, its input grid for a transposed
    one (as torch's FLOP counter counts them)."""
    return 2 * conv.weight.numel() * grid[0] * grid[1]


def conv_flops(module: nn.Module, grid: tuple[int, int], skip: set[nn.Module] = frozenset()) -> int:
    """Multiply-add FLOPs (2 per MAC) of one step of every 'same' Conv2d in `module` on a grid
    of `grid` = (height, width), leaving out the modules in `skip`."""
    return sum(
        conv_step_flops(conv, grid) for conv in module.modules() if isinstance(conv, nn.Conv2d) and conv not in skip
    )


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype convolutions return on `x`'s device: autocast's when it is on, else `x`'s."""
    kind = x.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype


class StepZero:
    """The per-step inputs of layer 1 and the zero states of step 0, made so that compiled cells
    see step 0 as every later step: inputs and states in the layout of the first cell's weights
    (`memory_format_of`), each input a dense copy (`step_frames`), and, when compiled cells
    train, states and observed frames that carry gradients as later ones do (a few unused
    gradients, about 0.5 % of a 4 × 128 PredRNN training step's FLOPs). Each network picks the
    states' dtypes: those its cells return (`compute_dtype` for a state a convolution makes)."""

    def __init__(self, x: Tensor, first_cell: nn.Module, compiled: bool) -> None:
        self.x = x
        self.fmt = memory_format_of(first_cell)
        self.track = compiled and torch.is_grad_enabled()
        self.inputs = step_frames(x, compiled, self.fmt)
        if self.track:
            for frame in self.inputs:
                frame.requires_grad_()

    def zeros(self, channels: int, dtype: torch.dtype | None = None) -> Tensor:
        """A zero state (B, channels, h, w) on the frames' grid, in `dtype` (default: the frames')."""
        b, _, _, height, width = self.x.shape
        state = self.x.new_zeros(b, channels, height, width, dtype=dtype).contiguous(memory_format=self.fmt)
        return state.requires_grad_() if self.track else state


def memory_projections(widths: Sequence[int]) -> nn.ModuleList:
    """The zigzag of the spatiotemporal memory M: it enters layer l from layer l − 1 (layer 1:
    from the top layer at t − 1). A bias-free 1×1 projection bridges unequal widths, an identity
    (no weights, no state-dict key) passes it on otherwise."""
    sources = [widths[-1], *widths[:-1]]
    return nn.ModuleList(nn.Identity() if s == w else nn.Conv2d(s, w, 1, bias=False) for s, w in zip(sources, widths))


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


class RecurrentNetwork(nn.Module):
    """What the family's networks share (the contract is `models/api.py`): the constructor's
    data arguments, checked and kept, `init_args`, and defaults for `compile_cells` and
    `forward_flops`.

    `__init__` checks `hidden_channels`, `in_channels`, `image_size`, `patch_size` and
    `input_length` (the examples its errors give are `in_channels_example` and
    `input_length_example`) and sets `widths`, `in_channels`, `image_size` (H, W),
    `patch_size`, `input_length`, `frame_channels` (C·p²), `frame_grid` (the patched frame's
    (H/p, W/p)), `grid` (where the cells run: the patched frame, unless a network encodes it
    to a smaller grid and says so) and `cells_compiled`. A network then checks its own
    arguments and records them with `keep_init_args`.
    """

    def __init__(
        self, hidden_channels: Sequence[int], in_channels: int, image_size: int | Sequence[int], patch_size: int,
        input_length: int, *, in_channels_example: int = 1, input_length_example: int = 10,
    ) -> None:  # fmt: skip
        super().__init__()
        self.widths = check_widths(hidden_channels)
        checks.integer("in_channels", in_channels, in_channels_example, minimum=1)
        height, width = checks.pair("image_size", image_size, 64)
        check_patch(patch_size, height, width)
        checks.integer("input_length", input_length, input_length_example, minimum=1)
        self.in_channels = in_channels
        self.image_size = (height, width)
        self.patch_size = patch_size
        self.input_length = input_length
        self.frame_channels = in_channels * patch_size * patch_size
        self.frame_grid = (height // patch_size, width // patch_size)
        self.grid = self.frame_grid
        self.cells_compiled = False

    def keep_init_args(self, **own: Any) -> None:
        """`init_args`: the shared arguments as checked (`hidden_channels` a list, `image_size`
        [H, W]) and the network's `own` (checked) ones: those its constructor takes, in its order."""
        given = {
            "hidden_channels": self.widths, "in_channels": self.in_channels, "image_size": list(self.image_size),
            "patch_size": self.patch_size, "input_length": self.input_length, **own,
        }  # fmt: skip
        self.init_args: dict[str, Any] = {
            name: given[name] for name in inspect.signature(type(self)).parameters if name in given
        }

    def add_loss_modules(self) -> None:
        """Called last by a network's constructor: modules that serve an auxiliary loss only
        (PredRNN-V2's adapters), so a V2 subclass keeps its parent's signature. None by default."""

    def recurrent_cells(self) -> Sequence[nn.Module]:
        """What `compile_cells` compiles: the whole network, unless a network names its cells."""
        return [self]

    def compile_cells(self, mode: str | None = "default", **options: Any) -> None:
        """torch.compile each of `recurrent_cells()` in place (checkpoint keys unchanged): a
        cell's graph compiles in seconds where the unrolled network takes minutes. The loop then
        hands every step inputs of one dtype, layout and strides (`StepZero`), so each cell
        shape compiles once."""
        for cell in self.recurrent_cells():
            cell.compile(mode=mode, **options)
        self.cells_compiled = True

    def forward_flops(self, batch: int, total_length: int) -> int:
        """Multiply-add FLOPs (2 per MAC) of one inference pass: every 'same' Conv2d at every
        step on `grid` (networks whose convolutions run elsewhere count their own)."""
        return batch * (total_length - 1) * conv_flops(self, self.grid, self._training_only())

    def _training_only(self) -> set[nn.Module]:
        """Modules that serve a training loss only, left out of the FLOP count."""
        return set()
