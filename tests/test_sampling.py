"""Sampling schedules: the curves at known steps, mask semantics and determinism."""

import math

import pytest
import torch

from predrnn.errors import ConfigError
from predrnn.training import sampling as s


@pytest.mark.parametrize(
    "step, enc, dec",
    [(0, 0.5, 0.5), (25_000, 0.5, 0.5), (37_500, 1 - 0.5 * math.exp(-2.5), 0.25), (50_000, 1.0, 0.0)],
)
def test_reverse_official_formulas(step, enc, dec):
    rss = s.ReverseScheduledSampling(s1=25_000, s2=50_000, alpha=5000)
    got_enc, got_dec = rss.probabilities(step)
    assert got_enc == pytest.approx(enc)
    assert got_dec == pytest.approx(dec)


def test_classic_curves():
    # official PredRNN: 1 - 2e-5 i, reaching 0 at 50 000
    assert s.linear_decay(0) == 1.0
    assert s.linear_decay(25_000) == pytest.approx(0.5)
    assert s.linear_decay(37_500) == pytest.approx(0.25)
    assert s.linear_decay(50_000) == 0.0 and s.linear_decay(80_000) == 0.0
    assert s.linear_decay(100, start=0.9, slope=0.01, minimum=0.2) == pytest.approx(0.2)
    assert s.exponential_decay(0, 0.999) == 1.0
    assert s.exponential_decay(1000, 0.999) == pytest.approx(0.999**1000)
    assert s.inverse_sigmoid_decay(0, 2500) == pytest.approx(2500 / 2501)
    assert s.inverse_sigmoid_decay(int(2500 * math.log(2500)), 2500) == pytest.approx(0.5, abs=1e-3)
    assert s.inverse_sigmoid_decay(10**9, 2500) == 0.0  # no overflow
    assert s.LinearDecay().probabilities(25_000) == (1.0, pytest.approx(0.5))
    assert s.FreeRunning().probabilities(7) == (1.0, 0.0)
    assert s.TeacherForcing().probabilities(7) == (1.0, 1.0)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: s.ExponentialDecay(k=1.5), "^k=1.5 must be < 1.0: e.g. k=0.9999$"),
        (lambda: s.InverseSigmoidDecay(k=0.5), "^k=0.5 must be >= 1.0"),
        (lambda: s.LinearDecay(slope=-1), "^slope=-1.0 must be >= 0.0"),
        (lambda: s.LinearDecay(start=2), "^start=2.0 must be <= 1.0"),
        (lambda: s.ReverseScheduledSampling(s1=10, s2=5), "^s2=5 must be greater than s1=10"),
        (lambda: s.ReverseScheduledSampling(alpha=0), "^alpha=0.0 must be positive"),
        (lambda: s.LinearDecay(slope="fast"), "^slope='fast' must be a number"),
    ],
)
def test_parameter_errors(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_mask_layout_and_determinism():
    rss = s.ReverseScheduledSampling(s1=0, s2=10, alpha=1)
    dev = torch.device("cpu")
    m = rss.mask(100, 2000, 20, 10, dev)  # after s2: encoder all true, decoder all own outputs
    assert m.shape == (2000, 18)
    assert torch.all(m[:, :9] == 1) and torch.all(m[:, 9:] == 0)
    lin = s.LinearDecay(slope=1e-4, seed=3)
    a = lin.mask(5000, 4000, 20, 10, dev)  # decoder p = 0.5
    assert torch.all(a[:, :9] == 1)
    assert a[:, 9:].mean().item() == pytest.approx(0.5, abs=0.02)
    assert torch.equal(a, s.LinearDecay(slope=1e-4, seed=3).mask(5000, 4000, 20, 10, dev))  # per step
    assert not torch.equal(a, lin.mask(5001, 4000, 20, 10, dev))
    assert not torch.equal(a, s.LinearDecay(slope=1e-4, seed=4).mask(5000, 4000, 20, 10, dev))
    early = s.ReverseScheduledSampling().mask(0, 4000, 20, 10, dev)
    assert early[:, :9].mean().item() == pytest.approx(0.5, abs=0.02)  # RSS mixes the encoder too
