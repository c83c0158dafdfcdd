"""ConvLSTM (Shi et al., 2015), the baseline PredRNN starts from: stacked convolutional LSTM
cells without peepholes and without PredRNN's spatiotemporal memory (docs/method.md, "The cells")."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from predrnn import checks
from predrnn.models.cells import check_cell, gate_conv
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


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step. `forget_bias` is added to the forget gate's pre-activation (1.0 as
    in PredRNN's code; OpenSTL's ConvLSTM defines one and never adds it: 0.0 matches it)."""

    def __init__(
        self, in_channels: int, hidden_channels: int, kernel_size: int = 5, layer_norm: bool | str = False,
        size: tuple[int, int] | None = None, forget_bias: float = 1.0,
    ) -> None:  # fmt: skip
        super().__init__()
        check_cell(in_channels, hidden_channels, kernel_size, layer_norm, size)
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.forget_bias = checks.number("forget_bias", forget_bias, 1.0)
        self.conv_x = gate_conv(in_channels, 4 * hidden_channels, kernel_size, layer_norm, size)
        self.conv_h = gate_conv(hidden_channels, 4 * hidden_channels, kernel_size, layer_norm, size)

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """One step. Returns (h, c)."""
        hc = self.hidden_channels
        x_i, x_f, x_g, x_o = torch.split(self.conv_x(x), hc, dim=1)
        h_i, h_f, h_g, h_o = torch.split(self.conv_h(h), hc, dim=1)
        i = torch.sigmoid(x_i + h_i)
        f = torch.sigmoid(x_f + h_f + self.forget_bias)
        g = torch.tanh(x_g + h_g)
        c_new = f * c + i * g
        o = torch.sigmoid(x_o + h_o)
        h_new = o * torch.tanh(c_new)
        return h_new, c_new


class ConvLSTM(nn.Module):
    """Stacked ConvLSTM cells over patched frames; each layer's H is the next layer's input."""

    patched_frame_weights = {"in": ("cells.0.conv_x.weight", "cells.0.conv_x.0.weight"), "out": ("conv_out.weight",)}

    def __init__(
        self,
        hidden_channels: Sequence[int] = (128, 128, 128, 128),
        in_channels: int = 1,
        image_size: int | Sequence[int] = 64,
        patch_size: int = 4,
        kernel_size: int = 5,
        layer_norm: bool | str = False,
        forget_bias: float = 1.0,
        input_length: int = 10,
    ) -> None:
        super().__init__()
        widths = check_widths(hidden_channels)
        height, width = checks.pair("image_size", image_size, 64)
        check_patch(patch_size, height, width)
        checks.integer("input_length", input_length, 10, minimum=1)
        self.init_args: dict[str, Any] = {
            "hidden_channels": widths, "in_channels": in_channels, "image_size": [height, width],
            "patch_size": patch_size, "kernel_size": kernel_size, "layer_norm": layer_norm,
            "forget_bias": forget_bias, "input_length": input_length,
        }  # fmt: skip
        self.widths = widths
        self.in_channels = in_channels
        self.image_size = (height, width)
        self.patch_size = patch_size
        self.input_length = input_length
        self.cells_compiled = False
        frame_channels = in_channels * patch_size * patch_size
        self.grid = (height // patch_size, width // patch_size)
        self.cells = nn.ModuleList(
            ConvLSTMCell(
                frame_channels if i == 0 else widths[i - 1], w, kernel_size, layer_norm, self.grid, forget_bias
            )
            for i, w in enumerate(widths)
        )
        self.conv_out = nn.Conv2d(widths[-1], frame_channels, 1, bias=False)

    def compile_cells(self, mode: str | None = "default", **options: Any) -> None:
        """torch.compile each cell in place (checkpoint keys unchanged)."""
        for cell in self.cells:
            cell.compile(mode=mode, **options)
        self.cells_compiled = True

    def forward(self, frames: Tensor, teacher_mask: Tensor | None = None) -> Tensor:
        """frames (B, T, C, H, W) -> predictions (B, T-1, C, H, W) of frames 1..T-1."""
        check_frames(frames, teacher_mask, self.in_channels, self.image_size, self.input_length)
        x = fold_patches(frames, self.patch_size)
        b, _, _, height, width = x.shape
        fmt = memory_format_of(self.cells[0])
        inputs = step_frames(x, self.cells_compiled, fmt)
        h = [x.new_zeros(b, w, height, width).contiguous(memory_format=fmt) for w in self.widths]
        c = [x.new_zeros(b, w, height, width).contiguous(memory_format=fmt) for w in self.widths]
        if self.cells_compiled and torch.is_grad_enabled():
            for tensor in (*h, *c, *inputs):
                tensor.requires_grad_()
        mask = expand_mask(teacher_mask, x)
        outputs: list[Tensor] = []
        x_gen = inputs[0]
        for step in range(frames.shape[1] - 1):
            inp = step_input(step, inputs[step], x_gen, mask, self.input_length)
            for layer, cell in enumerate(self.cells):
                h[layer], c[layer] = cell(inp, h[layer], c[layer])
                inp = h[layer]
            x_gen = self.conv_out(h[-1])
            outputs.append(x_gen)
        return unfold_patches(torch.stack(outputs, dim=1), self.patch_size)

    def forward_flops(self, batch: int, total_length: int) -> int:
        """Multiply-add FLOPs (2 per MAC) of one forward pass, counted from the conv shapes."""
        return batch * (total_length - 1) * conv_flops(self, self.grid)
