"""PredRNN (Wang et al., NeurIPS 2017): stacked ST-LSTM cells with the zigzag flow of the
spatiotemporal memory M (docs/method.md, "The network"). The cell's equations are in
`models/cells.py`; PredRNN-V2 adds its decoupling loss in `models/predrnn_v2.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from predrnn.models.cells import SpatioTemporalLSTMCell
from predrnn.models.patching import fold_patches, unfold_patches
from predrnn.models.recurrent import (
    RecurrentNetwork,
    StepZero,
    check_frames,
    compute_dtype,
    expand_mask,
    memory_projections,
    step_input,
)  # fmt: skip


class PredRNN(RecurrentNetwork):
    """Stacked ST-LSTM cells over patched frames.

    `forward(frames, teacher_mask)` unrolls over t = 0..T-2 and returns predictions of frames
    1..T-1; which input each step sees is `models/recurrent.py`'s rule.
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
        super().__init__(hidden_channels, in_channels, image_size, patch_size, input_length)
        self.keep_init_args(kernel_size=kernel_size, layer_norm=layer_norm)
        widths, frame_channels = self.widths, self.frame_channels
        self.cells = nn.ModuleList(
            SpatioTemporalLSTMCell(frame_channels if i == 0 else widths[i - 1], w, kernel_size, layer_norm, self.grid)
            for i, w in enumerate(widths)
        )
        self.conv_out = nn.Conv2d(widths[-1], frame_channels, 1, bias=False)
        self.memory_projections = memory_projections(widths)
        self.add_loss_modules()

    def recurrent_cells(self) -> Sequence[nn.Module]:
        return self.cells

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
        """The per-step inputs of layer 1 and the zero states H, C (per layer) and M, in the
        dtypes the cells return (C, M: the input's; H: autocast's when on), so that compiled
        cells see step 0 as the others (`StepZero`)."""
        start = StepZero(x, self.cells[0], self.cells_compiled)
        h = [start.zeros(w, compute_dtype(x)) for w in self.widths]
        c = [start.zeros(w) for w in self.widths]
        m = start.zeros(self.widths[-1])
        return start.inputs, h, c, m
