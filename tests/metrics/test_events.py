"""Event scores and the fractions skill score (predrnn.metrics.events, predrnn.metrics.fss):
hand-worked counts that always run, and pySTEPS' own functions where pySTEPS is installed."""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import numpy as np
import pytest
import torch

from predrnn.errors import BadValue
from predrnn.metrics.events import EventScores, threshold_name
from predrnn.metrics.fss import FractionsSkillScore

SCORES = ("csi", "pod", "far", "bias", "hss", "ets")
PYSTEPS_KEY = {"csi": "CSI", "pod": "POD", "far": "FAR", "bias": "BIAS", "hss": "HSS", "ets": "GSS"}


def pysteps_verification():
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from pysteps.verification import detcatscores, spatialscores
    except ImportError:
        pytest.skip("pySTEPS is not installed (pip install predrnn[nowcast]): only the hand-worked cases ran")
    return detcatscores, spatialscores


def field(rows) -> torch.Tensor:
    """A single frame (1, 1, 1, H, W) from a nested list."""
    return torch.tensor(rows, dtype=torch.float32)[None, None, None]


def event_scores(pred, true, thresholds=(1,), batches=1) -> dict:
    metric = EventScores(pred.shape[1], thresholds=list(thresholds))
    for p, t in zip(pred.chunk(batches), true.chunk(batches)):
        metric.update(p, t)
    return metric.compute()


def overall(result: dict, name: str) -> float:
    return float(result[name][1])


def random_fields(seed: int, shape=(3, 4, 2, 13, 17), scale=60.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    true = torch.rand(shape, generator=g) * scale
    pred = (true + 15 * torch.randn(shape, generator=g)).clamp(min=0)
    return pred, true


# --- event scores: hand-worked cases -------------------------------------------------------


def test_hand_worked_contingency_table():
    # threshold 1: H = 2, F = 2, M = 0, R = 2 (N = 6)
    pred = field([[5, 5, 5], [0, 5, 0]])
    true = field([[5, 5, 0], [0, 0, 0]])
    metric = EventScores(1, thresholds=[1])
    metric.update(pred, true)
    counts = [float(getattr(metric, s)[0, 0]) for s in ("hits", "misses", "false_alarms", "correct_negatives")]
    assert counts == [2, 0, 2, 2]
    result = metric.compute()
    # HSS = 2(HR − FM) / ((H+M)(M+R) + (H+F)(F+R)) = 8/20; ETS: chance hits 2·4/6, (2 − 4/3)/(4 − 4/3)
    expected = {"pod": 1.0, "far": 0.5, "csi": 0.5, "bias": 2.0, "hss": 0.4, "ets": 0.25}
    for score, value in expected.items():
        assert overall(result, f"{score}_1") == pytest.approx(value, abs=1e-12)
        # (torchmetrics squeezes one-element results: K = 1 gives a 0-d per-frame tensor)
        assert float(result[f"{score}_1"][0]) == pytest.approx(value, abs=1e-12)


def test_a_value_equal_to_the_threshold_is_no_event():
    # det_cat_fct counts value > threshold
    metric = EventScores(1, thresholds=[1])
    metric.update(field([[1.0, 2.0]]), field([[1.0, 2.0]]))
    assert float(metric.hits[0, 0]) == 1 and float(metric.correct_negatives[0, 0]) == 1


EDGE_CASES = {
    # no event in the truth, false alarms: POD 0/0, ETS through POD → NaN; FAR 1, CSI 0, BIAS F/0 = inf, HSS 0
    "no_truth_events": (
        [[5, 0], [0, 0]],
        [[0, 0], [0, 0]],
        {"pod": math.nan, "far": 1.0, "csi": 0.0, "bias": math.inf, "hss": 0.0, "ets": math.nan},
    ),
    # no event anywhere: every ratio is 0/0
    "no_events_at_all": (
        [[0, 0], [0, 0]],
        [[0, 0], [0, 0]],
        {"pod": math.nan, "far": math.nan, "csi": math.nan, "bias": math.nan, "hss": math.nan, "ets": math.nan},
    ),
    # no event predicted, some observed: FAR 0/0 → NaN; POD, CSI, BIAS, HSS, ETS 0
    "no_predicted_events": (
        [[0, 0], [0, 0]],
        [[5, 0], [0, 0]],
        {"pod": 0.0, "far": math.nan, "csi": 0.0, "bias": 0.0, "hss": 0.0, "ets": 0.0},
    ),
    # every pixel an event in both: POD, CSI, BIAS 1, FAR 0; HSS 0/0 and ETS (1 − s = 0) → NaN
    "all_events": (
        [[5, 5], [5, 5]],
        [[5, 5], [5, 5]],
        {"pod": 1.0, "far": 0.0, "csi": 1.0, "bias": 1.0, "hss": math.nan, "ets": math.nan},
    ),
    # a perfect forecast with events and non-events
    "perfect": (
        [[5, 0], [0, 5]],
        [[5, 0], [0, 5]],
        {"pod": 1.0, "far": 0.0, "csi": 1.0, "bias": 1.0, "hss": 1.0, "ets": 1.0},
    ),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_edge_cases(case):
    pred, true, expected = EDGE_CASES[case]
    result = event_scores(field(pred), field(true))
    for score, value in expected.items():
        got = overall(result, f"{score}_1")
        assert got == pytest.approx(value, abs=1e-12, nan_ok=True), score


def test_overall_scores_pool_the_counts_of_all_lead_times():
    # frame 0: H=1, M=0, F=0; frame 1: H=0, M=1, F=2 → per frame CSI 1 and 0, pooled 1/4 (not 1/2)
    pred = torch.stack([field([[5, 0, 0]]), field([[0, 5, 5]])], dim=1)[:, :, 0]
    true = torch.stack([field([[5, 0, 0]]), field([[5, 0, 0]])], dim=1)[:, :, 0]
    result = event_scores(pred, true)
    np.testing.assert_allclose(result["csi_1"][0].numpy(), [1.0, 0.0])
    assert overall(result, "csi_1") == pytest.approx(0.25)


def test_nan_pixels_are_left_out():
    pred, true = random_fields(0, (2, 3, 1, 6, 6))
    spoilt_pred, spoilt_true = pred.clone(), true.clone()
    spoilt_pred[0, 1, 0, 2, 3] = math.nan
    spoilt_true[1, 2, 0, 0, 0] = math.nan
    spoilt = EventScores(3, thresholds=[20])
    spoilt.update(spoilt_pred, spoilt_true)
    clean = EventScores(3, thresholds=[20])
    clean.update(pred, true)
    total = sum(getattr(spoilt, s) for s in ("hits", "misses", "false_alarms", "correct_negatives"))
    np.testing.assert_array_equal(total[0].numpy(), [72, 71, 71])
    changed = [getattr(clean, s) - getattr(spoilt, s) for s in ("hits", "misses", "false_alarms", "correct_negatives")]
    assert all((c >= 0).all() for c in changed) and float(sum(c.sum() for c in changed)) == 2


def test_event_names_follow_the_config_literal():
    metric = EventScores(2, thresholds=[74, 0.5, 20.0, 0.001])
    assert metric.names == ["74", "0.5", "20", "0.001"]
    pred, true = random_fields(1, (1, 2, 1, 4, 4))
    metric.update(pred, true)
    result = metric.compute()
    assert set(result) == {f"{s}_{t}" for s in SCORES for t in ("74", "0.5", "20", "0.001")}
    per_frame, whole = result["csi_74"]
    assert per_frame.shape == (2,) and whole.shape == ()
    assert threshold_name(1e-5) == "1e-05" and threshold_name(3) == "3"


@pytest.mark.parametrize(
    "thresholds", ["20", [], [20, 20.0], [True], ["a"]], ids=["string", "empty", "repeat", "bool", "text"]
)
def test_bad_thresholds_are_refused(thresholds):
    with pytest.raises(BadValue, match="thresholds"):
        EventScores(3, thresholds=thresholds)
    with pytest.raises(BadValue, match="thresholds"):
        FractionsSkillScore(3, thresholds=thresholds)


@pytest.mark.parametrize("scales", [[0], [4, 4], [2.5], 4])
def test_bad_scales_are_refused(scales):
    with pytest.raises(BadValue, match="scales"):
        FractionsSkillScore(3, thresholds=[20], scales=scales)


def test_event_scores_several_updates_equal_one_batch():
    pred, true = random_fields(2)
    many = event_scores(pred, true, thresholds=[10, 35.5], batches=3)
    one = event_scores(pred, true, thresholds=[10, 35.5])
    for name in one:
        for a, b in zip(many[name], one[name]):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


# --- event scores: pySTEPS -----------------------------------------------------------------


@pytest.mark.parametrize("threshold", [20, 45.5, 0.1])
def test_event_scores_equal_pysteps_det_cat_fct(threshold):
    detcatscores, _ = pysteps_verification()
    pred, true = random_fields(3)
    pred[0, 0, 0, 0, :3] = torch.tensor([threshold, 0.1, 45.5])  # values on the thresholds, in float32
    result = event_scores(pred, true, thresholds=[threshold])
    name = threshold_name(threshold)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = detcatscores.det_cat_fct(pred.numpy(), true.numpy(), threshold)
        frames = [detcatscores.det_cat_fct(pred[:, k].numpy(), true[:, k].numpy(), threshold) for k in range(4)]
    for score in SCORES:
        np.testing.assert_allclose(overall(result, f"{score}_{name}"), whole[PYSTEPS_KEY[score]], rtol=1e-12)
        np.testing.assert_allclose(
            result[f"{score}_{name}"][0].numpy(), [f[PYSTEPS_KEY[score]] for f in frames], rtol=1e-12
        )


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_edge_cases_equal_pysteps(case):
    detcatscores, _ = pysteps_verification()
    pred, true, _ = EDGE_CASES[case]
    result = event_scores(field(pred), field(true))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = detcatscores.det_cat_fct(np.array(pred, float), np.array(true, float), 1)
    for score in SCORES:
        np.testing.assert_array_equal(overall(result, f"{score}_1"), reference[PYSTEPS_KEY[score]], err_msg=score)


# --- fractions skill score -----------------------------------------------------------------


def fss_scores(pred, true, thresholds=(1,), scales=(1,), batches=1) -> dict:
    metric = FractionsSkillScore(pred.shape[1], thresholds=list(thresholds), scales=list(scales))
    for p, t in zip(pred.chunk(batches), true.chunk(batches)):
        metric.update(p, t)
    return metric.compute()


def test_fss_hand_worked_window_placement():
    # one row, forecast event at column 0, observed at column 1. Width 1: no overlap, FSS 0.
    # Width 2 (window rows i−1..i, columns j−1..j, zeros outside): P = 1/4 at columns 0, 1 and
    # O = 1/4 at columns 1, 2 → Σ(P−O)² = 2/16, ΣP² + ΣO² = 4/16, FSS = 1/2
    pred, true = field([[5, 0, 0, 0]]), field([[0, 5, 0, 0]])
    result = fss_scores(pred, true, scales=[1, 2, 3])
    assert overall(result, "fss_1_s1") == 0.0
    assert overall(result, "fss_1_s2") == pytest.approx(0.5, abs=1e-12)
    # width 3 (columns j−1..j+1): P = 1/9 at columns 0, 1; O = 1/9 at columns 0, 1, 2 → 1 − 1/5
    assert overall(result, "fss_1_s3") == pytest.approx(0.8, abs=1e-12)


def test_fss_edge_cases():
    nothing = field([[0, 0], [0, 0]])
    assert math.isnan(overall(fss_scores(nothing, nothing), "fss_1_s1"))  # 0/0: no event in either
    events = field([[0, 5], [0, 0]])
    assert overall(fss_scores(events, events, scales=[1, 4]), "fss_1_s4") == 1.0
    assert overall(fss_scores(nothing, events), "fss_1_s1") == 0.0  # none forecast
    # a value on the threshold is an event here (>=), as in pySTEPS' fss_accum
    assert overall(fss_scores(field([[1.0]]), field([[1.0]])), "fss_1_s1") == 1.0
    # non-finite values are no event
    assert math.isnan(overall(fss_scores(field([[math.nan]]), field([[math.inf]])), "fss_1_s1"))


def test_fss_names_and_pooling():
    pred, true = random_fields(4, (2, 3, 1, 9, 9))
    result = fss_scores(pred, true, thresholds=[20, 0.5], scales=[1, 4])
    assert list(result) == ["fss_20_s1", "fss_20_s4", "fss_0.5_s1", "fss_0.5_s4"]
    many = fss_scores(pred, true, thresholds=[20, 0.5], scales=[1, 4], batches=2)
    for name in result:
        for a, b in zip(many[name], result[name]):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-14)


def test_fss_equals_pysteps():
    _, spatialscores = pysteps_verification()
    pred, true = random_fields(5)
    thresholds, scales = [20, 45.5], [1, 2, 4, 7, 8, 30]
    result = fss_scores(pred, true, thresholds=thresholds, scales=scales)
    for threshold in thresholds:
        for width in scales:
            pooled = spatialscores.fss_init(threshold, width)
            per_frame = []
            for k in range(pred.shape[1]):
                frame = spatialscores.fss_init(threshold, width)
                for b in range(pred.shape[0]):
                    for c in range(pred.shape[2]):
                        for state in (frame, pooled):
                            spatialscores.fss_accum(state, pred[b, k, c].numpy(), true[b, k, c].numpy())
                per_frame.append(spatialscores.fss_compute(frame))
            values, whole = result[f"fss_{threshold_name(threshold)}_s{width}"]
            np.testing.assert_allclose(values.numpy(), per_frame, rtol=0, atol=1e-12)
            assert float(whole) == pytest.approx(spatialscores.fss_compute(pooled), abs=1e-12)
