"""The cells against the paper's equations, written out gate by gate with separate weights."""

import pytest
import torch
import torch.nn.functional as F

from predrnn.models import ConvLSTMCell, SpatioTemporalLSTMCell


def _conv(x, weight, rows):
    w = weight[rows]
    return F.conv2d(x, w, padding=w.shape[-1] // 2)


def test_stlstm_matches_equations():
    torch.manual_seed(0)
    hc, k = 3, 3
    cell = SpatioTemporalLSTMCell(2, hc, k)
    x, h, c, m = (torch.randn(2, n, 5, 5) for n in (2, hc, hc, hc))
    wx, wh, wm = cell.conv_x.weight, cell.conv_h.weight, cell.conv_m.weight
    g = lambda j: slice(j * hc, (j + 1) * hc)  # noqa: E731  gate j of a stacked conv
    # conv_x order: i, f, g, i', f', g', o ; conv_h: i, f, g, o ; conv_m: i', f', g'
    i = torch.sigmoid(_conv(x, wx, g(0)) + _conv(h, wh, g(0)))
    f = torch.sigmoid(_conv(x, wx, g(1)) + _conv(h, wh, g(1)) + 1.0)
    gg = torch.tanh(_conv(x, wx, g(2)) + _conv(h, wh, g(2)))
    c_t = f * c + i * gg
    i2 = torch.sigmoid(_conv(x, wx, g(3)) + _conv(m, wm, g(0)))
    f2 = torch.sigmoid(_conv(x, wx, g(4)) + _conv(m, wm, g(1)) + 1.0)
    g2 = torch.tanh(_conv(x, wx, g(5)) + _conv(m, wm, g(2)))
    m_t = f2 * m + i2 * g2
    cm = torch.cat([c_t, m_t], 1)
    o = torch.sigmoid(_conv(x, wx, g(6)) + _conv(h, wh, g(3)) + F.conv2d(cm, cell.conv_o.weight, padding=1))
    h_t = o * torch.tanh(F.conv2d(cm, cell.conv_last.weight))

    out = cell(x, h, c, m, return_deltas=True)
    for got, want in zip(out, (h_t, c_t, m_t, i * gg, i2 * g2)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    plain = cell(x, h, c, m)
    assert len(plain) == 3
    torch.testing.assert_close(plain[0], h_t, rtol=1e-5, atol=1e-6)


def test_convlstm_matches_equations():
    torch.manual_seed(1)
    hc = 4
    cell = ConvLSTMCell(3, hc, 3)
    x, h, c = torch.randn(2, 3, 6, 6), torch.randn(2, hc, 6, 6), torch.randn(2, hc, 6, 6)
    pre = cell.conv_x(x) + cell.conv_h(h)
    i, f, g, o = pre.split(hc, 1)
    c_t = torch.sigmoid(f + 1) * c + torch.sigmoid(i) * torch.tanh(g)
    h_t = torch.sigmoid(o) * torch.tanh(c_t)
    got_h, got_c = cell(x, h, c)
    torch.testing.assert_close(got_c, c_t)
    torch.testing.assert_close(got_h, h_t)


def test_layer_norm_is_part_of_the_gate_convs():
    cell = SpatioTemporalLSTMCell(2, 4, 3, layer_norm=True)
    x = torch.randn(3, 2, 8, 8) * 5 + 2
    pre = cell.conv_x(x)
    # each sample's pre-activations are normalised over (C, H, W), independent of the batch
    torch.testing.assert_close(pre.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(pre.std(dim=(1, 2, 3), unbiased=False), torch.ones(3), atol=1e-3, rtol=0)
    torch.testing.assert_close(cell.conv_x(x[:1]), pre[:1], rtol=1e-5, atol=1e-5)
    for name in ("conv_x", "conv_h", "conv_m", "conv_o"):
        assert isinstance(getattr(cell, name), torch.nn.Sequential)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hidden_channels": 0}, "^hidden_channels=0 must be at least 1"),
        ({"kernel_size": 4}, "^kernel_size=4 must be odd"),
        ({"in_channels": 0}, "^in_channels=0 must be at least 1"),
    ],
)
def test_cell_rejects_bad_sizes(kwargs, message):
    args = {"in_channels": 1, "hidden_channels": 4, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        SpatioTemporalLSTMCell(**args)
