"""Merging text spans (docs/ANNOTATION.md, "Text spans"): a worker-weighted majority per character and label.

The text is cut at every offset where some worker's span of a label starts or ends; between two cuts every
character has the same workers behind it, so the vote is taken once per segment (a boundary sweep), never once
per character, and a 10,000-character text costs what its spans cost.
"""

import numpy as np

from .annotation import Answer, Merged, certainty, smoothed_share, sorted_answers

CONFIDENCE_PLACES = 4


def _label_runs(marks: np.ndarray, weight: np.ndarray, total: float) -> tuple[list[tuple[int, int, float, int]], float]:
    """One label's merged spans (start, end, support, workers) and the lowest certainty of its marked stretches.

    ``marks`` rows are (worker index, start, end). A segment is kept when its workers weigh more than half of
    ``total``; kept segments next to each other make one span, unless most of the workers who mark across their
    common boundary end one span there and start another (two entities side by side)."""
    who, starts, ends = marks[:, 0], marks[:, 1], marks[:, 2]
    n_workers = weight.size
    bounds = np.unique(np.concatenate([starts, ends]))
    first, last = np.searchsorted(bounds, starts), np.searchsorted(bounds, ends)
    # cover[w, j]: worker w marked segment j = [bounds[j], bounds[j + 1]) (with overlapping spans, once).
    diff = np.zeros((n_workers, bounds.size), dtype=np.int64)
    np.add.at(diff, (who, first), 1)
    np.add.at(diff, (who, last), -1)
    cover = np.cumsum(diff, axis=1)[:, :-1] > 0
    # across[w, j]: one span of worker w runs through bounds[j] (it starts before and ends after).
    diff[:] = 0
    np.add.at(diff, (who, first + 1), 1)
    np.add.at(diff, (who, last), -1)
    across = np.cumsum(diff, axis=1) > 0
    ends_at = np.zeros((n_workers, bounds.size), dtype=bool)
    starts_at = np.zeros((n_workers, bounds.size), dtype=bool)
    ends_at[who, last] = True
    starts_at[who, first] = True
    cut = ends_at & starts_at & ~across

    support = weight @ cover
    marked = cover.any(axis=0)
    lowest = min(certainty(s, total) for s in support[marked].tolist())
    kept = (support * 2 > total).tolist()

    runs: list[tuple[int, int, float, int]] = []
    run_start = None
    run_support = 0.0
    for j, keep in enumerate(kept):
        if run_start is not None and (not keep or _split(j, cover, cut, weight)):
            runs.append(_run(bounds, run_start, j, run_support, marks))
            run_start = None
        if keep:
            if run_start is None:
                run_start, run_support = j, float(support[j])
            else:
                run_support = min(run_support, float(support[j]))
    if run_start is not None:
        runs.append(_run(bounds, run_start, len(kept), run_support, marks))
    return runs, lowest


def _split(j: int, cover: np.ndarray, cut: np.ndarray, weight: np.ndarray) -> bool:
    """Whether most of the weight of those who mark both sides of bounds[j] end a span there and start one."""
    both = cover[:, j - 1] & cover[:, j]
    return float(weight @ (cut[:, j] & both)) * 2 > float(weight @ both)


def _run(bounds: np.ndarray, first: int, stop: int, support: float, marks: np.ndarray) -> tuple[int, int, float, int]:
    start, end = int(bounds[first]), int(bounds[stop])
    overlapping = (marks[:, 1] < end) & (marks[:, 2] > start)
    return start, end, support, int(np.unique(marks[overlapping, 0]).size)


def merge_spans(answers: list[Answer], weights: dict[int, float] | None = None) -> Merged:
    """One item's answers [(worker id, [{start, end, label}])] merged into spans {start, end, label, confidence,
    workers}; ``weights`` None: every worker weighs 1 (majority)."""
    ordered, weight = sorted_answers(answers, weights)
    total = float(weight.sum())
    by_label: dict[str, list[tuple[int, int, int]]] = {}
    for n, (_, spans) in enumerate(ordered):
        for span in spans:
            by_label.setdefault(span["label"], []).append((n, int(span["start"]), int(span["end"])))
    if not by_label:  # nobody marked anything: as sure as the workers who say so weigh
        return Merged([], round(smoothed_share(total, total), CONFIDENCE_PLACES))
    merged = []
    lowest = 1.0
    for label in sorted(by_label, key=str):
        runs, label_lowest = _label_runs(np.array(by_label[label], dtype=np.int64), weight, total)
        lowest = min(lowest, label_lowest)
        merged += [
            {
                "start": start,
                "end": end,
                "label": label,
                "confidence": round(smoothed_share(support, total), CONFIDENCE_PLACES),
                "workers": workers,
            }
            for start, end, support, workers in runs
        ]
    merged.sort(key=lambda s: (s["start"], s["end"], str(s["label"])))
    return Merged(merged, round(lowest, CONFIDENCE_PLACES))
