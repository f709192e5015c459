"""Merging bounding boxes (docs/ANNOTATION.md, "Bounding boxes"): boxes of one item clustered across workers by
label and overlap, a cluster kept when most of the workers' weight drew it, its box their weighted mean.

Clustering is greedy, so the order boxes are taken in matters; they are taken in an order fixed by the boxes
themselves (heaviest worker first, then the box's label and coordinates, the worker id last), so the same answers
in any order merge the same way.
"""

from dataclasses import dataclass, field

from ..questions.boxes import MATCH_IOU, PLACES, iou
from .annotation import Answer, Merged, certainty, smoothed_share, sorted_answers

COORDS = ("x", "y", "w", "h")
CONFIDENCE_PLACES = 4


@dataclass
class _Cluster:
    label: object
    workers: set[int] = field(default_factory=set)  # indexes into the sorted answers
    weight: float = 0.0
    sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    box: dict = field(default_factory=dict)  # the weighted mean so far

    def add(self, worker: int, weight: float, box: dict) -> None:
        self.workers.add(worker)
        self.weight += weight
        for n, k in enumerate(COORDS):
            self.sums[n] += weight * box[k]
        self.box = {k: s / self.weight for k, s in zip(COORDS, self.sums, strict=True)}


def _taking_order(ordered: list[Answer], weight) -> list[tuple[int, float, dict]]:
    boxes = [(n, float(weight[n]), box) for n, (_, answer) in enumerate(ordered) for box in answer]
    return sorted(boxes, key=lambda b: (-b[1], str(b[2]["label"]), *(float(b[2][k]) for k in COORDS), ordered[b[0]][0]))


def merge_boxes(answers: list[Answer], weights: dict[int, float] | None = None) -> Merged:
    """One item's answers [(worker id, [{x, y, w, h, label}])] merged into boxes {x, y, w, h, label, confidence,
    workers}; ``weights`` None: every worker weighs 1 (majority)."""
    ordered, weight = sorted_answers(answers, weights)
    total = float(weight.sum())
    clusters: list[_Cluster] = []
    for n, w, box in _taking_order(ordered, weight):
        best, best_iou = None, MATCH_IOU
        for cluster in clusters:
            if cluster.label != box["label"] or n in cluster.workers:
                continue
            overlap = iou(cluster.box, box)
            if overlap >= best_iou and (best is None or overlap > best_iou):
                best, best_iou = cluster, overlap
        if best is None:
            best = _Cluster(box["label"])
            clusters.append(best)
        best.add(n, w, box)
    if not clusters:  # nobody drew anything: as sure as the workers who say so weigh
        return Merged([], round(smoothed_share(total, total), CONFIDENCE_PLACES))
    merged = [
        {
            **{k: round(v, PLACES) for k, v in cluster.box.items()},
            "label": cluster.label,
            "confidence": round(smoothed_share(cluster.weight, total), CONFIDENCE_PLACES),
            "workers": len(cluster.workers),
        }
        for cluster in clusters
        if cluster.weight * 2 > total
    ]
    merged.sort(key=lambda b: (b["y"], b["x"], b["h"], b["w"], str(b["label"])))
    lowest = min(certainty(cluster.weight, total) for cluster in clusters)
    return Merged(merged, round(lowest, CONFIDENCE_PLACES))
