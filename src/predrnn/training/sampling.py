"""Scheduled sampling (Bengio et al., 2015) and reverse scheduled sampling (PredRNN-V2).

The decay curves are pure functions of the training step (docs/method.md, "Scheduled sampling"), so a resumed
run continues exactly. The module holds the schedule (`module.sampling`) and asks it in each
training step for the `teacher_mask` (B, T-2), drawn on the batch's device from a generator
seeded by (seed, step).

Every decaying curve can also be fitted to the run: `end` (a fraction of `trainer.max_steps`)
sets its absolute parameters when training starts, so the curve stays a pure function of the
step and of the run's length (docs/method.md, "Schedules fitted to the run").
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from predrnn import checks
from predrnn.errors import BadValue


def linear_decay(step: int, start: float = 1.0, slope: float = 2e-5, minimum: float = 0.0) -> float:
    """ε_i = max(ε_min, k − c·i); the official PredRNN uses 1 − 2e-5·i (0 from i = 50 000)."""
    return max(minimum, start - slope * step)


def exponential_decay(step: int, k: float = 0.9999) -> float:
    """ε_i = k^i, k < 1."""
    return k**step


def inverse_sigmoid_decay(step: int, k: float = 2500.0) -> float:
    """ε_i = k / (k + exp(i / k)), k ≥ 1."""
    z = step / k
    return 0.0 if z > 700 else k / (k + math.exp(z))


def reverse_encoder_probability(step: int, s1: int = 25_000, s2: int = 50_000, alpha: float = 5000.0) -> float:
    """Encoder (t = 1..J-1) true-frame probability: 0.5, rising as 1 − 0.5·exp(−(i − s1)/α), then 1."""
    if step < s1:
        return 0.5
    if step < s2:
        return 1.0 - 0.5 * math.exp(-(step - s1) / alpha)
    return 1.0


def reverse_decoder_probability(step: int, s1: int = 25_000, s2: int = 50_000) -> float:
    """Decoder (t = J..T-2) true-frame probability: 0.5, falling linearly to 0 at s2."""
    if step < s1:
        return 0.5
    if step < s2:
        return 0.5 - 0.5 * (step - s1) / (s2 - s1)
    return 0.0


def build_teacher_mask(
    batch: int,
    total_length: int,
    input_length: int,
    encoder_p: float,
    decoder_p: float,
    generator: torch.Generator,
    device: torch.device,
) -> Tensor:
    """(B, T-2) float 0/1: one Bernoulli draw per sequence and step t = 1..T-2; columns
    0..J-2 are encoder steps, J-1..T-3 decoder steps."""
    probs = torch.full((total_length - 2,), decoder_p, device=device)
    probs[: input_length - 1] = encoder_p
    draws = torch.rand(batch, total_length - 2, generator=generator, device=device)
    return (draws < probs).float()


FINAL_EPSILON = 0.01  # where a curve that never reaches 0 counts as ended (`end`)


def inverse_sigmoid_k(end_step: int, final: float = FINAL_EPSILON) -> float:
    """The k ≥ 1 whose inverse sigmoid reaches `final` at `end_step` (ε(E) grows with k: bisection)."""
    low, high = 1.0, max(1.0, float(end_step))
    if inverse_sigmoid_decay(end_step, low) >= final:
        return low
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if inverse_sigmoid_decay(end_step, mid) < final else (low, mid)
    return low


class ScheduledSampling:
    """Base: `probabilities(step) -> (encoder_p, decoder_p)`, the chance of a true input, and
    `mask(step, …)`. Decaying curves take `end`: `fit_to_run(max_steps)` sets them to end at
    that fraction of the run."""

    def __init__(self, seed: int = 0, end: float | None = None) -> None:
        self.seed = checks.integer("seed", seed, 0)
        self.end = None if end is None else checks.number("end", end, 0.5, positive=True, maximum=1.0)
        self._generators: dict[torch.device, torch.Generator] = {}

    def probabilities(self, step: int) -> tuple[float, float]:
        raise NotImplementedError

    def fit_curve(self, end_step: int) -> str:
        """Set the curve's absolute parameters so that it ends at `end_step`; returns what it set."""
        raise NotImplementedError

    def fit_to_run(self, max_steps: int) -> str | None:
        """With `end`, fit the curve to a run of `max_steps` (> 0, checked with the config);
        returns what it set (None without `end`)."""
        if self.end is None:
            return None
        end_step = max(1, round(self.end * max_steps))
        return f"sampling: end={self.end} of {max_steps} steps -> {self.fit_curve(end_step)}"

    def mask(self, step: int, batch: int, total_length: int, input_length: int, device: torch.device) -> Tensor:
        """The mask for `step`: the same on every run and after a resume (seeded by step)."""
        gen = self._generators.get(device)
        if gen is None:
            gen = self._generators[device] = torch.Generator(device=device)
        gen.manual_seed(self.seed * 1_000_003 + step)
        enc, dec = self.probabilities(step)
        return build_teacher_mask(batch, total_length, input_length, enc, dec, gen, device)


class TeacherForcing(ScheduledSampling):
    """Always true inputs."""

    def probabilities(self, step: int) -> tuple[float, float]:
        return 1.0, 1.0


class FreeRunning(ScheduledSampling):
    """True inputs for the J observed frames, own outputs afterwards (as at test time)."""

    def probabilities(self, step: int) -> tuple[float, float]:
        return 1.0, 0.0


class LinearDecay(ScheduledSampling):
    """`end`: the slope that brings ε from `start` to `minimum` at that fraction of the run."""

    def __init__(
        self, start: float = 1.0, slope: float = 2e-5, minimum: float = 0.0, end: float | None = None, seed: int = 0
    ) -> None:
        super().__init__(seed, end)
        self.start = checks.number("start", start, 1.0, minimum=0.0, maximum=1.0)
        self.slope = checks.number("slope", slope, 2e-5, minimum=0.0)
        self.minimum = checks.number("minimum", minimum, 0.0, minimum=0.0, maximum=1.0)

    def probabilities(self, step: int) -> tuple[float, float]:
        return 1.0, linear_decay(step, self.start, self.slope, self.minimum)

    def fit_curve(self, end_step: int) -> str:
        self.slope = max(0.0, self.start - self.minimum) / end_step
        return f"slope {self.slope:.3g} (ε = {self.minimum:g} from step {end_step})"


class ExponentialDecay(ScheduledSampling):
    """`end`: the k for which ε is down to 1 % at that fraction of the run."""

    def __init__(self, k: float = 0.9999, end: float | None = None, seed: int = 0) -> None:
        super().__init__(seed, end)
        self.k = checks.number("k", k, 0.9999, positive=True, below=1.0)

    def probabilities(self, step: int) -> tuple[float, float]:
        return 1.0, exponential_decay(step, self.k)

    def fit_curve(self, end_step: int) -> str:
        self.k = FINAL_EPSILON ** (1.0 / end_step)
        return f"k {self.k:.6g} (ε = {FINAL_EPSILON:g} at step {end_step})"


class InverseSigmoidDecay(ScheduledSampling):
    """`end`: the k for which ε is down to 1 % at that fraction of the run."""

    def __init__(self, k: float = 2500.0, end: float | None = None, seed: int = 0) -> None:
        super().__init__(seed, end)
        self.k = checks.number("k", k, 2500, minimum=1.0)

    def probabilities(self, step: int) -> tuple[float, float]:
        return 1.0, inverse_sigmoid_decay(step, self.k)

    def fit_curve(self, end_step: int) -> str:
        self.k = inverse_sigmoid_k(end_step)
        return f"k {self.k:.6g} (ε = {inverse_sigmoid_decay(end_step, self.k):.3g} at step {end_step})"


class ReverseScheduledSampling(ScheduledSampling):
    """PredRNN-V2: the encoder moves from mixed to true inputs while the decoder moves from
    mixed to own outputs (official defaults s1 = 25 000, s2 = 50 000, α = 5000). `end`: s2 at
    that fraction of the run, s1 and α in the official proportions (s2 / 2, s2 / 10)."""

    def __init__(
        self, s1: int = 25_000, s2: int = 50_000, alpha: float = 5000.0, end: float | None = None, seed: int = 0
    ) -> None:
        super().__init__(seed, end)
        self.s1 = checks.integer("s1", s1, 25_000, minimum=0)
        self.s2 = checks.integer("s2", s2, 50_000, minimum=0)
        if s2 <= s1:
            raise BadValue("s2", s2, f"must be greater than s1={s1}", s1 + 25_000)
        self.alpha = checks.number("alpha", alpha, 5000, positive=True)

    def probabilities(self, step: int) -> tuple[float, float]:
        return (
            reverse_encoder_probability(step, self.s1, self.s2, self.alpha),
            reverse_decoder_probability(step, self.s1, self.s2),
        )

    def fit_curve(self, end_step: int) -> str:
        self.s2 = max(2, end_step)
        self.s1, self.alpha = self.s2 // 2, self.s2 / 10
        return f"s1 {self.s1}, s2 {self.s2}, alpha {self.alpha:g}"
