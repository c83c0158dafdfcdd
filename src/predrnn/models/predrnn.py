"""PredRNN (Wang et al., NeurIPS 2017): stacked ST-LSTM cells with the zigzag flow of the
spatiotemporal memory M (docs/method.md, "The network"). The cell's equations are in
`models/cells.py`; PredRNN-V2 adds its decoupling loss in `models/predrnn_v2.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from predrnn import checks
from predrnn.models.cells import SpatioTemporalLSTMCell
from predrnn.models.patching import fold_patches, unfold_patches
from predrnn.models.rollout import (
    check_frames,
    check_patch,
    check_widths,
    conv_flops,
    expand_mask,
    memory_format_of,
    step_frames,
    step_input,
)  # fmt: skip


class PredRNN(nn.Module):
    """Stacked ST-LSTM cells over patched frames.

    `forward(frames, teacher_mask)` unrolls over t = 0..T-2 and returns predictions of frames
    1..T-1; which input each step sees is `models/rollout.py`'s rule.
    """

    patched_frame_weights = {"in": ("cells.0.conv_x.weight", "cells.0.conv_x.0.weight"), "out": ("conv_out.weight",)}

    def __init__(
        self,
        hidden_channels: Sequence[int] = (128, 128, 128, 128),
        in_channels: int = 1,
        image_size: int | Sequence[int] = 64,
        patch_size: int = 4,
        kernel_size: int = 5,
        layer_norm: bool | str = False,
        input_length: int = 10,
    ) -> None:
        super().__init__()
        widths = check_widths(hidden_channels)
        height, width = checks.pair("image_size", image_size, 64)
        check_patch(patch_size, height, width)
        checks.integer("input_length", input_length, 10, minimum=1)
        self.init_args: dict[str, Any] = {
            "hidden_channels": widths,
            "in_channels": in_channels,
            "image_size": [height, width],
            "patch_size": patch_size,
            "kernel_size": kernel_size,
            "layer_norm": layer_norm,
            "input_length": input_length,
        }
        self.widths = widths
        self.in_channels = in_channels
        self.image_size = (height, width)
        self.patch_size = patch_size
        self.input_length = input_length
        self.cells_compiled = False
        frame_channels = in_channels * patch_size * patch_size
        self.grid = (height // patch_size, width // patch_size)
        self.cells = nn.ModuleList(
            SpatioTemporalLSTMCell(frame_channels if i == 0 else widths[i - 1], w, kernel_size, layer_norm, self.grid)
            for i, w in enumerate(widths)
        )
        self.conv_out = nn.Conv2d(widths[-1], frame_channels, 1, bias=False)
        # M enters layer l from layer l-1 (layer 0: from the top layer at t-1); a 1×1
        # projection bridges unequal widths, identity otherwise.
        sources = [widths[-1], *widths[:-1]]
        self.memory_projections = nn.ModuleList(
            nn.Identity() if s == w else nn.Conv2d(s, w, 1, bias=False) for s, w in zip(sources, widths)
        )

    def compile_cells(self, mode: str | None = "default", **options: Any) -> None:
        """torch.compile each cell in place (checkpoint keys unchanged): a cell's graph compiles
        in seconds where the unrolled 19 × L network takes minutes. The loop then hands every
        step inputs of one dtype, layout and strides, so each cell shape compiles once."""
        for cell in self.cells:
            cell.compile(mode=mode, **options)
        self.cells_compiled = True

    def forward(self, frames: Tensor, teacher_mask: Tensor | None = None) -> Tensor:
        """frames (B, T, C, H, W) in model units -> predictions (B, T-1, C, H, W) of frames 1..T-1."""
        return self.rollout(frames, teacher_mask)[0]

    def rollout(self, frames: Tensor, teacher_mask: Tensor | None, deltas: bool = False) -> tuple[Tensor, list]:
        """(predictions, per step and layer the memory increments (ΔC, ΔM) when `deltas`)."""
        check_frames(frames, teacher_mask, self.in_channels, self.image_size, self.input_length)
        x = fold_patches(frames, self.patch_size)
        inputs, h, c, m = self._initial_state(x)
        mask = expand_mask(teacher_mask, x)

        outputs: list[Tensor] = []
        increments: list[tuple[int, Tensor, Tensor]] = []
        x_gen = inputs[0]
        for step in range(frames.shape[1] - 1):
            inp = step_input(step, inputs[step], x_gen, mask, self.input_length)
            for layer, cell in enumerate(self.cells):
                m = self.memory_projections[layer](m)
                if deltas:
                    h[layer], c[layer], m, d_c, d_m = cell(inp, h[layer], c[layer], m, return_deltas=True)
                    increments.append((layer, d_c, d_m))
                else:
                    h[layer], c[layer], m = cell(inp, h[layer], c[layer], m)
                inp = h[layer]
            x_gen = self.conv_out(h[-1])
            outputs.append(x_gen)
        return unfold_patches(torch.stack(outputs, dim=1), self.patch_size), increments

    def _initial_state(self, x: Tensor) -> tuple[list[Tensor], list[Tensor], list[Tensor], Tensor]:
        """The per-step inputs of layer 1 and the zero states H, C (per layer) and M.

        Everything here serves torch.compile, so that step 0 looks like the others: zero states
        in the layout and dtypes the cells return (C, M: the input's; H: autocast's when on).
        Compiled cells also get, when training, zero states and observed frames that carry
        gradients as later ones do (a few unused gradients, about 0.5 % of a 4 × 128 training
        step's FLOPs).
        """
        b, _, _, height, width = x.shape
        fmt = memory_format_of(self.cells[0])
        inputs = step_frames(x, self.cells_compiled, fmt)
        kind = x.device.type
        h_dtype = torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype
        h = [x.new_zeros(b, w, height, width, dtype=h_dtype).contiguous(memory_format=fmt) for w in self.widths]
        c = [x.new_zeros(b, w, height, width).contiguous(memory_format=fmt) for w in self.widths]
        m = x.new_zeros(b, self.widths[-1], height, width).contiguous(memory_format=fmt)
        if self.cells_compiled and torch.is_grad_enabled():
            for tensor in (*h, *c, m, *inputs):
                tensor.requires_grad_()
        return inputs, h, c, m

    def forward_flops(self, batch: int, total_length: int) -> int:
        """Multiply-add FLOPs (2 per MAC) of one inference pass, counted from the conv shapes."""
        return batch * (total_length - 1) * conv_flops(self, self.grid, self._training_only())

    def _training_only(self) -> set[nn.Module]:
        return set()
