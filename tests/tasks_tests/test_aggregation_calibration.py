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
