"""ConvLSTM (Shi et al., 2015), the baseline PredRNN starts from: stacked convolutional LSTM
cells without peepholes and without PredRNN's spatiotemporal memory (docs/method.md, "The cells")."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from predrnn import checks
from predrnn.models.cells import check_cell, gate_conv
from predrnn.models.patching import fold_patches, unfold_patches
from predrnn.models.recurrent import RecurrentNetwork, StepZero, check_frames, expand_mask, step_input


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


class ConvLSTM(RecurrentNetwork):
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
        super().__init__(hidden_channels, in_channels, image_size, patch_size, input_length)
        self.keep_init_args(kernel_size=kernel_size, layer_norm=layer_norm, forget_bias=forget_bias)
        widths, frame_channels = self.widths, self.frame_channels
        self.cells = nn.ModuleList(
            ConvLSTMCell(
                frame_channels if i == 0 else widths[i - 1], w, kernel_size, layer_norm, self.grid, forget_bias
            )
            for i, w in enumerate(widths)
        )
        self.conv_out = nn.Conv2d(widths[-1], frame_channels, 1, bias=False)

    def recurrent_cells(self) -> Sequence[nn.Module]:
        return self.cells

    def forward(self, frames: Tensor, teacher_mask: Tensor | None = None) -> Tensor:
        """frames (B, T, C, H, W) -> predictions (B, T-1, C, H, W) of frames 1..T-1."""
        check_frames(frames, teacher_mask, self.in_channels, self.image_size, self.input_length)
        x = fold_patches(frames, self.patch_size)
        start = StepZero(x, self.cells[0], self.cells_compiled)
        inputs = start.inputs
        h = [start.zeros(w) for w in self.widths]  # the input's dtype: H = o ∘ tanh(C) follows C
        c = [start.zeros(w) for w in self.widths]
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
