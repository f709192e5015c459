"""A synthetic crowd for the aggregation benchmark, generated from a seed (no files).

100,000 items x 10 answers = 1,000,000 answers from 2,000 workers: each worker has their own confusion matrix
(accuracy drawn per true class, errors spread unevenly), 20 % are spammers (half answer at random, half always
give the same label), and activity is skewed (Zipf-like: the busiest worker gives ~100x the answers of the least).
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class SyntheticCrowd:
    items: np.ndarray
    workers: np.ndarray
    labels: np.ndarray
    truth: np.ndarray
    n_labels: int


def generate(
    seed: int, n_items: int = 100_000, n_workers: int = 2_000, per_item: int = 10, n_labels: int = 3
) -> SyntheticCrowd:
    rng = np.random.default_rng(seed)
    truth = rng.choice(n_labels, size=n_items, p=np.array([0.5, 0.3, 0.2])[:n_labels] / 1.0)
    # Confusion matrices: correct with probability ~Beta(6, 2) per true class, errors by a Dirichlet draw.
    confusion = rng.dirichlet(np.ones(n_labels - 1), size=(n_workers, n_labels))
    accuracy = rng.beta(6, 2, size=(n_workers, n_labels))
    full = np.zeros((n_workers, n_labels, n_labels))
    for k in range(n_labels):
        others = [j for j in range(n_labels) if j != k]
        full[:, k, others] = confusion[:, k, :] * (1 - accuracy[:, k : k + 1])
        full[:, k, k] = accuracy[:, k]
    spammers = rng.random(n_workers) < 0.2
    random_spammers = spammers & (rng.random(n_workers) < 0.5)
    full[random_spammers] = 1.0 / n_labels
    constant = spammers & ~random_spammers
    full[constant] = 0.0
    full[constant, :, rng.integers(0, n_labels)] = 1.0
    activity = 1.0 / np.arange(1, n_workers + 1) ** 0.6
    activity = rng.permutation(activity / activity.sum())
    items = np.repeat(np.arange(n_items), per_item)
    workers = rng.choice(n_workers, size=items.size, p=activity)
    # A worker answers an item at most once: redraw the repeated (item, worker) pairs until none is left.
    for _ in range(100):
        pairs = items * n_workers + workers
        order = np.argsort(pairs, kind="stable")
        repeated = np.zeros(items.size, dtype=bool)
        repeated[order[1:][pairs[order][1:] == pairs[order][:-1]]] = True
        if not repeated.any():
            break
        workers[repeated] = rng.choice(n_workers, size=int(repeated.sum()), p=activity)
    cumulative = full[workers, truth[items]].cumsum(axis=1)
    labels = (rng.random(items.size)[:, None] > cumulative).sum(axis=1).clip(0, n_labels - 1)
    return SyntheticCrowd(items, workers.astype(np.int64), labels.astype(np.int64), truth, n_labels)
