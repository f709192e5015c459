"""Aggregation benchmark: every method on every real crowd, crowd-kit on the same data, adaptive redundancy,
and a million synthetic answers.

    python bench/aggregation.py [--datasets ../shared/datasets] [--seeds 3] [--glad-max-answers 10000] [--no-crowdkit]

Datasets are read in place (research-only licences: never copied into the project). Every answers file goes
through the same reader as ``manage.py aggregate`` (a repeated (worker, item) pair keeps its last answer) and
accuracy counts the gold items that have at least one answer. ``hitspam_crowdflower`` is run but left out of
the headline means: its gold is unreliable (see the datasets' README). A dataset whose labels are all numbers with
more than 20 distinct values is numeric: it gets the numeric methods (MAE), never the classifiers.

Calibration: for every method, the expected calibration error (ECE, ``tasks.aggregation.calibration``: 10
equal-width bins of the result's stated confidence, on the same gold items as accuracy). The reference is
``mv_expected``: majority vote over one answer per (worker, item), ties broken at random in expectation (a tied item
counts 1/ties right), its confidence the winner's share of the item's votes.

crowd-kit runs in its own virtual environment, bench/.venv-crowdkit, created from bench/requirements.txt on first
use, because it needs scikit-learn<1.6 and pandas<3 and the project's venv has newer ones (sentence-transformers).
GLAD is slow in crowd-kit (about 3 minutes on 25,000 answers), so it runs only on datasets up to
--glad-max-answers answers; a method that did not run on every headline dataset is left out of crowdkit_best_mean.

Robustness of ``auto``'s choice: every dataset again with each worker split into pseudo-workers of 5 answers (a
crowd of one-off workers, where a model per worker over-fits), ``auto`` against tie-neutral majority vote.

Also per method: the ECE with only the first 3 answers of each item (few answers, where EM models are most
over-confident), and ``auto``'s ECE with gold: half the gold items given (``calibration.aggregate_with_gold``, what
``manage.py aggregate --gold`` runs), the other half scored.

The run ends with one line per dataset, one ECE line per dataset, and this summary line (mean_ece: auto's mean ECE
over the headline datasets without gold, target <= 0.05):
aggregation mean_acc=<x> crowdkit_best_mean=<x> worst_vs_mv=<x> adaptive_answer_share=<x> time_1m_s=<n> crowdkit_ds_1m_s=<n> mean_ece=<x>
"""

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.synthetic import generate  # noqa: E402
from tasks.aggregation import DEFAULT_METHOD, METHODS, Answers  # noqa: E402
from tasks.aggregation.calibration import aggregate_with_gold, expected_calibration_error  # noqa: E402
from tasks.aggregation.files import Codes, code_answers, read_answers, read_gold  # noqa: E402
from tasks.aggregation.numeric import NUMERIC_METHODS  # noqa: E402
from tasks.aggregation.offline import DEFAULT_TARGET, replay  # noqa: E402

UNRELIABLE_GOLD = {"hitspam_crowdflower"}
CROWDKIT_VENV = ROOT / "bench" / ".venv-crowdkit"
CROWDKIT_METHODS = ["MV", "Wawa", "DS", "OneCoinDS", "GLAD", "MACE", "MMSR"]
ADAPTIVE_MIN_ANSWERS_PER_ITEM = 10
ECE_TARGET = 0.05
FEW_ANSWERS = 3
ONE_OFF_ANSWERS = 5


def default_datasets() -> Path:
    """../shared/datasets from the project root, or from the nearest folder above it that has one (worktrees)."""
    for folder in ROOT.parents:
        if (folder / "shared" / "datasets").is_dir():
            return folder / "shared" / "datasets"
    return ROOT.parent / "shared" / "datasets"


def is_numeric(labels: list[str]) -> bool:
    try:
        values = {float(v) for v in labels}
    except ValueError:
        return False
    return len(values) > 20


def tie_neutral_majority_vote(answers: Answers, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Majority vote on the gold items with answers, ties broken at random in expectation: per item, the winner's
    share of the votes (its stated confidence) and the chance that the drawn winner is the gold label (1/ties)."""
    counts = answers.counts()
    scored = (gold >= 0) & (counts.sum(axis=1) > 0)
    top = counts[scored].max(axis=1, keepdims=True)
    winners = counts[scored] == top
    confidence = top[:, 0] / counts[scored].sum(axis=1)
    correct = winners[np.arange(scored.sum()), gold[scored]] / winners.sum(axis=1)
    return confidence, correct


def split_workers(answers: Answers, per: int, seed: int = 0) -> Answers:
    """The same answers from a crowd of one-off workers: each worker's answers, in a seeded order, go to a new
    pseudo-worker every ``per`` answers."""
    order = np.lexsort((np.random.default_rng(seed).random(len(answers)), answers.workers))
    workers = answers.workers[order]
    starts = np.flatnonzero(np.r_[True, workers[1:] != workers[:-1]])
    rank = np.arange(len(answers)) - np.repeat(starts, np.diff(np.r_[starts, len(answers)]))
    _, pseudo = np.unique(workers * (len(answers) + 1) + rank // per, return_inverse=True)
    split = np.empty(len(answers), dtype=np.int64)
    split[order] = pseudo
    return Answers.from_codes(answers.items, split, answers.labels, n_items=answers.n_items, n_labels=answers.n_labels)


def half_gold(gold: np.ndarray, scored: np.ndarray, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Gold with a seeded half of the scored gold items hidden, and the mask of those hidden items."""
    known = np.flatnonzero(scored)
    hidden_items = np.random.default_rng(seed).permutation(known)[: known.size // 2]
    given = gold.copy()
    given[hidden_items] = -1
    hidden = np.zeros(gold.size, dtype=bool)
    hidden[hidden_items] = True
    return given, hidden


def crowdkit_python() -> Path | None:
    python = CROWDKIT_VENV / "bin" / "python"
    if python.exists():
        return python
    print("creating bench/.venv-crowdkit for crowd-kit (once) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(CROWDKIT_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(ROOT / "bench" / "requirements.txt")], check=True
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"crowd-kit unavailable ({exc}); its columns will be n/a", flush=True)
        return None
    return python


def run_crowdkit(python: Path | None, datasets: Path, names: list[str], glad_max: int) -> dict:
    results: dict = {}
    if python is None or not names:
        return results
    command = [str(python), str(ROOT / "bench" / "crowdkit_runner.py"), "--datasets", str(datasets), "--names", *names]
    command += ["--glad-max-answers", str(glad_max)]
    process = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in process.stdout.splitlines():
        row = json.loads(line)
        results.setdefault(row["dataset"], {})[row["method"]] = row
    if process.returncode != 0:
        print(f"crowd-kit runner failed: {process.stderr.strip()[-500:]}", flush=True)
    return results


def measure(run, repeats: int = 2) -> dict:
    """Best wall time of ``repeats`` runs; peak memory as max-RSS growth over the runs and as tracemalloc's peak."""
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024
    gc.collect()
    tracemalloc.start()
    run()
    traced_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {"seconds": min(times), "rss_mb": rss_mb, "traced_mb": traced_mb, "result": result}


def synthetic_ours(seed: int) -> None:
    """Child process: the default method on the synthetic million answers; prints one JSON line."""
    data = generate(seed)
    answers = Answers.from_codes(data.items, data.workers, data.labels, n_labels=data.n_labels)
    truth = data.truth
    del data
    figures = measure(lambda: METHODS[DEFAULT_METHOD](answers))
    figures["accuracy"] = float(np.mean(figures.pop("result").labels == truth))
    print(json.dumps(figures), flush=True)


def child(command: list[str]) -> dict | None:
    process = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in process.stdout.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        print(f"{command[1]} failed: {process.stderr.strip()[-500:]}", flush=True)
        return None
    return json.loads(lines[-1])


def fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=Path, default=None, help="default: ../shared/datasets from the project root")
    parser.add_argument("--seeds", type=int, default=3, help="replay orders averaged for adaptive redundancy")
    parser.add_argument("--synthetic-seed", type=int, default=1)
    parser.add_argument("--glad-max-answers", type=int, default=10_000)
    parser.add_argument("--no-crowdkit", action="store_true")
    parser.add_argument("--synthetic-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.synthetic_child is not None:
        synthetic_ours(args.synthetic_child)
        return

    root = (args.datasets or default_datasets()).resolve()
    if not root.is_dir():
        sys.exit(f"no datasets folder at {root}; pass --datasets PATH")
    names = sorted(p.name for p in root.iterdir() if (p / "answers.csv").exists() and (p / "gold.csv").exists())
    print(f"datasets: {root} ({len(names)})", flush=True)
    ck_python = None if args.no_crowdkit else crowdkit_python()

    ours: dict[str, dict] = {}
    numeric_lines: list[str] = []
    adaptive_rows: list[tuple[str, float, float, float, float]] = []
    categorical: list[str] = []
    for name in names:
        raw = read_answers(root / name / "answers.csv")
        gold = read_gold(root / name / "gold.csv")
        if is_numeric(raw.labels):
            items = Codes()
            codes = items.encode(raw.items)
            values = np.array(raw.labels, dtype=float)
            truth = np.array([float(gold.get(i, "nan")) for i in items.values])
            parts = []
            for method, fn in NUMERIC_METHODS.items():
                error = fn(codes, values, len(items)).values - truth
                error = error[np.isfinite(error)]
                parts.append(f"{method}: MAE {np.abs(error).mean():.2f} RMSE {np.sqrt((error**2).mean()):.2f}")
            numeric_lines.append(f"dataset={name} numeric " + " | ".join(parts))
            continue
        categorical.append(name)
        coded, gold_codes = code_answers(raw, gold)
        answers = coded.answers
        scored = (gold_codes >= 0) & (answers.answer_count() > 0)
        row: dict = {"answers": len(answers), "per_item": len(answers) / answers.n_items}
        for method, fn in METHODS.items():
            started = time.perf_counter()
            result = fn(answers)
            row[f"{method}_s"] = time.perf_counter() - started
            correct = result.labels[scored] == gold_codes[scored]
            row[method] = float(np.mean(correct))
            row[f"{method}_ece"] = expected_calibration_error(result.confidence[scored], correct)
            row[f"{method}_conf"] = float(np.mean(result.confidence[scored]))
        # Few answers per item (where EM models are most over-confident): the first FEW_ANSWERS of each item's
        # answers in a seeded order, every method, gold-free.
        few = answers.subset(answers.arrival_ranks() < FEW_ANSWERS)
        few_scored = scored & (few.answer_count() > 0)
        for method, fn in METHODS.items():
            result = fn(few)
            correct = result.labels[few_scored] == gold_codes[few_scored]
            row[f"{method}_few_ece"] = expected_calibration_error(result.confidence[few_scored], correct)
        # With gold (manage.py aggregate --gold): half the gold items given, the other half scored.
        given, hidden = half_gold(gold_codes, scored)
        result = aggregate_with_gold(METHODS[DEFAULT_METHOD], answers, given)
        correct = result.labels[hidden] == gold_codes[hidden]
        row["gold_ece"] = expected_calibration_error(result.confidence[hidden], correct)
        row["gold_error"] = result.consensus_error
        # A crowd of one-off workers (each worker split into pseudo-workers of ONE_OFF_ANSWERS answers), where a
        # model per worker over-fits: auto against tie-neutral majority vote on the same answers.
        one_off = split_workers(answers, ONE_OFF_ANSWERS)
        row["one_off_auto"] = float(np.mean(METHODS[DEFAULT_METHOD](one_off).labels[scored] == gold_codes[scored]))
        row["one_off_mv"] = float(np.mean(tie_neutral_majority_vote(one_off, gold_codes)[1]))
        mv_confidence, mv_correct = tie_neutral_majority_vote(answers, gold_codes)
        row["mv_expected"] = float(np.mean(mv_correct))
        row["mv_expected_ece"] = expected_calibration_error(mv_confidence, mv_correct)
        row["mv_expected_conf"] = float(np.mean(mv_confidence))
        ours[name] = row
        print(f"ran ours on {name}: auto={row['auto']:.4f} in {row['auto_s']:.2f}s", flush=True)
        if row["per_item"] >= ADAPTIVE_MIN_ANSWERS_PER_ITEM:
            outcomes = [
                replay(answers, gold_codes, policy="adaptive", target=DEFAULT_TARGET, seed=s) for s in range(args.seeds)
            ]
            adaptive_rows.append(
                (
                    name,
                    float(np.mean([o.accuracy for o in outcomes])),
                    float(np.mean([o.share for o in outcomes])),
                    float(np.mean([o.mean_answers for o in outcomes])),
                    row["mv_expected"],
                )
            )

    crowdkit = run_crowdkit(ck_python, root, categorical, args.glad_max_answers)
    synthetic = child([sys.executable, str(Path(__file__).resolve()), "--synthetic-child", str(args.synthetic_seed)])
    ck_synthetic = None
    if ck_python is not None:
        runner = str(ROOT / "bench" / "crowdkit_runner.py")
        ck_synthetic = child([str(ck_python), runner, "--synthetic", str(args.synthetic_seed)])

    headline = [n for n in categorical if n not in UNRELIABLE_GOLD]
    mean_acc = float(np.mean([ours[n][DEFAULT_METHOD] for n in headline]))
    worst_vs_mv = min(ours[n][DEFAULT_METHOD] - ours[n]["mv_expected"] for n in headline)
    mean_ece = float(np.mean([ours[n][f"{DEFAULT_METHOD}_ece"] for n in headline]))
    ck_means = {}
    for method in CROWDKIT_METHODS:
        accs = [crowdkit.get(n, {}).get(method, {}).get("accuracy") for n in headline]
        if accs and all(a is not None for a in accs):
            ck_means[method] = float(np.mean(accs))
    ck_best = max(ck_means.items(), key=lambda kv: kv[1]) if ck_means else None

    print()
    print(
        f"crowd-kit means over the {len(headline)} headline datasets (methods that ran on all): "
        + ", ".join(f"{m}={v:.4f}" for m, v in ck_means.items())
    )
    print(
        "our means: "
        + ", ".join(f"{m}={np.mean([ours[n][m] for n in headline]):.4f}" for m in METHODS)
        + f", mv_expected={np.mean([ours[n]['mv_expected'] for n in headline]):.4f}"
    )
    print(
        "our mean ECE (10 equal-width bins of stated confidence, gold items with answers): "
        + ", ".join(f"{m}={np.mean([ours[n][f'{m}_ece'] for n in headline]):.4f}" for m in METHODS)
        + f", mv_expected={np.mean([ours[n]['mv_expected_ece'] for n in headline]):.4f}; "
        f"target for {DEFAULT_METHOD} <= {ECE_TARGET:.2f}"
    )
    print(
        f"mean ECE with only the first {FEW_ANSWERS} answers of each item (gold-free): "
        + ", ".join(f"{m}={np.mean([ours[n][f'{m}_few_ece'] for n in headline]):.4f}" for m in METHODS)
    )
    print(
        f"mean ECE of {DEFAULT_METHOD} with gold (half the gold items given, as manage.py aggregate --gold uses them; "
        f"the other half scored): {np.mean([ours[n]['gold_ece'] for n in headline]):.4f}; "
        "consensus error estimated per dataset: " + ", ".join(f"{n}={ours[n]['gold_error']:.3f}" for n in headline)
    )
    print(
        f"crowds of one-off workers (each worker split into pseudo-workers of {ONE_OFF_ANSWERS} answers): "
        f"{DEFAULT_METHOD} - mv_expected worst "
        f"{min(ours[n]['one_off_auto'] - ours[n]['one_off_mv'] for n in headline):+.4f}, mean "
        f"{np.mean([ours[n]['one_off_auto'] - ours[n]['one_off_mv'] for n in headline]):+.4f}"
    )
    print(
        "mv_expected: majority vote over one answer per (worker, item) (a repeated pair keeps its last answer), "
        "ties broken at random in expectation; its confidence is the winner's share of the votes"
    )
    print(
        f"adaptive redundancy (datasets with >= {ADAPTIVE_MIN_ANSWERS_PER_ITEM} answers per item after the duplicate rule; "
        f"policy adaptive, target {DEFAULT_TARGET}, min 3, no cap; mean of {args.seeds} seeded orders):"
    )
    for name, acc, share, per_item, mv_all in adaptive_rows:
        verdict = "ok" if acc >= mv_all and share <= 0.5 else "MISSED"
        print(
            f"  {name}: accuracy {acc:.4f} vs majority vote over all answers {mv_all:.4f}, "
            f"answers used {share:.3f} ({per_item:.2f} per item) {verdict}"
        )
    adaptive_share = float(np.mean([r[2] for r in adaptive_rows])) if adaptive_rows else float("nan")
    if adaptive_rows:
        reached = sum(acc >= mv_all for _, acc, _, _, mv_all in adaptive_rows)
        print(
            f"  all {len(adaptive_rows)}: mean accuracy {np.mean([r[1] for r in adaptive_rows]):.4f} vs majority vote "
            f"over all answers {np.mean([r[4] for r in adaptive_rows]):.4f}, mean share of answers used "
            f"{adaptive_share:.3f}; {reached} of {len(adaptive_rows)} datasets reach majority vote"
        )
    if synthetic:
        print(
            f"synthetic 1M answers, ours ({DEFAULT_METHOD}): {synthetic['seconds']:.2f}s, peak +{synthetic['rss_mb']:.0f} MB RSS, "
            f"{synthetic['traced_mb']:.0f} MB traced, accuracy {synthetic['accuracy']:.4f}"
        )
    if ck_synthetic:
        print(
            f"synthetic 1M answers, crowd-kit DS: {ck_synthetic['seconds']:.2f}s, peak +{ck_synthetic['rss_mb']:.0f} MB RSS, "
            f"{ck_synthetic['traced_mb']:.0f} MB traced, accuracy {ck_synthetic['accuracy']:.4f}"
        )
    for line in numeric_lines:
        print(line)
    print("(hitspam_crowdflower is left out of every mean: its gold is unreliable)")
    print()
    for name in categorical:
        row = ours[name]
        ck = crowdkit.get(name, {})
        ck_part = " ".join(
            f"ck_{m}={fmt(ck[m].get('accuracy')) if 'accuracy' in ck.get(m, {}) else 'n/a'}" for m in CROWDKIT_METHODS
        )
        note = " (excluded: unreliable gold)" if name in UNRELIABLE_GOLD else ""
        print(
            f"dataset={name} answers={row['answers']} "
            + " ".join(f"{m}={row[m]:.4f}" for m in METHODS)
            + f" mv_expected={row['mv_expected']:.4f} auto_s={row['auto_s']:.2f} "
            + ck_part
            + f" ck_DS_s={fmt(ck.get('DS', {}).get('seconds'), 2)}{note}"
        )
    for name in categorical:
        row = ours[name]
        note = " (excluded: unreliable gold)" if name in UNRELIABLE_GOLD else ""
        print(
            f"ece dataset={name} {DEFAULT_METHOD}={fmt(row[f'{DEFAULT_METHOD}_ece'])} "
            f"(mean confidence {row[f'{DEFAULT_METHOD}_conf']:.3f}, accuracy {row[DEFAULT_METHOD]:.3f}) "
            f"mv_expected={fmt(row['mv_expected_ece'])} "
            f"(mean confidence {row['mv_expected_conf']:.3f}, accuracy {row['mv_expected']:.3f}) all: "
            + " ".join(f"{m}={fmt(row[f'{m}_ece'], 3)}" for m in METHODS)
            + f" first {FEW_ANSWERS} answers: "
            + " ".join(f"{m}={fmt(row[f'{m}_few_ece'], 3)}" for m in METHODS)
            + f" with gold: {fmt(row['gold_ece'], 3)}"
            + note
        )
    print(
        f"aggregation mean_acc={mean_acc:.4f} crowdkit_best_mean={fmt(ck_best[1] if ck_best else None)} "
        f"worst_vs_mv={worst_vs_mv:+.4f} adaptive_answer_share={adaptive_share:.3f} "
        f"time_1m_s={fmt(synthetic['seconds'] if synthetic else None, 2)} "
        f"crowdkit_ds_1m_s={fmt(ck_synthetic['seconds'] if ck_synthetic else None, 2)} "
        f"mean_ece={mean_ece:.4f}"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
