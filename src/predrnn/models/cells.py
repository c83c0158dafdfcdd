"""The ST-LSTM cell of PredRNN, and the gate convolutions it shares with ConvLSTM (`models/convlstm.py`).

The equations follow Wang et al. (NeurIPS 2017, eqs. 3-4) as written out in
`docs/method.md` ("The cells"). All terms that share an input are computed by one convolution and
split along channels, as in the official code:

    conv_x: X      -> 7·hidden  (i, f, g, i', f', g', o)
    conv_h: H      -> 4·hidden  (i, f, g, o)
    conv_m: M      -> 3·hidden  (i', f', g')
    conv_o: [C, M] -> hidden    (the W_co * C + W_mo * M term of o)
    conv_last (1×1): [C, M] -> hidden
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from predrnn import checks

FORGET_BIAS = 1.0


def check_cell(in_channels: int, hidden_channels: int, kernel_size: int, layer_norm: bool | str, size) -> None:
    checks.integer("in_channels", in_channels, 1, minimum=1)
    checks.integer("hidden_channels", hidden_channels, 64, minimum=1)  # a layer's width
    checks.integer("kernel_size", kernel_size, 5, minimum=1, odd=True)
    checks.choice("layer_norm", layer_norm, LAYER_NORMS, "true")
    if layer_norm == "elementwise" and size is None:
        raise ValueError("layer_norm='elementwise' needs the cell's frame size (size=(height, width))")


LAYER_NORMS = (False, True, "elementwise")


def gate_conv(cin: int, cout: int, kernel_size: int, layer_norm: bool | str, size: tuple[int, int] | None) -> nn.Module:
    """A bias-free 'same' convolution, followed by layer norm when asked.

    Layer norm normalises over (C, H, W) of each sample, so its statistics don't depend on the
    batch. `True`: gain and bias per channel (GroupNorm with one group), so one cell serves any
    frame size. `"elementwise"`: gain and bias per element of (C, H, W), as the authors' code
    has it (`nn.LayerNorm([C, H, W])`), for the frame size `size` only.
    """
    conv = nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, bias=False)
    if layer_norm is False:
        return conv
    if layer_norm == "elementwise":
        return nn.Sequential(conv, nn.LayerNorm([cout, *size]))
    return nn.Sequential(conv, nn.GroupNorm(1, cout))


class SpatioTemporalLSTMCell(nn.Module):
    """ST-LSTM: a temporal memory C (per layer, across time) and a spatiotemporal memory M
    (zigzag across layers), both feeding the hidden state H."""

    def __init__(
        self, in_channels: int, hidden_channels: int, kernel_size: int = 5, layer_norm: bool | str = False,
        size: tuple[int, int] | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        check_cell(in_channels, hidden_channels, kernel_size, layer_norm, size)
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        hc = hidden_channels
        self.conv_x = gate_conv(in_channels, 7 * hc, kernel_size, layer_norm, size)
        self.conv_h = gate_conv(hc, 4 * hc, kernel_size, layer_norm, size)
        self.conv_m = gate_conv(hc, 3 * hc, kernel_size, layer_norm, size)
        self.conv_o = gate_conv(2 * hc, hc, kernel_size, layer_norm, size)
        self.conv_last = nn.Conv2d(2 * hc, hc, 1, bias=False)

    def forward(self, x: Tensor, h: Tensor, c: Tensor, m: Tensor, return_deltas: bool = False) -> tuple[Tensor, ...]:
        """One step. Returns (h, c, m), plus (ΔC, ΔM) = (i∘g, i'∘g') when `return_deltas`
        (for the PredRNN-V2 decoupling loss; they are computed either way)."""
        hc = self.hidden_channels
        x_i, x_f, x_g, x_i_, x_f_, x_g_, x_o = torch.split(self.conv_x(x), hc, dim=1)
        h_i, h_f, h_g, h_o = torch.split(self.conv_h(h), hc, dim=1)
        m_i, m_f, m_g = torch.split(self.conv_m(m), hc, dim=1)

        # temporal memory C (as in ConvLSTM, without peepholes)
        i = torch.sigmoid(x_i + h_i)
        f = torch.sigmoid(x_f + h_f + FORGET_BIAS)
        g = torch.tanh(x_g + h_g)
        delta_c = i * g
        c_new = f * c + delta_c

        # spatiotemporal memory M, read from the layer below (or the top layer at t-1)
        i_ = torch.sigmoid(x_i_ + m_i)
        f_ = torch.sigmoid(x_f_ + m_f + FORGET_BIAS)
        g_ = torch.tanh(x_g_ + m_g)
        delta_m = i_ * g_
        m_new = f_ * m + delta_m

        # output gate sees both memories; H mixes them through a 1×1 convolution
        mem = torch.cat([c_new, m_new], dim=1)
        o = torch.sigmoid(x_o + h_o + self.conv_o(mem))
        h_new = o * torch.tanh(self.conv_last(mem))

        if return_deltas:
            return h_new, c_new, m_new, delta_c, delta_m
        return h_new, c_new, m_new
