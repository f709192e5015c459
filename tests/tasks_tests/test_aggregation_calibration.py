"""Expected calibration error: pure functions, no database."""

import math

import numpy as np
import pytest

from tasks.aggregation.calibration import expected_calibration_error, reliability_bins


def test_results_right_as_often_as_stated_are_calibrated():
    # 10 results at 0.8, 8 right; 10 at 0.35 (one bin), 3.5 right on average.
    confidence = [0.8] * 10 + [0.31, 0.39] * 5
    correct = [1] * 8 + [0] * 2 + [1, 0] * 3 + [0.5, 0, 0, 0]
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.0)


def test_over_confident_results_score_their_gap_weighted_by_share():
    # Half the results stated at 0.95 and 70 % right, half at 0.55 and 50 % right.
    confidence = [0.95] * 10 + [0.55] * 10
    correct = [1] * 7 + [0] * 3 + [1] * 5 + [0] * 5
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.5 * 0.25 + 0.5 * 0.05)


def test_bins_are_equal_width_and_the_last_one_includes_certainty():
    table = reliability_bins([0.0, 0.0999, 0.1, 0.95, 1.0], [1, 1, 0, 1, 0])
    assert table.counts.tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert table.accuracy[9] == pytest.approx(0.5)
    assert math.isnan(table.accuracy[5])
    # One bin: the gap is taken between the bin's means (0.975 stated, half right), not result by result.
    assert expected_calibration_error([0.95, 1.0], [1, 0]) == pytest.approx(abs(0.975 - 0.5))


def test_items_without_answers_are_left_out():
    assert expected_calibration_error([np.nan, 0.9, 0.9], [0, 1, 1]) == pytest.approx(0.1)
    assert math.isnan(expected_calibration_error([np.nan], [1]))
    assert math.isnan(expected_calibration_error([], []))


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError):
        expected_calibration_error([0.5, 0.5], [1])


# --- calibrated confidence ------------------------------------------------------------------------------------------
from tasks.aggregation import METHODS, Answers  # noqa: E402
from tasks.aggregation.calibration import (  # noqa: E402
    CONSENSUS_ERROR_PRIOR,
    aggregate_with_gold,
    consensus_error_from_gold,
    reachable_target,
    shrink,
)


def simulated_crowd(n_items=600, answers_per_item=5, n_workers=40, accuracy=0.75, seed=3, hard_share=0.0):
    """Binary items; each worker right with ``accuracy`` independently, except on ``hard_share`` of the items,
    where the whole crowd leans to the wrong label (as on ambiguous items). Returns (answers, truth)."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n_items)
    hard = rng.random(n_items) < hard_share
    items, workers, labels = [], [], []
    for item in range(n_items):
        right_rate = 1 - accuracy if hard[item] else accuracy
        for worker in rng.choice(n_workers, answers_per_item, replace=False):
            right = rng.random() < right_rate
            items.append(item)
            workers.append(int(worker))
            labels.append(int(truth[item] if right else 1 - truth[item]))
    return Answers.from_codes(items, workers, labels, n_items=n_items, n_labels=2), truth


@pytest.mark.parametrize("method", sorted(METHODS))
def test_two_workers_who_disagree_leave_the_result_a_toss_up(method):
    answers, _ = simulated_crowd(answers_per_item=2)
    result = METHODS[method](answers)
    split = answers.counts().max(axis=1) == 1
    assert split.sum() > 50
    # Two typical workers who disagree say little either way: nowhere near the 0.74-0.85 an EM model states.
    assert np.mean(result.confidence[split]) < 0.65


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("seed", [3, 4])
def test_no_method_states_more_than_it_reaches_with_three_answers_an_item(method, seed):
    answers, truth = simulated_crowd(answers_per_item=3, hard_share=0.06, seed=seed)
    result = METHODS[method](answers)
    right = result.labels == truth
    # Over-confidence is what misleads; the EM methods with a model per worker err, if at all, the other way
    # where each worker answers few items (docs/AGGREGATION.md).
    assert np.mean(result.confidence) - np.mean(right) < 0.03
    if method in ("auto", "mv", "hds"):
        assert expected_calibration_error(result.confidence, right) < 0.08


def test_a_unanimous_result_is_not_certain_without_gold():
    answers, _ = simulated_crowd(answers_per_item=7, accuracy=0.9)
    result = METHODS["auto"](answers)
    assert np.nanmax(result.confidence) <= 1 - CONSENSUS_ERROR_PRIOR + 1e-9
    assert np.nanmax(result.consensus) > 0.99
    assert result.chosen in ("hds", "ods", "cds") and set(result.evidence) == {"hds", "ods", "cds"}
    assert result.evidence[result.chosen] == max(result.evidence.values())


def test_gold_measures_how_often_the_crowd_itself_is_wrong():
    # A fifth of the items mislead the whole crowd: no answer pattern shows it, the gold items do.
    answers, truth = simulated_crowd(n_items=800, answers_per_item=5, accuracy=0.85, hard_share=0.2, seed=5)
    without_gold = METHODS["auto"](answers)
    gold = np.full(answers.n_items, -1)
    gold[:300] = truth[:300]
    with_gold = aggregate_with_gold(METHODS["auto"], answers, gold)
    assert 0.12 < with_gold.consensus_error < 0.28
    scored = np.arange(300, answers.n_items)
    right = with_gold.labels[scored] == truth[scored]
    assert expected_calibration_error(with_gold.confidence[scored], right) < 0.05
    assert expected_calibration_error(without_gold.confidence[scored], right) > 0.1


def test_the_consensus_error_is_the_prior_without_gold_and_follows_gold_as_it_grows():
    assert consensus_error_from_gold(np.array([]), 2) == CONSENSUS_ERROR_PRIOR
    sure = np.r_[np.full(160, 0.999), np.full(40, 0.001)]  # the crowd sure of all 200, wrong on 40
    assert consensus_error_from_gold(sure, 2) == pytest.approx(0.2, abs=0.03)
    few = np.r_[np.full(4, 0.999), np.full(1, 0.001)]  # 1 wrong of 5: pulled toward the prior
    assert CONSENSUS_ERROR_PRIOR < consensus_error_from_gold(few, 2) < 0.2


def test_the_reachable_target_is_the_target_seen_through_the_consensus_error():
    assert reachable_target(0.965, 0.0, 2) == pytest.approx(0.965)
    assert reachable_target(0.965, 0.1, 2) == pytest.approx(0.965 * 0.9 + 0.035 * 0.1)
    consensus = np.array([[0.965, 0.035]])
    assert shrink(consensus, 0.1)[0, 0] == pytest.approx(reachable_target(0.965, 0.1, 2))


def test_auto_keeps_to_the_crowd_where_workers_answer_a_handful_of_items_each():
    # 3,000 workers giving 2 answers each: a model per worker is mostly noise; auto's held-out evidence says so.
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 2, 2000)
    items = np.repeat(np.arange(2000), 3)
    workers = rng.permutation(np.arange(6000) // 2)
    right = rng.random(6000) < 0.75
    labels = np.where(right, truth[items], 1 - truth[items])
    answers = Answers.from_codes(items, workers, labels, n_labels=2)
    result = METHODS["auto"](answers)
    majority = METHODS["mv"](answers)
    assert result.chosen == "cds"
    assert np.mean(result.labels == truth) >= np.mean(majority.labels == truth) - 0.01
