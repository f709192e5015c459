"""Bounding boxes on an image: the worker draws, moves, resizes and labels boxes. An answer is a list of
{x, y, w, h, label} in fractions of the image's width and height (0..1 from the top left corner), so a box means
the same whatever size the image was shown at."""

from .base import MarkList, check_column, check_labels, check_whole, is_number, list_problem

BOX_KEYS = frozenset({"x", "y", "w", "h", "label"})
# A box drawn up to the edge may overshoot it by a rounding error.
EDGE = 1e-6
PLACES = 6
MATCH_IOU = 0.5


def iou(a: dict, b: dict) -> float:
    """Intersection over union of two boxes."""
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a["w"] * a["h"] + b["w"] * b["h"] - inter)


def match_boxes(given: list[dict], known: list[dict], threshold: float = MATCH_IOU) -> list[tuple[int, int, float]]:
    """Pairs (given index, known index, IoU) of boxes with the same label matched one to one, best IoU first,
    each at least ``threshold``."""
    pairs = sorted(
        ((iou(g, k), i, j) for i, g in enumerate(given) for j, k in enumerate(known) if g["label"] == k["label"]),
        reverse=True,
    )
    used_g: set[int] = set()
    used_k: set[int] = set()
    out = []
    for value, i, j in pairs:
        if value < threshold:
            break
        if i in used_g or j in used_k:
            continue
        used_g.add(i)
        used_k.add(j)
        out.append((i, j, value))
    return out


def box_scores(given: list[dict], known: list[dict]) -> tuple[float, float, float]:
    """(precision, recall, F1) of ``given`` against ``known`` at IoU >= 0.5; two empty answers agree."""
    if not given and not known:
        return 1.0, 1.0, 1.0
    matched = len(match_boxes(given, known))
    precision = matched / len(given) if given else 1.0
    recall = matched / len(known) if known else 1.0
    f1 = 2 * matched / (len(given) + len(known))
    return precision, recall, f1


class Boxes(MarkList):
    name = "boxes"
    label = "Bounding boxes"
    simple = False
    aggregation = "boxes"
    pass_mark = 0.8
    mark_keys = BOX_KEYS

    def check_definition(self, definition):
        return {
            "labels": check_labels(definition),
            "column": check_column(definition, "column"),
            "max_boxes": check_whole(definition, "max_boxes", 50, 1, 500),
        }

    def claimed_columns(self, definition):
        return {definition["column"]: "image"}

    def answer_problem(self, definition, value):
        if problem := list_problem(value, "boxes", "{x, y, w, h, label}", definition["max_boxes"]):
            return problem
        for n, box in enumerate(value, 1):
            if not isinstance(box, dict) or set(box) != BOX_KEYS:
                return f"box {n} must be an object {{x, y, w, h, label}}"
            if not all(is_number(box[k]) for k in ("x", "y", "w", "h")):
                return f"box {n}: x, y, w and h must be numbers (fractions of the image's width and height)"
            if box["w"] <= 0 or box["h"] <= 0 or box["w"] * box["h"] < 1e-9:
                return f"box {n} has zero area; w and h must be above 0"
            if box["x"] < -EDGE or box["y"] < -EDGE or box["x"] + box["w"] > 1 + EDGE or box["y"] + box["h"] > 1 + EDGE:
                return f"box {n} lies outside the image; x, y, x + w and y + h must be within 0..1"
            if box["label"] not in definition["labels"]:
                return f"box {n}: label {str(box['label'])[:100]!r} is not one of {definition['labels']}"
        return ""

    def normalise(self, definition, value):
        if not isinstance(value, list) or not all(
            isinstance(b, dict) and all(is_number(b.get(k)) for k in ("x", "y", "w", "h")) for b in value
        ):
            return value

        def clamped(box):
            x, y = min(max(box["x"], 0.0), 1.0), min(max(box["y"], 0.0), 1.0)
            w, h = min(box["w"], 1.0 - x), min(box["h"], 1.0 - y)
            out = {k: round(v, PLACES) for k, v in (("x", x), ("y", y), ("w", w), ("h", h))}
            return {**out, "label": box.get("label")}

        boxes = [clamped(b) for b in value]
        return sorted(boxes, key=lambda b: (b["y"], b["x"], b["h"], b["w"], str(b["label"])))

    def score(self, definition, given, known):
        return box_scores(given or [], known or [])[2]
