"""PredRNN++ (Wang et al., ICML 2018; docs/models/predrnnpp.md): stacked Causal LSTM cells with
a Gradient Highway Unit (GHU) between the first and the second layer.

Causal LSTM, one layer at one step (X its input, H, C the layer's own states at t−1, M the
spatiotemporal memory from the layer below, or from the top layer at t−1 for layer 1; every W
is a bias-free 'same' convolution, b_f the forget bias). C is updated first, then M reads the
new C, in cascade:

    i  = σ(W_xi * X + W_hi * H + W_ci * C)
    f  = σ(W_xf * X + W_hf * H + W_cf * C + b_f)
    g  = tanh(W_xg * X + W_hg * H + W_cg * C)
    C' = f ∘ C + i ∘ g
    i' = σ(W'_xi * X + W_mi * M + W'_ci * C')
    f' = σ(W'_xf * X + W_mf * M + W'_cf * C' + b_f)
    g' = tanh(W'_xg * X + W'_cg * C')
    M' = f' ∘ tanh(W_mm * M) + i' ∘ g'
    o  = tanh(W_xo * X + W_ho * H + W_co * C' + W_mo * M')
    H' = o ∘ tanh(W_1×1 * [C', M'])

GHU, on the first layer's output H¹ with its own state Z (zeros at t = 0); its output Z' is the
second layer's input:

    P  = tanh(W_px * H¹ + W_pz * Z)
    S  = σ(W_sx * H¹ + W_sz * Z)
    Z' = S ∘ P + (1 − S) ∘ Z
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import ClassVar

import torch
from torch import Tensor, nn

from predrnn import checks
from predrnn.errors import BadValue
from predrnn.models.cells import LAYER_NORMS, gate_conv, unapplied_gate_conv
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

GHU_INIT_RANGE = 1e-3  # the GHU's convolutions start uniform in ±this (the reference's `initializer`)


# a gate convolution (models/cells.py), always a Sequential: its key is `<name>.0.weight` as in the reference
gates = partial(gate_conv, always_sequential=True)


class CausalLSTMCell(nn.Module):
    """One Causal LSTM step (equations in the module docstring). Terms sharing an input are one
    convolution, split along channels in the reference's order:

        conv_x:   X  -> 7·hc  (i, f, g, i', f', g', o)
        conv_h:   H  -> 4·hc  (i, f, g, o)
        conv_c:   C  -> 3·hc  (i, f, g)
        conv_m:   M  -> 3·hc  (i', f', W_mm * M)
        conv_c2m: C' -> 4·hc  (i', g', f', o)
        conv_om:  M' -> hc    (o)
        conv_last (1×1): [C', M'] -> hc

    `conv_o` ([C, M] -> hc) exists in the reference and is never applied: kept as buffers.
    """

    def __init__(
        self, in_channels: int, hidden_channels: int, kernel_size: int, layer_norm: bool | str,
        grid: tuple[int, int], forget_bias: float = 1.0,
    ) -> None:  # fmt: skip
        super().__init__()
        checks.integer("in_channels", in_channels, 1, minimum=1)
        checks.integer("hidden_channels", hidden_channels, 64, minimum=1)
        self.hidden_channels = hc = hidden_channels
        self.forget_bias = forget_bias
        self.conv_x = gates(in_channels, 7 * hc, kernel_size, layer_norm, grid)
        self.conv_h = gates(hc, 4 * hc, kernel_size, layer_norm, grid)
        self.conv_c = gates(hc, 3 * hc, kernel_size, layer_norm, grid)
        self.conv_m = gates(hc, 3 * hc, kernel_size, layer_norm, grid)
        self.conv_o = unapplied_gate_conv(2 * hc, hc, kernel_size, layer_norm, grid)
        self.conv_c2m = gates(hc, 4 * hc, kernel_size, layer_norm, grid)
        self.conv_om = gates(hc, hc, kernel_size, layer_norm, grid)
        self.conv_last = nn.Conv2d(2 * hc, hc, 1, bias=False)

    def forward(self, x: Tensor, h: Tensor, c: Tensor, m: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One step. Returns (H', C', M')."""
        hc = self.hidden_channels
        x_i, x_f, x_g, x_i_, x_f_, x_g_, x_o = torch.split(self.conv_x(x), hc, dim=1)
        h_i, h_f, h_g, h_o = torch.split(self.conv_h(h), hc, dim=1)
        c_i, c_f, c_g = torch.split(self.conv_c(c), hc, dim=1)
        m_i, m_f, m_m = torch.split(self.conv_m(m), hc, dim=1)

        # first the temporal memory C, from X, H and C of the previous step
        i = torch.sigmoid(x_i + h_i + c_i)
        f = torch.sigmoid(x_f + h_f + c_f + self.forget_bias)
        g = torch.tanh(x_g + h_g + c_g)
        c_new = f * c + i * g

        # then the spatiotemporal memory M, conditioned on the new C
        n_i, n_g, n_f, n_o = torch.split(self.conv_c2m(c_new), hc, dim=1)
        i_ = torch.sigmoid(x_i_ + m_i + n_i)
        f_ = torch.sigmoid(x_f_ + m_f + n_f + self.forget_bias)
        g_ = torch.tanh(x_g_ + n_g)
        m_new = f_ * torch.tanh(m_m) + i_ * g_

        # the output gate (tanh, as the paper) sees X, H and both new memories
        o = torch.tanh(x_o + h_o + n_o + self.conv_om(m_new))
        h_new = o * torch.tanh(self.conv_last(torch.cat([c_new, m_new], dim=1)))
        return h_new, c_new, m_new


class GradientHighwayUnit(nn.Module):
    """The GHU (equations in the module docstring): a gated shortcut across time for the first
    layer's output. `x_concat` gives (P, S)'s terms from H¹, `z_concat` those from Z."""

    def __init__(self, channels: int, kernel_size: int, layer_norm: bool | str, grid: tuple[int, int]) -> None:
        super().__init__()
        self.channels = channels
        self.z_concat = gates(channels, 2 * channels, kernel_size, layer_norm, grid)
        self.x_concat = gates(channels, 2 * channels, kernel_size, layer_norm, grid)
        for branch in (self.z_concat, self.x_concat):
            nn.init.uniform_(branch[0].weight, -GHU_INIT_RANGE, GHU_INIT_RANGE)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        """x: the first layer's H¹ (B, C, h, w); z: the unit's state. Returns Z'."""
        p, s = torch.split(self.x_concat(x) + self.z_concat(z), self.channels, dim=1)
        p = torch.tanh(p)
        s = torch.sigmoid(s)
        return s * p + (1 - s) * z


class PredRNNpp(RecurrentNetwork):
    """Causal LSTM cells over patched frames; the GHU's output is the second layer's input.

    `forward(frames, teacher_mask)` unrolls over t = 0..T-2 and returns predictions of frames
    1..T-1; which input each step sees is `models/recurrent.py`'s rule (the reference's rule
    under its scheduled-sampling mask). M zigzags: up the stack within a step, then from the
    top layer to layer 1 of the next step. Unequal widths are bridged by 1×1 projections of M
    (`memory_projections`; identities, without weights, where widths agree, as in the reference).
    """

    patched_frame_weights: ClassVar[dict[str, tuple[str, ...]]] = {
        "in": ("cell_list.0.conv_x.0.weight",),
        "out": ("conv_last.weight",),
    }

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
        widths = self.widths
        if len(widths) < 2:
            raise BadValue("hidden_channels", widths, "needs at least 2 layers (the GHU sits between layers 1 and 2)",
                           f"[{widths[0]},{widths[0]}]")  # fmt: skip
        checks.integer("kernel_size", kernel_size, 5, minimum=1, odd=True)
        checks.choice("layer_norm", layer_norm, LAYER_NORMS, "true")
        forget_bias = checks.number("forget_bias", forget_bias, 1.0)
        self.keep_init_args(kernel_size=kernel_size, layer_norm=layer_norm, forget_bias=forget_bias)
        norm = layer_norm or False  # here 0 means no layer norm too (models/cells.py reads only False so)
        self.gradient_highway = GradientHighwayUnit(widths[0], kernel_size, norm, self.grid)
        sizes = zip([self.frame_channels, *widths[:-1]], widths)  # (input, width) per layer
        self.cell_list = nn.ModuleList(
            CausalLSTMCell(cin, w, kernel_size, norm, self.grid, forget_bias) for cin, w in sizes
        )
        self.conv_last = nn.Conv2d(widths[-1], self.frame_channels, 1, bias=False)
        self.memory_projections = memory_projections(widths)

    def recurrent_cells(self) -> Sequence[nn.Module]:
        return [*self.cell_list, self.gradient_highway]

    def forward(self, frames: Tensor, teacher_mask: Tensor | None = None) -> Tensor:
        """frames (B, T, C, H, W) in model units -> predictions (B, T-1, C, H, W) of frames 1..T-1."""
        check_frames(frames, teacher_mask, self.in_channels, self.image_size, self.input_length)
        x = fold_patches(frames, self.patch_size)
        # zero states in the dtypes the cells return (H and M: autocast's when on), so that a
        # compiled cell sees step 0 as the others
        start = StepZero(x, self.cell_list[0], self.cells_compiled)
        inputs = start.inputs
        h = [start.zeros(w, compute_dtype(x)) for w in self.widths]
        c = [start.zeros(w) for w in self.widths]
        m = start.zeros(self.widths[-1], compute_dtype(x))
        z = start.zeros(self.widths[0])
        mask = expand_mask(teacher_mask, x)

        outputs: list[Tensor] = []
        x_gen = inputs[0]
        for step in range(frames.shape[1] - 1):
            inp = step_input(step, inputs[step], x_gen, mask, self.input_length)
            for layer, cell in enumerate(self.cell_list):
                m = self.memory_projections[layer](m)
                h[layer], c[layer], m = cell(inp, h[layer], c[layer], m)
                if layer == 0:
                    z = self.gradient_highway(h[0], z)  # layer 2 reads the highway, not H¹
                    inp = z
                else:
                    inp = h[layer]
            x_gen = self.conv_last(h[-1])
            outputs.append(x_gen)
        return unfold_patches(torch.stack(outputs, dim=1), self.patch_size)
