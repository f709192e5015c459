"""Annotation benchmark: simulated crowds with known truth and known worker quality (spammers included), for
pairwise rankings, text spans and bounding boxes, each compared in the same run with its reference.

    python bench/annotation.py [--seed 7] [--no-crowdkit] [--groups 5] [--candidates 40] [--span-items 300] ...

Everything is drawn from --seed, so a run is repeatable.

- **Pairwise**: G groups of n candidates with true scores; a pool of workers (good, mediocre, spammers who answer
  at random or always "left"), each perceiving the two scores with their own noise. A budget of B random pairs
  per group, each answered by a few workers, goes to ours (``noisy_bradley_terry``) and to crowd-kit's
  BradleyTerry and NoisyBT (its own venv, bench/.venv-crowdkit, set up by bench/aggregation.py). Then the
  platform chooses the pairs as tasks/pairs.py does (``initial_pairs``, then rounds of a quarter of the
  candidates from ``choose_pairs`` on the current fit: ``noisy_bradley_terry``'s, which tasks/pairs.py uses, and
  ``bradley_terry``'s for comparison), each drawn pair asked once, until half as many answers as the random
  pairs had, ranked by ``noisy_bradley_terry``.
  Spearman correlation with the true scores, averaged over the groups. No ties are simulated: crowd-kit has none.
- **Spans**: texts of words with true entity spans; good workers (a few slips), sloppy ones (a boundary off by a
  word), missers, spammers (random spans); 3-5 workers per text. Ours = ``aggregate(weighted=True)`` against the
  unweighted majority (``weighted=False``, all texts) and the best single worker (on the texts that worker
  answered, ours on the same texts): micro span F1, exact match.
- **Boxes**: images with 1-4 true boxes; precise, loose, missing and spamming workers; 3-5 per image. Mean IoU of
  each true box with the merged box matched to it (same label, one to one, IoU >= 0.5 as in a gold check; 0 when
  none) for ours, the unweighted mean (``weighted=False``) and the best single worker (on that worker's images).

Each figure is printed with its target, then one summary line:
annotation pairwise_spearman=<x> crowdkit_bt_spearman=<x> active_half_spearman=<x> span_f1=<x> span_mv_f1=<x> box_iou=<x> box_mean_iou=<x>
"""

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from bench.aggregation import crowdkit_python  # noqa: E402
from tasks.aggregation.annotation import aggregate  # noqa: E402
from tasks.aggregation.boxes import merge_boxes  # noqa: E402
from tasks.aggregation.ranking import bradley_terry, choose_pairs, initial_pairs, noisy_bradley_terry  # noqa: E402
from tasks.aggregation.spans import merge_spans  # noqa: E402
from tasks.questions.boxes import box_scores, iou, match_boxes  # noqa: E402
from tasks.questions.spans import span_f1  # noqa: E402

SPAN_LABELS = ["PER", "LOC", "ORG"]
BOX_LABELS = ["car", "person"]


def fmt(value: float | None) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{value:.4f}"


def verdict(value: float | None, *references: float | None) -> str:
    if value is None or np.isnan(value) or any(r is None or np.isnan(r) for r in references):
        return "n/a"
    return "met" if all(value >= r for r in references) else "MISSED"


def kinds_of_pool(rng: np.random.Generator, count: int, shares: dict) -> list[str]:
    """``count`` workers' kinds in the given shares (a share, or a tuple that starts with it), in a random order."""
    cumulative = np.cumsum([v[0] if isinstance(v, tuple) else v for v in shares.values()])
    bounds = [0, *np.round(cumulative / cumulative[-1] * count).astype(int)]
    kinds = [k for k, a, b in zip(shares, bounds, bounds[1:], strict=False) for _ in range(b - a)]
    return [str(k) for k in rng.permutation(kinds)]


def workers_per_item(rng: np.random.Generator, pool: int) -> np.ndarray:
    """3 to 5 distinct workers of the pool."""
    return rng.choice(pool, size=int(rng.integers(3, 6)), replace=False)


# --- pairwise -------------------------------------------------------------------------------------------------


@dataclass
class PairWorker:
    kind: str  # good, mediocre, random, left
    noise: float  # sd of the worker's perception of each candidate's score


PAIR_WORKERS = {"good": 0.4, "mediocre": 0.4, "random": 0.1, "left": 0.1}


def pair_workers(rng: np.random.Generator, count: int) -> list[PairWorker]:
    """40 % good, 40 % mediocre, 20 % spammers (half at random, half always "left", a position bias)."""
    out = []
    for kind in kinds_of_pool(rng, count, PAIR_WORKERS):
        noise = {"good": rng.uniform(0.1, 0.35), "mediocre": rng.uniform(0.7, 1.2)}.get(kind, 0.0)
        out.append(PairWorker(kind, noise))
    return out


@dataclass
class Comparisons:
    left: list[int]
    right: list[int]
    outcome: list[float]  # 1.0 left wins, 0.0 right wins
    workers: list[int]

    def arrays(self):
        return (
            np.array(self.left, dtype=np.int64),
            np.array(self.right, dtype=np.int64),
            np.array(self.outcome, dtype=float),
            np.array(self.workers, dtype=np.int64),
        )


def ask_pairs(rng, truth, workers, pairs, per_pair, into: Comparisons) -> None:
    """Each pair answered by ``per_pair`` distinct workers of the pool."""
    for i, j in pairs:
        for w in rng.choice(len(workers), size=per_pair, replace=False):
            worker = workers[w]
            if worker.kind == "random":
                left_wins = rng.random() < 0.5
            elif worker.kind == "left":
                left_wins = True
            else:
                left_wins = truth[i] + rng.normal(0, worker.noise) > truth[j] + rng.normal(0, worker.noise)
            into.left.append(int(i))
            into.right.append(int(j))
            into.outcome.append(1.0 if left_wins else 0.0)
            into.workers.append(int(w))


def random_pairs(rng, n: int, count: int) -> list[tuple[int, int]]:
    """``count`` pairs of distinct candidates drawn uniformly, in a random order of sides."""
    left = rng.integers(0, n, size=count)
    right = (left + rng.integers(1, n, size=count)) % n
    return list(zip(left.tolist(), right.tolist(), strict=True))


def spearman(scores, truth) -> float:
    return float(spearmanr(scores, truth).statistic)


def active_comparisons(rng, truth, workers, budget: int, per_pair: int, batch: int, fit_with: str):
    """The platform draws the pairs as tasks/pairs.py does: the first cycle, then rounds of ``choose_pairs`` on
    the current fit (``bradley_terry`` there), each pair's sides in a random order, up to ``budget`` pairs.
    Returns the comparisons and the pairs drawn."""
    n = len(truth)
    comparisons = Comparisons([], [], [], [])
    counts = np.zeros((n, n), dtype=np.int64)
    drawn = 0

    def ask(pairs):
        nonlocal drawn
        pairs = [(b, a) if rng.random() < 0.5 else (a, b) for a, b in pairs]
        ask_pairs(rng, truth, workers, pairs, per_pair, comparisons)
        for i, j in pairs:
            counts[i, j] += 1  # times (i, j) was drawn, in that order
        drawn += len(pairs)

    ask(initial_pairs(n, rng)[:budget])
    while drawn < budget:
        left, right, outcome, answered_by = comparisons.arrays()
        if fit_with == "noisy_bt":
            fit = noisy_bradley_terry(n, left, right, outcome, answered_by)
        else:
            fit = bradley_terry(n, left, right, outcome)
        pairs = choose_pairs(fit, counts, min(batch, budget - drawn))
        if not pairs:
            break
        ask(pairs)
    return comparisons, drawn


def run_crowdkit_pairwise(python: Path | None, groups: list[Comparisons]) -> dict[int, dict[str, dict]]:
    """{group: {method: {"scores": {candidate: score}, "seconds"}}} from bench/crowdkit_runner.py --pairwise."""
    if python is None:
        return {}
    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", delete=False) as f:
        out = csv.writer(f)
        out.writerow(["group", "worker", "left", "right", "label"])
        for g, c in enumerate(groups):
            for i, j, o, w in zip(c.left, c.right, c.outcome, c.workers, strict=True):
                out.writerow([g, w, i, j, i if o == 1.0 else j])
        path = f.name
    command = [str(python), str(ROOT / "bench" / "crowdkit_runner.py"), "--pairwise", path]
    process = subprocess.run(command, capture_output=True, text=True, check=False)
    Path(path).unlink()
    if process.returncode != 0:
        print(f"crowd-kit runner failed: {process.stderr.strip()[-500:]}", flush=True)
    results: dict[int, dict[str, dict]] = {}
    for line in process.stdout.splitlines():
        row = json.loads(line)
        results.setdefault(row["group"], {})[row["method"]] = row
    return results


def crowdkit_scores(row: dict, n: int) -> np.ndarray:
    """crowd-kit scores only the candidates it saw; one never compared ranks last."""
    scores = np.full(n, np.nan)
    for candidate, score in row["scores"].items():
        scores[int(candidate)] = score
    scores[np.isnan(scores)] = np.nanmin(scores) - 1 if np.isfinite(scores).any() else 0.0
    return scores


def bench_pairwise(args, rng, ck_python) -> dict:
    """``rng`` draws the workers; each group has generators of its own (from --seed), so that the two ways of
    choosing pairs start from the same draws and the random comparisons do not depend on them."""
    n, budget, per_pair = args.candidates, args.candidates * args.pairs_per_candidate, args.answers_per_pair
    workers = pair_workers(rng, args.pair_workers)
    batch = args.batch or max(1, n // 4)  # tasks/pairs.py round_size: a quarter of the candidates
    truths, random_sets, active_sets = [], [], []
    ours, ours_bt, ours_half, seconds = [], [], [], {"ours": 0.0, "active": 0.0}
    active: dict[str, list[float]] = {"noisy_bt": [], "bt": []}
    for group in range(args.groups):
        group_rng = np.random.default_rng([args.seed, 0, group])
        truth = group_rng.normal(0, 1, size=n)
        pairs = random_pairs(group_rng, n, budget)
        full = Comparisons([], [], [], [])
        ask_pairs(group_rng, truth, workers, pairs, per_pair, full)
        started = time.perf_counter()
        fit = noisy_bradley_terry(n, *full.arrays())
        seconds["ours"] += time.perf_counter() - started
        ours.append(spearman(fit.scores, truth))
        left, right, outcome, _ = full.arrays()
        ours_bt.append(spearman(bradley_terry(n, left, right, outcome).scores, truth))
        # the first half of the same random pairs: what choosing the pairs is worth at that budget
        half = Comparisons(*(values[: (budget // 2) * per_pair] for values in full.arrays()))
        ours_half.append(spearman(noisy_bradley_terry(n, *half.arrays()).scores, truth))
        for fit_with in ("noisy_bt", "bt"):  # the brief's choice, then the plain fit tasks/pairs.py draws on
            started = time.perf_counter()
            active_rng = np.random.default_rng([args.seed, 0, group, 1])
            # Half the answers: tasks/pairs.py asks each drawn pair once (a drawn job's redundancy is 1).
            chosen, drawn = active_comparisons(active_rng, truth, workers, budget * per_pair // 2, 1, batch, fit_with)
            if fit_with == "noisy_bt":
                seconds["active"] += time.perf_counter() - started
            active[fit_with].append(spearman(noisy_bradley_terry(n, *chosen.arrays()).scores, truth))
        truths.append(truth)
        random_sets.append(full)
        active_sets.append(drawn)

    started = time.perf_counter()
    ck = run_crowdkit_pairwise(ck_python, random_sets)
    ck_wall = time.perf_counter() - started
    ck_means: dict[str, float] = {}
    ck_seconds: dict[str, float] = {}
    for method in ("BradleyTerry", "NoisyBT"):
        rows = [ck.get(g, {}).get(method) for g in range(args.groups)]
        if rows and all(rows):
            ck_means[method] = float(
                np.mean([spearman(crowdkit_scores(r, n), t) for r, t in zip(rows, truths, strict=True)])
            )
            ck_seconds[method] = sum(r["seconds"] for r in rows)
    ck_best = max(ck_means.items(), key=lambda kv: kv[1]) if ck_means else None

    kinds = {k: sum(w.kind == k for w in workers) for k in ("good", "mediocre", "random", "left")}
    print(
        f"pairwise: {args.groups} groups x {n} candidates (true scores N(0, 1)), {budget} random pairs per group "
        f"x {per_pair} answers; {len(workers)} workers: {kinds['good']} good, {kinds['mediocre']} mediocre, "
        f"{kinds['random']} random, {kinds['left']} always-left; Spearman with the truth, mean of the groups",
        flush=True,
    )
    print(
        f"  ours noisy_bt {np.mean(ours):.4f} ({seconds['ours']:.2f}s), ours bt {np.mean(ours_bt):.4f}; crowd-kit "
        + (
            ", ".join(f"{m} {v:.4f} ({ck_seconds[m]:.2f}s)" for m, v in ck_means.items())
            if ck_means
            else "n/a (unavailable)"
        )
        + f" (runner {ck_wall:.1f}s wall)"
    )
    print(
        f"  chosen pairs: {np.mean(active_sets):.0f} per group, one answer each (the first cycle of {n}, then "
        f"rounds of {batch}{'' if args.batch else ', a quarter of the candidates, as tasks/pairs.py draws them'}), "
        "ranked by noisy_bt: rounds chosen on the noisy_bt fit "
        f"{np.mean(active['noisy_bt']):.4f} ({seconds['active']:.2f}s with the fits between rounds), on the bt fit "
        f"{np.mean(active['bt']):.4f}; ours on the first {budget // 2} random pairs {np.mean(ours_half):.4f}"
    )
    best = ck_best[1] if ck_best else None
    best_name = ck_best[0] if ck_best else "crowd-kit"
    print(
        f"  target ours >= crowd-kit's best ({best_name}) on the same comparisons: "
        f"{np.mean(ours):.4f} vs {fmt(best)} {verdict(float(np.mean(ours)), best)}"
    )
    print(
        f"  target chosen pairs with half the answers >= crowd-kit's best on all of them: "
        f"{np.mean(active['noisy_bt']):.4f} vs {fmt(best)} {verdict(float(np.mean(active['noisy_bt'])), best)}",
        flush=True,
    )
    return {"ours": float(np.mean(ours)), "crowdkit": best, "active": float(np.mean(active["noisy_bt"]))}


# --- spans ----------------------------------------------------------------------------------------------------


@dataclass
class Text:
    tokens: list[tuple[int, int]]  # (start, end) of each word
    truth: list[dict]


def make_text(rng) -> Text:
    """30-60 random words; 1-4 entities of 1-3 words, a word apart at least."""
    tokens, at = [], 0
    for _ in range(int(rng.integers(30, 61))):
        length = int(rng.integers(2, 10))
        tokens.append((at, at + length))
        at += length + 1
    truth, taken = [], np.zeros(len(tokens) + 1, dtype=bool)
    for _ in range(int(rng.integers(1, 5))):
        for _try in range(20):
            size = int(rng.integers(1, 4))
            first = int(rng.integers(0, len(tokens) - size + 1))
            if not taken[max(first - 1, 0) : first + size + 1].any():
                taken[first : first + size] = True
                truth.append(word_span(tokens, first, first + size - 1, str(rng.choice(SPAN_LABELS))))
                break
    return Text(tokens, sorted(truth, key=lambda s: s["start"]))


def word_span(tokens, first: int, last: int, label: str) -> dict:
    return {"start": tokens[first][0], "end": tokens[last][1], "label": label}


SPAN_WORKERS = {
    # kind: (share of the pool, chance to miss a span, chance a boundary is off by a word, chance of a wrong label)
    "good": (0.5, 0.05, 0.05, 0.02),
    "sloppy": (0.15, 0.05, 0.5, 0.05),
    "misser": (0.15, 0.5, 0.05, 0.02),
    "spammer": (0.2, 0.0, 0.0, 0.0),
}


def span_answer(rng, text: Text, kind: str) -> list[dict]:
    if kind == "spammer":
        out = []
        for _ in range(int(rng.integers(1, 5))):
            size = int(rng.integers(1, 4))
            first = int(rng.integers(0, len(text.tokens) - size + 1))
            out.append(word_span(text.tokens, first, first + size - 1, str(rng.choice(SPAN_LABELS))))
        return dedupe_overlaps(out)
    _, miss, slip, relabel = SPAN_WORKERS[kind]
    starts = {t[0]: n for n, t in enumerate(text.tokens)}
    ends = {t[1]: n for n, t in enumerate(text.tokens)}
    out = []
    for span in text.truth:
        if rng.random() < miss:
            continue
        first, last = starts[span["start"]], ends[span["end"]]
        if rng.random() < slip:  # one boundary moves a word out or in
            step = int(rng.choice([-1, 1]))
            if rng.random() < 0.5:
                first = min(max(first + step, 0), last)
            else:
                last = max(min(last + step, len(text.tokens) - 1), first)
        label = span["label"]
        if rng.random() < relabel:
            label = str(rng.choice([x for x in SPAN_LABELS if x != label]))
        out.append(word_span(text.tokens, first, last, label))
    return dedupe_overlaps(out)


def dedupe_overlaps(spans: list[dict]) -> list[dict]:
    """A worker's answer has no overlapping spans (the job's default): a later overlapping one is dropped."""
    out: list[dict] = []
    for span in sorted(spans, key=lambda s: (s["start"], s["end"])):
        if not out or span["start"] >= out[-1]["end"]:
            out.append(span)
    return out


def span_counts(given: list[dict], known: list[dict]) -> tuple[int, int, int]:
    """(true positives, given, known) for micro span F1, exact start, end and label."""
    a = {(s["start"], s["end"], s["label"]) for s in given}
    b = {(s["start"], s["end"], s["label"]) for s in known}
    return len(a & b), len(a), len(b)


def micro_f1(counts) -> float:
    tp, given, known = (sum(c[k] for c in counts) for k in range(3))
    return 2 * tp / (given + known) if given + known else 1.0


def best_worker_and_items(figures: dict[int, float], by_item: dict) -> tuple[int, float, list[int]]:
    """The best single worker, their figure and the items they answered. A worker answers a fifth of the items, and every
    one of those has that worker's answer: ours is compared on those items (ours on all of them is printed too).
    The best of many workers is also partly luck."""
    best_worker = max(figures, key=figures.get)
    theirs = [i for i, answers in by_item.items() if any(w == best_worker for w, _ in answers)]
    return best_worker, figures[best_worker], theirs


def bench_spans(args, rng) -> dict:
    kinds = kinds_of_pool(rng, args.span_workers, SPAN_WORKERS)
    texts = [make_text(rng) for _ in range(args.span_items)]
    by_item: dict[int, list[tuple[int, list[dict]]]] = {}
    for item, text in enumerate(texts):
        by_item[item] = [(int(w), span_answer(rng, text, kinds[w])) for w in workers_per_item(rng, len(kinds))]
    truth = {item: text.truth for item, text in enumerate(texts)}
    started = time.perf_counter()
    ours = aggregate(by_item, merge_spans, span_f1, weighted=True)
    ours_s = time.perf_counter() - started
    vote = aggregate(by_item, merge_spans, span_f1, weighted=False)
    figures = {
        name: micro_f1([span_counts(result.items[i].value, truth[i]) for i in truth])
        for name, result in (("ours", ours), ("vote", vote))
    }
    per_worker: dict[int, list] = {}
    for item, answers in by_item.items():
        for worker, value in answers:
            per_worker.setdefault(worker, []).append(span_counts(value, truth[item]))
    worker_f1 = {w: micro_f1(c) for w, c in per_worker.items()}
    best_worker, best, theirs = best_worker_and_items(worker_f1, by_item)
    ours_there = micro_f1([span_counts(ours.items[i].value, truth[i]) for i in theirs])
    shares = ", ".join(f"{kinds.count(k)} {k}" for k in SPAN_WORKERS)
    answers = sum(len(a) for a in by_item.values())
    print(
        f"spans: {len(texts)} texts of 30-60 words with {sum(len(t.truth) for t in texts)} true spans, {answers} answers "
        f"(3-5 per text) from {len(kinds)} workers ({shares}); micro span F1, exact match",
        flush=True,
    )
    print(
        f"  ours (weighted, {ours_s:.2f}s) {figures['ours']:.4f}, unweighted majority {figures['vote']:.4f}, "
        f"best single worker {best:.4f} (a {kinds[best_worker]} one, {len(theirs)} texts; ours on those texts "
        f"{ours_there:.4f}); mean worker by kind: "
        + ", ".join(f"{k} {mean_of(worker_f1, kinds, k):.3f}" for k in SPAN_WORKERS)
    )
    print(
        f"  target ours >= best single worker on the texts that worker answered: {ours_there:.4f} vs {best:.4f} "
        f"{verdict(ours_there, best)} (ours on all texts {figures['ours']:.4f})",
    )
    print(
        f"  target ours >= unweighted majority: {figures['ours']:.4f} vs {figures['vote']:.4f} "
        f"{verdict(figures['ours'], figures['vote'])}",
        flush=True,
    )
    return figures


def mean_of(per_worker: dict[int, float], kinds: list[str], kind: str) -> float:
    values = [v for w, v in per_worker.items() if kinds[w] == kind]
    return float(np.mean(values)) if values else float("nan")


# --- boxes ----------------------------------------------------------------------------------------------------

BOX_WORKERS = {
    # kind: (share of the pool, chance to miss a box, sd of each edge as a share of the box's size, wrong label)
    "precise": (0.5, 0.05, 0.03, 0.01),
    "loose": (0.15, 0.05, 0.12, 0.03),
    "misser": (0.15, 0.5, 0.03, 0.01),
    "spammer": (0.2, 0.0, 0.0, 0.0),
}


def random_box(rng) -> dict:
    w, h = rng.uniform(0.08, 0.35, size=2)
    return {
        "x": float(rng.uniform(0, 1 - w)),
        "y": float(rng.uniform(0, 1 - h)),
        "w": float(w),
        "h": float(h),
        "label": str(rng.choice(BOX_LABELS)),
    }


def make_image(rng) -> list[dict]:
    """1-4 boxes that barely overlap."""
    boxes: list[dict] = []
    for _ in range(int(rng.integers(1, 5))):
        for _try in range(30):
            box = random_box(rng)
            if all(iou(box, other) < 0.1 for other in boxes):
                boxes.append(box)
                break
    return boxes


def box_answer(rng, truth: list[dict], kind: str) -> list[dict]:
    if kind == "spammer":
        return [random_box(rng) for _ in range(int(rng.integers(1, 4)))]
    _, miss, sd, relabel = BOX_WORKERS[kind]
    out = []
    for box in truth:
        if rng.random() < miss:
            continue
        x0, x1 = np.array([box["x"], box["x"] + box["w"]]) + rng.normal(0, sd * box["w"], size=2)
        y0, y1 = np.array([box["y"], box["y"] + box["h"]]) + rng.normal(0, sd * box["h"], size=2)
        x0, x1, y0, y1 = (float(np.clip(v, 0, 1)) for v in (x0, x1, y0, y1))
        if x1 - x0 < 0.005 or y1 - y0 < 0.005:
            continue
        label = box["label"]
        if rng.random() < relabel:
            label = str(rng.choice([x for x in BOX_LABELS if x != label]))
        out.append({"x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0, "label": label})
    return out


def truth_ious(given: list[dict], known: list[dict]) -> list[float]:
    """Each true box's IoU with the box matched to it (one to one, same label, IoU >= 0.5), 0 when none."""
    ious = [0.0] * len(known)
    for _, j, value in match_boxes(given, known):
        ious[j] = value
    return ious


def box_f1(given: list[dict], known: list[dict]) -> float:
    return box_scores(given, known)[2]


def bench_boxes(args, rng) -> dict:
    kinds = kinds_of_pool(rng, args.box_workers, BOX_WORKERS)
    images = [make_image(rng) for _ in range(args.box_items)]
    by_item = {
        item: [(int(w), box_answer(rng, truth, kinds[w])) for w in workers_per_item(rng, len(kinds))]
        for item, truth in enumerate(images)
    }
    started = time.perf_counter()
    ours = aggregate(by_item, merge_boxes, box_f1, weighted=True)
    ours_s = time.perf_counter() - started
    mean = aggregate(by_item, merge_boxes, box_f1, weighted=False)
    figures, precision = {}, {}
    for name, result in (("ours", ours), ("mean", mean)):
        figures[name] = float(np.mean([v for i, t in enumerate(images) for v in truth_ious(result.items[i].value, t)]))
        merged = [result.items[i].value for i in range(len(images))]
        matched = sum(len(match_boxes(m, t)) for m, t in zip(merged, images, strict=True))
        precision[name] = matched / max(sum(len(m) for m in merged), 1)
    per_worker: dict[int, list[float]] = {}
    for item, answers in by_item.items():
        for worker, value in answers:
            per_worker.setdefault(worker, []).extend(truth_ious(value, images[item]))
    worker_iou = {w: float(np.mean(v)) for w, v in per_worker.items() if v}
    best_worker, best, theirs = best_worker_and_items(worker_iou, by_item)
    ours_there = float(np.mean([v for i in theirs for v in truth_ious(ours.items[i].value, images[i])]))
    shares = ", ".join(f"{kinds.count(k)} {k}" for k in BOX_WORKERS)
    answers = sum(len(a) for a in by_item.values())
    print(
        f"boxes: {len(images)} images with {sum(len(t) for t in images)} true boxes, {answers} answers (3-5 per image) "
        f"from {len(kinds)} workers ({shares}); mean IoU of each true box with its matched box (0 when none)",
        flush=True,
    )
    print(
        f"  ours (weighted, {ours_s:.2f}s) {figures['ours']:.4f}, unweighted mean {figures['mean']:.4f}, best single "
        f"worker {best:.4f} (a {kinds[best_worker]} one, {len(theirs)} images; ours on those images "
        f"{ours_there:.4f}); share of merged boxes that match a true one: ours "
        f"{precision['ours']:.3f}, unweighted {precision['mean']:.3f}; mean worker by kind: "
        + ", ".join(f"{k} {mean_of(worker_iou, kinds, k):.3f}" for k in BOX_WORKERS)
    )
    print(
        f"  target ours >= best single worker on the images that worker answered: {ours_there:.4f} vs {best:.4f} "
        f"{verdict(ours_there, best)} (ours on all images {figures['ours']:.4f})",
    )
    print(
        f"  target ours >= unweighted mean: {figures['ours']:.4f} vs {figures['mean']:.4f} "
        f"{verdict(figures['ours'], figures['mean'])}",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-crowdkit", action="store_true")
    parser.add_argument("--groups", type=int, default=20, help="pairwise: groups of candidates")
    parser.add_argument("--candidates", type=int, default=50, help="pairwise: candidates per group")
    parser.add_argument("--pairs-per-candidate", type=int, default=5, help="pairwise: random pairs = this x candidates")
    parser.add_argument("--answers-per-pair", type=int, default=3)
    parser.add_argument(
        "--batch", type=int, default=0, help="pairwise: pairs per round; 0: a quarter of the candidates"
    )
    parser.add_argument("--pair-workers", type=int, default=20)
    parser.add_argument("--span-items", type=int, default=600)
    parser.add_argument("--span-workers", type=int, default=20)
    parser.add_argument("--box-items", type=int, default=600)
    parser.add_argument("--box-workers", type=int, default=20)
    args = parser.parse_args()

    started = time.perf_counter()
    ck_python = None if args.no_crowdkit else crowdkit_python()
    # one generator per type, so changing one simulation's sizes leaves the others' draws alone
    pair_rng, span_rng, box_rng = (np.random.default_rng([args.seed, k]) for k in range(3))
    pairwise = bench_pairwise(args, pair_rng, ck_python)
    spans = bench_spans(args, span_rng)
    boxes = bench_boxes(args, box_rng)
    print(f"seed {args.seed}, {time.perf_counter() - started:.1f}s in all", flush=True)
    print(
        f"annotation pairwise_spearman={fmt(pairwise['ours'])} crowdkit_bt_spearman={fmt(pairwise['crowdkit'])} "
        f"active_half_spearman={fmt(pairwise['active'])} span_f1={fmt(spans['ours'])} span_mv_f1={fmt(spans['vote'])} "
        f"box_iou={fmt(boxes['ours'])} box_mean_iou={fmt(boxes['mean'])}"
    )


if __name__ == "__main__":
    main()
