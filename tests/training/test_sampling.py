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
        (lambda: s.LinearDecay(end=0), "^end=0.0 must be positive"),
        (lambda: s.ExponentialDecay(end=1.5), "^end=1.5 must be <= 1.0"),
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


@pytest.mark.parametrize("fraction", [0.25, 0.5, 1.0])
def test_curves_fitted_to_the_run_end_where_asked(fraction):
    """`end` as a fraction of the run: each curve reaches its end at that step, whatever its
    absolute parameters were, and stays a function of the step alone."""
    total = 4000
    end = round(fraction * total)
    linear = s.LinearDecay(start=0.9, minimum=0.1, end=fraction)
    linear.fit_curve(end)
    assert linear.probabilities(0)[1] == pytest.approx(0.9)
    assert linear.probabilities(end // 2)[1] == pytest.approx(0.5)
    assert linear.probabilities(end)[1] == pytest.approx(0.1) and linear.probabilities(total)[1] == 0.1
    exponential = s.ExponentialDecay(end=fraction)
    exponential.fit_curve(end)
    assert exponential.probabilities(end)[1] == pytest.approx(s.FINAL_EPSILON)
    sigmoid = s.InverseSigmoidDecay(end=fraction)
    sigmoid.fit_curve(end)
    assert sigmoid.probabilities(end)[1] == pytest.approx(s.FINAL_EPSILON, rel=1e-3)
    assert sigmoid.probabilities(0)[1] > 0.5
    reverse = s.ReverseScheduledSampling(end=fraction)
    reverse.fit_curve(end)
    assert reverse.probabilities(end // 2 - 1) == (0.5, 0.5) and reverse.probabilities(end) == (1.0, 0.0)
    again = s.LinearDecay(start=0.9, minimum=0.1, end=fraction)
    again.fit_curve(end)
    assert [again.probabilities(i) for i in range(0, total, 97)] == [
        linear.probabilities(i) for i in range(0, total, 97)
    ]


def test_learning_rate_warm_up_and_cosine_fitted_to_the_run():
    from predrnn.training.optim import Optim, warmup_cosine

    assert [warmup_cosine(i, total=100, warmup=10) for i in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])
    assert warmup_cosine(55, total=100, warmup=10) == pytest.approx(0.5)
    assert warmup_cosine(100, total=100, warmup=10) == pytest.approx(0.0)
    # without warm-up it is the cosine over the run (torch's CosineAnnealingLR)
    params = [torch.nn.Parameter(torch.zeros(2))]
    ours = Optim(lr=0.1, scheduler="cosine").schedule(torch.optim.SGD(params, lr=0.1), 50)
    theirs = torch.optim.lr_scheduler.CosineAnnealingLR(torch.optim.SGD(params, lr=0.1), T_max=50)
    for _ in range(50):
        ours.optimizer.step(), theirs.optimizer.step(), ours.step(), theirs.step()
        assert ours.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0], abs=1e-9)


def test_the_graphed_step_follows_the_schedule_through_a_learning_rate_tensor():
    """The CUDA-graph step captures the optimiser update once; it reads the learning rate from
    a tensor, which the schedule fills in place. Shown here with the optimiser wrapper the
    graphed step uses (the capture itself needs CUDA: tests/training/test_fastpath.py)."""
    from predrnn.training.fastpath import GraphedOptimizer
    from predrnn.training.optim import Optim, warmup_cosine

    params = [torch.nn.Parameter(torch.zeros(2))]
    lr = torch.tensor(0.01)  # what Optim.build(capturable=True) makes, on the GPU
    inner = torch.optim.Adam(params, lr=lr, foreach=False)
    wrapped = GraphedOptimizer(inner)
    schedule = Optim(lr=0.01, scheduler="cosine", warmup=0.2).schedule(wrapped, 20)
    for step in range(1, 20):
        wrapped.step(closure=lambda: None)
        schedule.step()
        assert inner.param_groups[0]["lr"] is lr  # the very tensor a captured graph would read
        assert float(lr) == pytest.approx(0.01 * warmup_cosine(step, total=20, warmup=4))
