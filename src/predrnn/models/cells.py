"""The ST-LSTM cell of PredRNN, and the layers the family's cells share: gate convolutions with
their layer norms, and the buffers of layers a reference builds and never applies.

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

from collections.abc import Sequence

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


def with_layer_norm(
    conv: nn.Module, channels: int, layer_norm: bool | str, size: Sequence[int] | None, always_sequential: bool = False
) -> nn.Module:
    """`conv`, followed by layer norm over each sample's (C, *size) when asked (so its
    statistics don't depend on the batch).

    `True`: gain and bias per channel (GroupNorm with one group), so one cell serves any frame
    size. `"elementwise"`: gain and bias per element of (C, *size), as the authors' code has it
    (`nn.LayerNorm([C, H, W])`), for that size only. Without layer norm `conv` comes as it is,
    or in a Sequential where a reference's state dicts name it `<name>.0` (`always_sequential`).
    """
    if layer_norm is False:
        return nn.Sequential(conv) if always_sequential else conv
    if layer_norm == "elementwise":
        return nn.Sequential(conv, nn.LayerNorm([channels, *size]))
    return nn.Sequential(conv, nn.GroupNorm(1, channels))


def gate_conv(
    cin: int, cout: int, kernel_size: int, layer_norm: bool | str, size: tuple[int, int] | None, bias: bool = False,
    always_sequential: bool = False,
) -> nn.Module:  # fmt: skip
    """A 'same' convolution (bias-free unless `bias`), followed by layer norm when asked
    (`with_layer_norm`)."""
    conv = nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, bias=bias)
    return with_layer_norm(conv, cout, layer_norm, size, always_sequential)


class Unapplied(nn.Module):
    """Tensors of a layer a reference builds and never applies, kept as buffers (zeros unless
    loaded) of the given shapes: its checkpoints load strictly, while the optimiser, DDP and the
    FLOP counts skip them."""

    def __init__(self, **shapes: tuple[int, ...]) -> None:
        super().__init__()
        for name, shape in shapes.items():
            self.register_buffer(name, torch.zeros(shape))


def norm_shape(channels: int, layer_norm: bool | str, size: tuple[int, int]) -> tuple[int, ...]:
    """The shape of a layer norm's gain and bias: per element of (C, *size), or per channel."""
    return (channels, *size) if layer_norm == "elementwise" else (channels,)


def unapplied_gate_conv(
    cin: int, cout: int, kernel_size: int, layer_norm: bool | str, size: tuple[int, int]
) -> nn.Sequential:
    """The state-dict entries `gate_conv(..., always_sequential=True)` would have (bias-free), as
    buffers of a module that is never run."""
    parts = [Unapplied(weight=(cout, cin, kernel_size, kernel_size))]
    if layer_norm is not False:
        shape = norm_shape(cout, layer_norm, size)
        parts.append(Unapplied(weight=shape, bias=shape))
    return nn.Sequential(*parts)


def spatiotemporal_update(
    hc: int, x_gates: Tensor, h_gates: Tensor, m_gates: Tensor, c: Tensor, m: Tensor, conv_o: nn.Module,
    conv_last: nn.Module,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    """The ST-LSTM equations of a cell `hc` wide, from the gate pre-activations W_x * X (7 parts),
    the hidden state's (4 parts) and W_m * M (3 parts). Returns (H', C', M', ΔC, ΔM)."""
    x_i, x_f, x_g, x_i_, x_f_, x_g_, x_o = torch.split(x_gates, hc, dim=1)
    h_i, h_f, h_g, h_o = torch.split(h_gates, hc, dim=1)
    m_i, m_f, m_g = torch.split(m_gates, hc, dim=1)

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
    o = torch.sigmoid(x_o + h_o + conv_o(mem))
    h_new = o * torch.tanh(conv_last(mem))
    return h_new, c_new, m_new, delta_c, delta_m


class SpatioTemporalLSTMCell(nn.Module):
    """ST-LSTM: a temporal memory C (per layer, across time) and a spatiotemporal memory M
    (zigzag across layers), both feeding the hidden state H. A subclass whose reference names
    every gate convolution `<name>.0` sets `always_sequential`."""

    always_sequential = False

    def __init__(
        self, in_channels: int, hidden_channels: int, kernel_size: int = 5, layer_norm: bool | str = False,
        size: tuple[int, int] | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        check_cell(in_channels, hidden_channels, kernel_size, layer_norm, size)
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        hc = hidden_channels

        def gates(cin: int, cout: int) -> nn.Module:
            return gate_conv(cin, cout, kernel_size, layer_norm, size, always_sequential=self.always_sequential)

        self.conv_x = gates(in_channels, 7 * hc)
        self.conv_h = gates(hc, 4 * hc)
        self.conv_m = gates(hc, 3 * hc)
        self.conv_o = gates(2 * hc, hc)
        self.conv_last = nn.Conv2d(2 * hc, hc, 1, bias=False)

    def forward(self, x: Tensor, h: Tensor, c: Tensor, m: Tensor, return_deltas: bool = False) -> tuple[Tensor, ...]:
        """One step. Returns (h, c, m), plus (ΔC, ΔM) = (i∘g, i'∘g') when `return_deltas`
        (for the PredRNN-V2 decoupling loss; they are computed either way)."""
        hc = self.hidden_channels
        gates = self.conv_x(x), self.conv_h(h), self.conv_m(m)
        update = spatiotemporal_update(hc, *gates, c, m, self.conv_o, self.conv_last)
        return update if return_deltas else update[:3]
