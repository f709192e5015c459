"""Adaptive redundancy, gold rate and trust score, numeric and free-text methods: pure functions, no database."""

import math

import numpy as np
import pytest

from tasks.aggregation import Answers
from tasks.aggregation.adaptive import item_confidences, needs_more_answers
from tasks.aggregation.gold import (
    accuracy_interval,
    accuracy_surely_below,
    enough_evidence,
    gold_rate,
    interval_text,
    trust_score,
)
from tasks.aggregation.numeric import NUMERIC_METHODS, median, trimmed_mean
from tasks.aggregation.offline import replay
from tasks.aggregation.text import normalise_text, text_vote


class TestNeedsMoreAnswers:
    def test_below_the_minimum_always_asks(self):
        assert needs_more_answers([0.999], 2, min_answers=3, max_answers=7, target=0.9)

    def test_stops_once_every_item_reaches_the_target(self):
        assert not needs_more_answers([0.95, 0.97], 3, min_answers=3, max_answers=7, target=0.95)

    def test_asks_while_one_item_is_below_the_target(self):
        assert needs_more_answers([0.99, 0.6], 4, min_answers=3, max_answers=7, target=0.95)

    def test_an_item_without_a_result_is_below_the_target(self):
        assert needs_more_answers([0.99, math.nan], 3, 3, 7, 0.95)
        assert needs_more_answers([None], 3, 3, 7, 0.95)

    def test_stops_at_the_maximum_even_below_the_target(self):
        assert not needs_more_answers([0.4], 7, min_answers=3, max_answers=7, target=0.95)

    def test_without_a_maximum_it_stops_at_the_minimum(self):
        assert not needs_more_answers([0.4], 3, min_answers=3, max_answers=None, target=0.95)


def agreeing_crowd(n_items: int = 40, available: int = 12) -> tuple[Answers, np.ndarray]:
    """Every answer is right: each item is as confident as it will get after a few answers."""
    rows = [(i, (w + i) % 15, i % 2) for i in range(n_items) for w in range(available)]
    items, workers, labels = zip(*rows, strict=True)
    return Answers.from_codes(items, workers, labels, n_labels=2), np.arange(n_items) % 2


def test_adaptive_replay_stops_at_the_target():
    answers, truth = agreeing_crowd()
    outcome = replay(answers, truth, policy="adaptive", target=0.9, min_answers=3, max_answers=8, seed=1)
    assert outcome.answers_used == 40 * 3 and outcome.accuracy == 1.0
    assert (item_confidences(answers) >= 0.9).all()


def split_crowd(n_items: int = 40, seed: int = 0) -> tuple[Answers, np.ndarray]:
    """Each item's 12 answers split 6/6 among workers drawn at random: no answer is worth more than another."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_items):
        for w, label in zip(rng.choice(60, 12, replace=False), rng.permutation([0, 1] * 6), strict=True):
            rows.append((i, int(w), int(label)))
    items, workers, labels = zip(*rows, strict=True)
    return Answers.from_codes(items, workers, labels, n_labels=2), np.zeros(n_items, dtype=int)


def test_adaptive_replay_stops_at_the_maximum_when_items_stay_uncertain():
    answers, truth = split_crowd()
    outcome = replay(answers, truth, policy="adaptive", target=0.999, min_answers=3, max_answers=8, seed=1)
    assert outcome.answers_used == 40 * 8


def test_adaptive_replay_stops_when_an_item_runs_out_of_answers():
    answers, truth = agreeing_crowd(available=5)
    outcome = replay(answers, truth, policy="adaptive", target=1.0, min_answers=3, max_answers=None, seed=1)
    assert outcome.answers_used == 40 * 5 and outcome.share == 1.0


def test_replay_fixed_takes_exactly_k_per_item():
    answers, truth = agreeing_crowd()
    outcome = replay(answers, truth, policy="fixed", fixed_k=5, seed=3)
    assert outcome.answers_used == 40 * 5 and outcome.mean_answers == 5
    assert outcome.gold_items == 40


class TestGoldRate:
    def test_a_new_worker_gets_a_high_rate(self):
        assert gold_rate(0, 0) == pytest.approx(0.3, abs=0.03)

    def test_the_rate_decays_toward_the_floor_for_a_proven_worker(self):
        rates = [gold_rate(n, n) for n in (0, 5, 10, 20, 50)]
        assert rates == sorted(rates, reverse=True)
        assert rates[-1] == pytest.approx(0.02, abs=0.005)

    def test_an_inaccurate_worker_keeps_a_high_rate(self):
        assert gold_rate(50, 30) > 0.29

    def test_bad_counts_are_refused(self):
        with pytest.raises(ValueError):
            gold_rate(3, 4)


class TestTrustScore:
    def test_grows_with_evidence_of_accuracy(self):
        assert trust_score(0, 0) < trust_score(10, 10) < trust_score(100, 100) < 1

    def test_low_for_an_inaccurate_worker(self):
        assert trust_score(100, 40) < 0.5

    def test_agreement_counts_less_than_gold(self):
        assert trust_score(0, 0, 20, 20) < trust_score(20, 20)


class TestNumeric:
    items = np.array([0, 0, 0, 1, 1, 1, 1, 1, 2])
    values = np.array([1.0, 2.0, 100.0, 5, 6, 7, 8, 1000, 4.0])

    def test_median(self):
        result = median(self.items, self.values, 4)
        assert result.values[:3].tolist() == [2.0, 7.0, 4.0] and math.isnan(result.values[3])

    def test_trimmed_mean_ignores_a_wild_answer(self):
        result = trimmed_mean(self.items, self.values, 3)
        assert result.values.tolist() == [2.0, 7.0, 4.0]

    def test_confidence_is_the_share_of_answers_near_the_result(self):
        result = NUMERIC_METHODS["auto"](np.array([0, 0, 0, 0]), np.array([10.0, 10.0, 10.0, 50.0]), 1)
        assert result.confidence[0] == pytest.approx(0.75)


class TestText:
    def test_normalisation(self):
        assert normalise_text("  PARIS. ") == normalise_text("paris") == "paris"
        assert normalise_text("...") == "..."

    def test_vote_over_normalised_text_returns_a_typed_spelling(self):
        result = text_vote(np.array([0, 0, 0, 1]), np.array([0, 1, 2, 0]), ["Paris", "paris ", "Rome", "x"], 3)
        assert result.values[0] in ("Paris", "paris") and result.values[2] is None
        assert result.agreement[0] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "right,total,shown",
    [
        (0, 1, "0-79 %"),
        (1, 1, "21-100 %"),
        (0, 12, "0-24 %"),
        (2, 10, "6-51 %"),
        (9, 11, "52-95 %"),
        (40, 50, "67-89 %"),
    ],
)
def test_the_accuracy_interval_is_wilsons_and_wide_for_few_answers(right, total, shown):
    low, high = accuracy_interval(right, total)
    assert 0 <= low <= right / total <= high <= 1
    assert interval_text(low, high) == shown


def test_the_accuracy_interval_narrows_with_answers_and_knows_nothing_without_them():
    assert accuracy_interval(0, 0) == (0.0, 1.0)
    widths = [high - low for low, high in (accuracy_interval(n * 4 // 5, n) for n in (5, 20, 100, 1000))]
    assert widths == sorted(widths, reverse=True) and widths[-1] < 0.06
    with pytest.raises(ValueError):
        accuracy_interval(3, 2)


def test_an_accuracy_is_surely_below_a_threshold_only_when_its_whole_interval_is():
    assert not accuracy_surely_below(0, 1, 0.7)  # one unlucky answer
    assert not accuracy_surely_below(1, 2, 0.7)  # a two-person split
    assert not accuracy_surely_below(0, 0, 0.7)
    assert accuracy_surely_below(0, 2, 0.7) and accuracy_surely_below(0, 12, 0.7) and accuracy_surely_below(2, 10, 0.7)
    assert not accuracy_surely_below(60, 100, 0.65)  # below on its face, not on the evidence


def test_an_accuracy_needs_five_answers_to_be_shown_as_a_figure():
    assert not enough_evidence(4) and enough_evidence(5)
