"""Runs crowd-kit's aggregation methods, inside bench/.venv-crowdkit (see bench/aggregation.py).

Reads the same files through the same reader as our methods (so duplicates get the same keep-last rule) and
prints one JSON object per line: {"dataset", "method", "accuracy", "seconds"}, or with --synthetic the time and
memory of Dawid-Skene on the generated million answers, or with --pairwise FILE the scores of crowd-kit's
pairwise methods for each group of the comparisons in FILE (bench/annotation.py).
"""

import argparse
import gc
import json
import resource
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from crowdkit import aggregation as ck  # noqa: E402

from bench.synthetic import generate  # noqa: E402
from tasks.aggregation.files import read_answers, read_gold  # noqa: E402

METHODS = {
    "MV": lambda: ck.MajorityVote(),
    "Wawa": lambda: ck.Wawa(),
    "DS": lambda: ck.DawidSkene(n_iter=100),
    "OneCoinDS": lambda: ck.OneCoinDawidSkene(n_iter=100),
    "GLAD": lambda: ck.GLAD(n_iter=100, silent=True),
    "MACE": lambda: ck.MACE(n_restarts=1, random_state=0),
    "MMSR": lambda: ck.MMSR(n_iter=1000),
}

# crowd-kit 1.4.2 names the noisy model NoisyBradleyTerry (NoisyBT in its docs and papers).
PAIRWISE = {
    "BradleyTerry": lambda: ck.BradleyTerry(n_iter=1000),
    "NoisyBT": lambda: ck.NoisyBradleyTerry(n_iter=500, random_state=0),
}


def run_datasets(root: Path, names: list[str], methods: list[str], glad_max_answers: int) -> None:
    for name in names:
        raw = read_answers(root / name / "answers.csv")
        gold = read_gold(root / name / "gold.csv")
        df = pd.DataFrame({"worker": raw.workers, "task": raw.items, "label": raw.labels})
        answered = set(raw.items)
        gold_items = {i: g for i, g in gold.items() if i in answered}
        for method in methods:
            if method == "GLAD" and len(df) > glad_max_answers:
                print(
                    json.dumps({"dataset": name, "method": method, "skipped": f"over {glad_max_answers} answers"}),
                    flush=True,
                )
                continue
            started = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    labels = METHODS[method]().fit_predict(df)
                accuracy = float(np.mean([labels.get(i) == g for i, g in gold_items.items()]))
            except Exception as exc:  # a crowd-kit method failing on one dataset is reported, not fatal
                print(json.dumps({"dataset": name, "method": method, "error": repr(exc)[:200]}), flush=True)
                continue
            seconds = time.perf_counter() - started
            print(json.dumps({"dataset": name, "method": method, "accuracy": accuracy, "seconds": seconds}), flush=True)


def run_pairwise(path: Path) -> None:
    """One JSON line per group and method: {"group", "method", "scores": {candidate: score}, "seconds"}, from a CSV
    of comparisons (group, worker, left, right, label = the winner; crowd-kit has no ties)."""
    df = pd.read_csv(path)
    for group, part in df.groupby("group", sort=True):
        data = part[["worker", "left", "right", "label"]].reset_index(drop=True)
        for method, make in PAIRWISE.items():
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores = make().fit(data).scores_
            seconds = time.perf_counter() - started
            row = {"group": int(group), "method": method, "seconds": seconds}
            row["scores"] = {str(k): float(v) for k, v in scores.items()}
            print(json.dumps(row), flush=True)


def run_synthetic(seed: int) -> None:
    data = generate(seed)
    df = pd.DataFrame({"worker": data.workers, "task": data.items, "label": data.labels})
    truth = data.truth
    del data
    print(json.dumps(measure(lambda: ck.DawidSkene(n_iter=100).fit_predict(df), truth)), flush=True)


def measure(run, truth, repeats: int = 2) -> dict:
    """Best wall time of ``repeats`` runs; peak memory as max-RSS growth over the runs and as tracemalloc's peak."""
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        labels = run()
        times.append(time.perf_counter() - started)
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024
    gc.collect()
    tracemalloc.start()
    run()
    traced_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    accuracy = float(np.mean(labels.sort_index().to_numpy() == truth))
    return {"seconds": min(times), "rss_mb": rss_mb, "traced_mb": traced_mb, "accuracy": accuracy}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=Path)
    parser.add_argument("--names", nargs="*", default=[])
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--glad-max-answers", type=int, default=10_000)
    parser.add_argument("--synthetic", type=int, help="seed: time DS on the synthetic million answers")
    parser.add_argument("--pairwise", type=Path, help="CSV of comparisons: group, worker, left, right, label")
    args = parser.parse_args()
    if args.pairwise is not None:
        run_pairwise(args.pairwise)
    elif args.synthetic is not None:
        run_synthetic(args.synthetic)
    else:
        run_datasets(args.datasets, args.names, args.methods, args.glad_max_answers)
