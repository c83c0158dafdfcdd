"""Memory In Memory (Wang et al., CVPR 2019; docs/models/mim.md): an ST-LSTM first layer, then
MIM blocks whose temporal memory C is rewritten each step by two cascaded recurrent modules, so
that the memory learns the non-stationary (differenced) part of the dynamics.

Layer 1 is an ST-LSTM (`docs/method.md`, "The cells"). In layer l ≥ 2, with X = H^{l-1}_t
(the layer below's new hidden state), D the non-stationary signal of that layer and M the
spatiotemporal memory from the layer below (layer 1: from the top layer at t − 1):

    MIM-N (its own H_n, C_n):    H_n, C_n = PeepholeLSTM(D, H_n, C_n)
        D = H^1_t − H^1_{t−1} for layer 2; the MIM-N output of the layer below for l ≥ 3
    MIM-S (its own C_s):         T, C_s = PeepholeLSTM(H_n, C, C_s)     (C takes the part of H)
    i = σ(W_xi * X + W_ti * H)        g = tanh(W_xg * X + W_tg * H)
    i' = σ(W_xi * X + W_si * M)       g' = tanh(W_xg * X + W_sg * M)    f' = σ(W_xf * X + W_sf * M + 1)
    C' = T + i ∘ g
    M' = f' ∘ M + i' ∘ g'
    o  = σ(W_xo * X + W_to * H + W_so * M)
    H' = o ∘ tanh(W_1×1 * [C', M'])

where PeepholeLSTM(x, h, c) is a ConvLSTM with element-wise (per channel and position) peephole
weights w_ci, w_cf, w_co:

    [i, g, f, o] = W_x * x + W_h * h
    i = σ(i + w_ci ∘ c)     f = σ(f + w_cf ∘ c + 1)
    c' = f ∘ c + i ∘ tanh(g)
    h' = σ(o + w_co ∘ c') ∘ tanh(c')

This is what OpenSTL's MIM_Model computes (its checkpoints load here as they are); the quirks it
has and this module keeps are listed in docs/models/mim.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import ClassVar

import torch
from torch import Tensor, nn

from predrnn import checks
from predrnn.errors import BadValue
from predrnn.models.cells import FORGET_BIAS, LAYER_NORMS, SpatioTemporalLSTMCell, Unapplied, gate_conv
from predrnn.models.patching import fold_patches, unfold_patches
from predrnn.models.recurrent import RecurrentNetwork, check_frames, conv_flops, expand_mask, step_input

# a gate convolution (models/cells.py) in a Sequential: the reference's key names `<name>.0.weight`
gates = partial(gate_conv, always_sequential=True)


class STLSTMCell(SpatioTemporalLSTMCell):
    """The first layer: PredRNN's ST-LSTM (`models/cells.py`), with every gate convolution in a
    Sequential so that the reference's keys (`conv_x.0.weight`, …) load.

        conv_x: X -> 7·hidden (i, f, g, i', f', g', o);  conv_h: H -> 4·hidden (i, f, g, o)
        conv_m: M -> 3·hidden (i', f', g');  conv_o: [C', M'] -> hidden;  conv_last (1×1): [C', M'] -> hidden
    """

    always_sequential = True


class PeepholeGates(nn.Module):
    """The ConvLSTM with element-wise peepholes that both MIM-N and MIM-S are (module docstring):
    `conv_x_concat` on the input and `conv_h_concat` on the hidden state, each -> 4·hidden
    (i, g, f, o); `ct_weight` = [w_ci, w_cf], `oc_weight` = w_co, one weight per channel and grid
    position (so a network serves one frame size). The peepholes start at zero, as in the
    reference."""

    def __init__(self, hidden: int, kernel_size: int, layer_norm: bool | str, grid: tuple[int, int]) -> None:
        super().__init__()
        self.hidden = hidden
        self.ct_weight = nn.Parameter(torch.zeros(2 * hidden, *grid))
        self.oc_weight = nn.Parameter(torch.zeros(hidden, *grid))
        self.conv_h_concat = gates(hidden, 4 * hidden, kernel_size, layer_norm, grid)
        self.conv_x_concat = gates(hidden, 4 * hidden, kernel_size, layer_norm, grid)

    def peephole_step(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        h_i, h_g, h_f, h_o = torch.split(self.conv_h_concat(h), self.hidden, dim=1)
        x_i, x_g, x_f, x_o = torch.split(self.conv_x_concat(x), self.hidden, dim=1)
        w_ci, w_cf = torch.split(self.ct_weight, self.hidden, dim=0)
        i = torch.sigmoid(x_i + h_i + w_ci * c)
        f = torch.sigmoid(x_f + h_f + w_cf * c + FORGET_BIAS)
        c_new = f * c + i * torch.tanh(x_g + h_g)
        h_new = torch.sigmoid(x_o + h_o + self.oc_weight * c_new) * torch.tanh(c_new)
        return h_new, c_new


class NonStationaryCell(PeepholeGates):
    """MIM-N: a peephole ConvLSTM over the differenced signal D (its input), with its own H_n, C_n.

    The reference also defines a 1×1 `conv_last` here that it never applies: kept as a buffer
    (zeros unless loaded) so that its checkpoints load strictly while the optimiser, DDP and
    the FLOP count never see it."""

    def __init__(self, hidden: int, kernel_size: int, layer_norm: bool | str, grid: tuple[int, int]) -> None:
        super().__init__(hidden, kernel_size, layer_norm, grid)
        self.conv_last = Unapplied(weight=(hidden, 2 * hidden, 1, 1))  # a bias-free 1×1 convolution

    def forward(self, d: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        return self.peephole_step(d, h, c)


class MIMBlock(PeepholeGates):
    """A MIM block (layers 2 …): its MIM-S module is the inherited peephole gates, which here
    read the MIM-N output (input) and the block's C (as hidden state) and keep their own C_s.

        conv_x_cc: X -> 4·hidden (i, g, f', o), shared by both memories
        conv_t_cc: H -> 3·hidden (i, g, o);  conv_s_cc: M -> 4·hidden (i', g', f', o)
        conv_last (1×1): [C', M'] -> hidden
    """

    def __init__(self, hidden: int, kernel_size: int, layer_norm: bool | str, grid: tuple[int, int]) -> None:
        super().__init__(hidden, kernel_size, layer_norm, grid)
        self.conv_t_cc = gates(hidden, 3 * hidden, kernel_size, layer_norm, grid)
        self.conv_s_cc = gates(hidden, 4 * hidden, kernel_size, layer_norm, grid)
        self.conv_x_cc = gates(hidden, 4 * hidden, kernel_size, layer_norm, grid)
        self.conv_last = nn.Conv2d(2 * hidden, hidden, 1, bias=False)

    def forward(
        self, x: Tensor, n: Tensor, h: Tensor, c: Tensor, m: Tensor, c_s: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One step: x the layer below's H, n the MIM-N output, (h, c) this block's states, m the
        spatiotemporal memory, c_s the MIM-S cell. Returns (H', C', M', C_s')."""
        x_i, x_g, x_f, x_o = torch.split(self.conv_x_cc(x), self.hidden, dim=1)
        t_i, t_g, t_o = torch.split(self.conv_t_cc(h), self.hidden, dim=1)
        s_i, s_g, s_f, s_o = torch.split(self.conv_s_cc(m), self.hidden, dim=1)

        # spatiotemporal memory M: the same input terms as C's gates, with M's own
        m_new = torch.sigmoid(x_f + s_f + FORGET_BIAS) * m + torch.sigmoid(x_i + s_i) * torch.tanh(x_g + s_g)

        # MIM-S rewrites the temporal memory (its cell gets no gradient from earlier steps, as in
        # the reference, which detaches it between steps); then C' adds the usual input term
        stationary, c_s_new = self.peephole_step(n, c, c_s.detach())
        c_new = stationary + torch.sigmoid(x_i + t_i) * torch.tanh(x_g + t_g)

        o = torch.sigmoid(x_o + t_o + s_o)
        h_new = o * torch.tanh(self.conv_last(torch.cat([c_new, m_new], dim=1)))
        return h_new, c_new, m_new, c_s_new


class MIM(RecurrentNetwork):
    """Memory In Memory over patched frames: `stlstm_layer` = [ST-LSTM, MIM block, …],
    `stlstm_layer_diff` = one MIM-N per MIM block, a 1×1 `conv_last` from the top H to the frame.

    `forward(frames, teacher_mask)` unrolls over t = 0..T-2 and returns predictions of frames
    1..T-1; which input each step sees is `models/recurrent.py`'s rule (the reference's rule under
    its scheduled-sampling mask). Every sequence starts from zero states, the MIM-S cells
    included (the reference carries those over from the previous batch: docs/models/mim.md).
    """

    patched_frame_weights: ClassVar[dict[str, tuple[str, ...]]] = {
        "in": ("stlstm_layer.0.conv_x.0.weight",),
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
        input_length: int = 10,
    ) -> None:
        super().__init__(hidden_channels, in_channels, image_size, patch_size, input_length)
        widths = self.widths
        if len(widths) < 2:
            raise BadValue(
                "hidden_channels", widths, "needs at least 2 layers (an ST-LSTM, then MIM blocks; one layer is PredRNN)",
                [widths[0]] * 2,
            )  # fmt: skip
        if len(set(widths)) > 1:
            # M passes through every layer, and the reference builds each block's convolutions
            # from the widths of two neighbouring layers interchangeably
            raise BadValue("hidden_channels", widths, "must all be equal (M passes through every layer)",
                           [widths[0]] * len(widths))  # fmt: skip
        checks.integer("kernel_size", kernel_size, 5, minimum=1, odd=True)
        checks.choice("layer_norm", layer_norm, LAYER_NORMS, "true")
        self.keep_init_args(kernel_size=kernel_size, layer_norm=layer_norm)
        norm = layer_norm or False  # here 0 means no layer norm too (models/cells.py reads only False so)
        hidden = widths[0]
        self.stlstm_layer = nn.ModuleList(
            [STLSTMCell(self.frame_channels, hidden, kernel_size, norm, self.grid)]
            + [MIMBlock(hidden, kernel_size, norm, self.grid) for _ in widths[1:]]
        )
        self.stlstm_layer_diff = nn.ModuleList(
            NonStationaryCell(hidden, kernel_size, norm, self.grid) for _ in widths[1:]
        )
        self.conv_last = nn.Conv2d(hidden, self.frame_channels, 1, bias=False)

    def recurrent_cells(self) -> Sequence[nn.Module]:
        """Each ST-LSTM, MIM block and MIM-N."""
        return [*self.stlstm_layer, *self.stlstm_layer_diff]

    def forward(self, frames: Tensor, teacher_mask: Tensor | None = None) -> Tensor:
        """frames (B, T, C, H, W) -> predictions (B, T-1, C, H, W) of frames 1..T-1."""
        return self.rollout(frames, teacher_mask)[0]

    def rollout(
        self, frames: Tensor, teacher_mask: Tensor | None = None, stationary: Sequence[Tensor] | None = None
    ) -> tuple[Tensor, list[Tensor]]:
        """(predictions, the MIM-S cells C_s after the last step, one per MIM block). `stationary`
        starts those cells from given states instead of zeros: passing the cells a previous call
        returned reproduces the reference, which carries them from batch to batch."""
        check_frames(frames, teacher_mask, self.in_channels, self.image_size, self.input_length)
        x = fold_patches(frames, self.patch_size)
        mask = expand_mask(teacher_mask, x)
        zeros = x.new_zeros(x.shape[0], self.widths[0], *self.grid)
        layers = len(self.widths)
        h, c = [zeros] * layers, [zeros] * layers
        m = zeros
        n_h, n_c = [zeros] * (layers - 1), [zeros] * (layers - 1)  # MIM-N states, per block
        c_s = [zeros] * (layers - 1) if stationary is None else list(stationary)
        if len(c_s) != layers - 1:
            raise ValueError(f"stationary must hold one MIM-S cell per MIM block ({layers - 1}), got {len(c_s)}")

        outputs: list[Tensor] = []
        x_gen = x[:, 0]
        for step in range(x.shape[1] - 1):
            inp = step_input(step, x[:, step], x_gen, mask, self.input_length)
            h_before = h[0]
            h[0], c[0], m = self.stlstm_layer[0](inp, h[0], c[0], m)
            for layer in range(1, layers):
                k = layer - 1  # index of the block's MIM-N and MIM-S
                if step > 0:  # at step 0 the difference is undefined: the MIM-N output stays zero
                    d = h[0] - h_before if k == 0 else n_h[k - 1]
                    n_h[k], n_c[k] = self.stlstm_layer_diff[k](d, n_h[k], n_c[k])
                h[layer], c[layer], m, c_s[k] = self.stlstm_layer[layer](
                    h[layer - 1], n_h[k], h[layer], c[layer], m, c_s[k]
                )
            x_gen = self.conv_last(h[-1])
            outputs.append(x_gen)
        return unfold_patches(torch.stack(outputs, dim=1), self.patch_size), c_s

    def forward_flops(self, batch: int, total_length: int) -> int:
        """Multiply-add FLOPs (2 per MAC) of one forward pass, counted from the conv shapes: every
        convolution at every step, but MIM-N only from step 1 on."""
        return super().forward_flops(batch, total_length) - batch * conv_flops(self.stlstm_layer_diff, self.grid)
