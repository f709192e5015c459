"""One contract every categorical aggregation method passes (as Django tests every session backend with one mixin).

Pure functions over small synthetic crowds: no database.
"""

import numpy as np
import pytest

from tasks.aggregation import METHODS, NO_LABEL, Answers
from tasks.aggregation.categorical import invented_labels


@pytest.fixture(params=sorted(METHODS))
def method(request):
    return METHODS[request.param]


def crowd(rows: list[tuple[int, int, int]], **sizes) -> Answers:
    items, workers, labels = zip(*rows, strict=True)
    return Answers.from_codes(items, workers, labels, **sizes)


def spammer_crowd(seed: int = 7, n_items: int = 200, good: int = 3, spammers: int = 7, k: int = 3):
    """Every worker answers every item; good workers are right 90 % of the time, spammers answer at random."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_items)
    rows = []
    for w in range(good + spammers):
        for i in range(n_items):
            if w < good and rng.random() < 0.9:
                label = truth[i]
            else:
                label = rng.integers(0, k)
            rows.append((i, w, int(label)))
    return crowd(rows, n_labels=k), truth


class TestContract:
    def test_unanimous_answers_win_with_full_agreement(self, method):
        answers = crowd([(i, w, i % 2) for i in range(6) for w in range(3)])
        result = method(answers)
        assert result.labels.tolist() == [0, 1, 0, 1, 0, 1]
        assert (result.confidence > 0.5).all()
        assert np.allclose(result.agreement(answers), 1.0)
        assert np.allclose(result.posteriors.sum(axis=1), 1.0)

    def test_a_tie_picks_one_of_the_tied_labels_without_confidence(self, method):
        answers = crowd([(0, 0, 0), (0, 1, 1)], n_labels=3)
        result = method(answers)
        assert result.labels[0] in (0, 1)
        # Calibrated: at most an even chance between the two, and no less than a guess among the three labels.
        assert 1 / 3 - 1e-6 <= result.confidence[0] <= 0.5 + 1e-6
        assert result.agreement(answers)[0] == pytest.approx(0.5)

    def test_a_single_answer_is_the_result(self, method):
        answers = crowd([(0, 0, 2)], n_labels=3)
        result = method(answers)
        assert result.labels.tolist() == [2]
        assert 1 / 3 < result.confidence[0] <= 1.0

    def test_unseen_labels_and_unanswered_items(self, method):
        # Label 3 is an option nobody chose; item 2 has no answers yet.
        answers = crowd([(0, 0, 0), (0, 1, 0), (1, 0, 1), (1, 1, 1)], n_items=3, n_labels=4)
        result = method(answers)
        assert result.posteriors.shape == (3, 4)
        assert result.labels.tolist()[:2] == [0, 1]
        assert result.labels[2] == NO_LABEL
        assert np.isnan(result.confidence[2])
        assert np.isfinite(result.confidence[:2]).all()

    def test_no_answers_at_all_gives_no_results(self, method):
        result = method(Answers.from_codes([], [], [], n_items=2, n_workers=0, n_labels=2))
        assert result.labels.tolist() == [NO_LABEL, NO_LABEL] and np.isnan(result.confidence).all()

    def test_the_order_of_answers_does_not_matter(self, method):
        answers, _ = spammer_crowd(n_items=40)
        order = np.random.default_rng(1).permutation(len(answers))
        shuffled = Answers(
            answers.items[order], answers.workers[order], answers.labels[order], answers.n_items, answers.n_workers, 3
        )
        assert method(answers).labels.tolist() == method(shuffled).labels.tolist()

    def test_gold_items_keep_their_known_label(self, method):
        answers = crowd([(0, 0, 1), (0, 1, 1), (1, 0, 0), (1, 1, 1)], n_labels=2)
        gold = np.array([0, -1])
        result = method(answers, gold)
        assert result.labels[0] == 0
        assert result.confidence[0] == pytest.approx(1.0)

    def test_codes_out_of_range_are_refused(self, method):
        with pytest.raises(ValueError, match="labels codes"):
            Answers.from_codes([0], [0], [5], n_labels=3)


# ``cds`` weighs no worker on their own (one confusion matrix for the crowd), as ``mv``.
@pytest.mark.parametrize("name", sorted(set(METHODS) - {"mv", "cds"}))
def test_weighted_methods_beat_majority_vote_on_a_spammer_heavy_crowd(name):
    answers, truth = spammer_crowd()
    mv_accuracy = (METHODS["mv"](answers).labels == truth).mean()
    accuracy = (METHODS[name](answers).labels == truth).mean()
    assert accuracy > mv_accuracy + 0.05, (name, accuracy, mv_accuracy)


@pytest.mark.parametrize("name", sorted(set(METHODS) - {"mv", "cds"}))
def test_model_based_methods_estimate_worker_accuracy(name):
    answers, _ = spammer_crowd()
    accuracy = METHODS[name](answers).worker_accuracy
    assert accuracy is not None and accuracy.shape == (answers.n_workers,)
    assert accuracy[:3].min() > accuracy[3:].max()


def test_auto_falls_back_when_ds_invents_a_class():
    """Two labels carry the answers; a third, almost never given, must not absorb the contested items."""
    rng = np.random.default_rng(3)
    rows, truth = [], rng.integers(0, 2, 600)
    for i in range(600):
        for w in rng.choice(30, 5, replace=False):
            rows.append((i, int(w), int(truth[i] if rng.random() < 0.75 else 1 - truth[i])))
    rows.append((0, 0, 2))
    answers = crowd(rows, n_labels=3)
    result = METHODS["auto"](answers)
    assert invented_labels(answers, result).size == 0
    assert (result.labels == 2).sum() <= 1
