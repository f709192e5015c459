"""Calibration of a result's stated confidence against gold: reliability bins and the expected calibration error.

A confidence is calibrated when, among results stated at about 0.9, about 90 % are right. Both the benchmark
(``bench/aggregation.py``) and the job page's reliability picture (``reliability.py``) read the same bins from here.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class ReliabilityBins:
    """Equal-width bins of stated confidence; bin b holds confidences in [b/n, (b+1)/n), the last one includes 1.0.

    ``counts`` is the number of results in each bin; ``confidence`` and ``accuracy`` are their means (NaN for an
    empty bin).
    """

    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray


def reliability_bins(confidence, correct, bins: int = 10) -> ReliabilityBins:
    """Results binned by stated confidence. ``correct`` is 1/0 per result, or a fraction where the result is a tie
    broken at random (its expected correctness). Results with a NaN confidence (items nobody answered) are left out.
    """
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if confidence.shape != correct.shape:
        raise ValueError("confidence and correct must have the same shape")
    if bins < 1:
        raise ValueError("bins must be at least 1")
    kept = ~np.isnan(confidence)
    confidence, correct = np.clip(confidence[kept], 0.0, 1.0), correct[kept]
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(index, weights=correct, minlength=bins) / counts
    return ReliabilityBins(counts, mean_confidence, accuracy)


def expected_calibration_error(confidence, correct, bins: int = 10) -> float:
    """Sum over bins of (share of results in the bin) x |mean stated confidence - accuracy|; NaN with no results.

    0 is perfectly calibrated; a method that states 0.98 on results right 80 % of the time scores about 0.18.
    """
    table = reliability_bins(confidence, correct, bins)
    total = table.counts.sum()
    if total == 0:
        return float("nan")
    filled = table.counts > 0
    gaps = np.abs(table.confidence[filled] - table.accuracy[filled])
    return float(np.sum(table.counts[filled] / total * gaps))
