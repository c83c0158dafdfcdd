"""Forecasters' event scores (docs/metrics.md, "Event scores"): for each threshold, the
contingency table of events (value > threshold) summed over the test set per lead time, and
POD, FAR, CSI, BIAS, HSS and ETS from it, with the formulas of pySTEPS'
`pysteps.verification.detcatscores.det_cat_fct`, per frame and for the whole forecast (from the
counts of all lead times together).

A score whose formula divides by zero is what pySTEPS gives: NaN for 0/0 (e.g. POD when the
truth has no event), +inf for x/0 with x > 0 (BIAS when only the prediction has events).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from predrnn import checks
from predrnn.errors import BadValue
from predrnn.metrics.api import check_future_frames

SCORES = ("csi", "pod", "far", "bias", "hss", "ets")


def threshold_name(value: float) -> str:
    """A threshold as it appears in metric names: an int, or a float with a whole value,
    without a decimal point (74, 74.0 → "74"); other floats as Python writes them
    (0.5 → "0.5", 0.001 → "0.001", 1e-05 → "1e-05")."""
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def check_list(key: str, values: Any, example: object, item) -> list:
    """A non-empty list of distinct values, each checked by `item(key, value)`."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise BadValue(key, values, "must be a list", example)
    checked = [item(key, v) for v in values]
    if not checked:
        raise BadValue(key, [], "must not be empty", example)
    if len(set(checked)) != len(checked):
        raise BadValue(key, list(values), "must not repeat a value", example)
    return checked


def check_thresholds(values: Any, example: object) -> tuple[list[float], list[str]]:
    """The thresholds as floats and their names (distinct values have distinct names)."""
    thresholds = check_list("thresholds", values, example, lambda k, v: checks.number(k, v, example))
    names = [threshold_name(v) for v in thresholds]
    return thresholds, names


def scores(hits: Tensor, misses: Tensor, false_alarms: Tensor, correct_negatives: Tensor) -> dict[str, Tensor]:
    """POD, FAR, CSI, BIAS, HSS and ETS from contingency counts (float64, any shape), as
    pySTEPS' `det_cat_fct_compute` writes them."""
    h, m, f, r = hits, misses, false_alarms, correct_negatives
    pod = h / (h + m)  # probability of detection
    false_alarm_rate = f / (f + r)  # probability of false detection
    base_rate = (h + m) / (h + m + f + r)  # how often the truth has the event
    return {
        "csi": h / (h + m + f),  # critical success index (threat score)
        "pod": pod,
        "far": f / (h + f),  # false alarm ratio
        "bias": (h + f) / (h + m),  # frequency bias
        # Heidke skill score: proportion correct relative to chance
        "hss": 2 * (h * r - f * m) / ((h + m) * (m + r) + (h + f) * (f + r)),
        # equitable threat score (Gilbert skill score), written through POD, F and the base rate
        "ets": (pod - false_alarm_rate)
        / ((1 - base_rate * pod) / (1 - base_rate) + false_alarm_rate * (1 - base_rate) / base_rate),
    }


class EventScores(Metric):
    """Contingency counts per threshold and lead time, and the scores from them.

    Arguments: `num_frames` (K), `thresholds` (in the data's units; an event is a value
    strictly above the threshold, as in pySTEPS' det_cat_fct). Pixels where the prediction or
    the target is NaN (no coverage) are left out of the counts (`masks_nan`): the table is that
    of the valid pixels. Channels count as separate fields.
    Names: `<score>_<threshold>` for score in csi, pod, far, bias, hss, ets (`threshold_name`)."""

    scale = "data"
    full_state_update = False
    masks_nan = True

    def __init__(self, num_frames: int, thresholds: Iterable[float] = (20, 30, 40)) -> None:
        super().__init__()
        self.num_frames = checks.integer("num_frames", num_frames, 10, minimum=1)
        self.thresholds, self.names = check_thresholds(thresholds, [20, 35])
        shape = (len(self.thresholds), num_frames)
        for state in ("hits", "misses", "false_alarms", "correct_negatives"):
            self.add_state(state, default=torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, predictions: Tensor, target: Tensor) -> None:
        """predictions, target: (B, K, C, H, W) future frames in the data's units."""
        check_future_frames(predictions, target, self.num_frames)
        predictions, target = predictions.detach(), target.detach()
        valid = ~(predictions.isnan() | target.isnan())
        frames = (0, 2, 3, 4)  # sum over all but the lead time
        for i, threshold in enumerate(self.thresholds):
            forecast = predictions > threshold
            observed = target > threshold
            self.hits[i] += (forecast & observed & valid).sum(frames).double()
            self.misses[i] += (~forecast & observed & valid).sum(frames).double()
            self.false_alarms[i] += (forecast & ~observed & valid).sum(frames).double()
            self.correct_negatives[i] += (~forecast & ~observed & valid).sum(frames).double()

    def compute(self) -> dict[str, tuple[Tensor, Tensor]]:
        counts = (self.hits, self.misses, self.false_alarms, self.correct_negatives)
        per_frame = scores(*counts)
        overall = scores(*(c.sum(1) for c in counts))
        return {
            f"{score}_{name}": (per_frame[score][i], overall[score][i])
            for score in SCORES
            for i, name in enumerate(self.names)
        }
