"""Threshold selection on synthetic scores: it reaches the target when it can and declines when it cannot."""

import numpy as np
import pytest

from tasks.automation import calibration
from tasks.automation.calibration import clopper_pearson_lower, clopper_pearson_upper, select_threshold


def synthetic(n: int, rng: np.random.Generator, informative: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Confidences and whether each answer is right. Informative: most answers confident, as a trained model's
    are, and each right with probability equal to its confidence. Otherwise right 60 % of the time whatever
    the confidence."""
    if not informative:
        return rng.uniform(0.3, 1.0, n), rng.random(n) < 0.6
    scores = 1.0 - 0.7 * rng.uniform(0, 1, n) ** 2
    return scores, rng.random(n) < scores


@pytest.mark.parametrize("target", [0.85, 0.9, 0.95])
def test_threshold_reaches_the_target_on_fresh_items(target):
    hits = declined = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        cal_scores, cal_correct = synthetic(1000, rng)
        cand_scores, cand_correct = synthetic(4000, rng)
        cal = select_threshold(cal_scores, cal_correct, cand_scores, target=target, delta=0.05, seed=seed)
        if cal.declined:
            declined += 1
            continue
        answered = cand_scores >= cal.threshold
        assert answered.sum() == cal.answered
        assert cal.lower_bound >= target
        hits += cand_correct[answered].mean() >= target
    assert declined <= 3
    # Nominal confidence 95 %; the percentile bootstrap runs a little optimistic, so allow up to a fifth.
    assert hits + declined >= 24


def test_labelled_items_above_the_threshold_show_the_target_themselves(monkeypatch):
    """On a hundred labels the bootstrap alone can accept a threshold whose own labelled items do not show the
    target; the exact binomial floor holds it back to one where they do."""
    held_back = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        cal_scores, cal_correct = synthetic(100, rng)
        cand_scores, _ = synthetic(2000, rng)
        cal = select_threshold(cal_scores, cal_correct, cand_scores, target=0.9, delta=0.1, seed=seed)
        if not cal.declined:
            above = cal_scores >= cal.threshold
            assert clopper_pearson_lower(int(cal_correct[above].sum()), int(above.sum()), 0.1) >= 0.9
        with monkeypatch.context() as m:
            m.setattr(
                calibration, "labelled_floor", lambda scores, correct, thresholds, delta: np.ones(len(thresholds))
            )
            bootstrap_only = select_threshold(cal_scores, cal_correct, cand_scores, target=0.9, delta=0.1, seed=seed)
        held_back += bootstrap_only.answered > cal.answered
    assert held_back >= 3


def test_many_candidates_are_scanned_in_chunks_on_a_grid_of_thresholds(monkeypatch):
    """A job with more candidates than MAX_CUTS tries evenly spaced thresholds, a chunk of scores at a time, so
    its memory stays bounded: the threshold is never looser than the exact scan's and only slightly stricter."""
    rng = np.random.default_rng(4)
    cal_scores, cal_correct = synthetic(800, rng)
    cand_scores, _ = synthetic(3000, rng)
    previous = rng.uniform(0.9, 1.0, 700)  # answers the machine already gave on the job
    exact = select_threshold(cal_scores, cal_correct, cand_scores, target=0.9, answered_scores=previous, seed=1)
    monkeypatch.setattr(calibration, "MAX_CUTS", 100)
    monkeypatch.setattr(calibration, "CHUNK", 256)
    grid = select_threshold(cal_scores, cal_correct, cand_scores, target=0.9, answered_scores=previous, seed=1)
    assert not exact.declined and not grid.declined
    assert grid.threshold >= exact.threshold
    assert exact.answered - len(cand_scores) / 100 <= grid.answered <= exact.answered
    assert (cand_scores >= grid.threshold).sum() == grid.answered


def test_chunked_sums_match_the_whole_array(monkeypatch):
    rng = np.random.default_rng(5)
    maps = np.column_stack([rng.normal(0, 0.3, 6), rng.uniform(0.5, 1.5, 6)])
    z = np.sort(rng.normal(1, 2, 1000))[::-1]
    ranks = np.array([1, 7, 256, 257, 999, 1000])
    whole = calibration.mapped_cumulative(maps, z, ranks)
    monkeypatch.setattr(calibration, "CHUNK", 64)
    chunked = calibration.mapped_cumulative(maps, z, ranks)
    p = 0.5 * (1 + np.tanh(0.5 * (maps[:, :1] + maps[:, 1:] * z[None, :])))
    np.testing.assert_allclose(chunked[0], np.cumsum(p, axis=1)[:, ranks - 1])
    np.testing.assert_allclose(chunked[1], np.cumsum(p * (1 - p), axis=1)[:, ranks - 1])
    np.testing.assert_allclose(chunked[0], whole[0])


def test_declines_when_confidence_says_nothing():
    rng = np.random.default_rng(1)
    cal_scores, cal_correct = synthetic(500, rng, informative=False)
    cand_scores, _ = synthetic(2000, rng, informative=False)
    cal = select_threshold(cal_scores, cal_correct, cand_scores, target=0.95)
    assert cal.declined
    assert cal.threshold is None and cal.answered == 0
    assert "no confidence threshold reaches 95%" in cal.reason


def test_declines_with_too_few_labels():
    rng = np.random.default_rng(2)
    cal_scores, cal_correct = synthetic(10, rng)
    cal = select_threshold(cal_scores, cal_correct, rng.uniform(size=100), target=0.9)
    assert cal.declined and "at least 30" in cal.reason


def test_a_perfect_model_answers_everything():
    rng = np.random.default_rng(3)
    scores = rng.uniform(0.9, 1.0, 300)
    cal = select_threshold(scores, np.ones(300, bool), rng.uniform(0.9, 1.0, 1000), target=0.95)
    assert cal.answered == 1000


def test_clopper_pearson_bounds():
    assert clopper_pearson_lower(59, 59, 0.05) == pytest.approx(0.05 ** (1 / 59))
    assert clopper_pearson_lower(0, 10, 0.05) == 0.0
    assert clopper_pearson_upper(10, 10, 0.05) == 1.0
    low, high = clopper_pearson_lower(90, 100, 0.05), clopper_pearson_upper(90, 100, 0.05)
    assert low < 0.9 < high
