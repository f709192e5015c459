"""Runs crowd-kit's aggregation methods, inside bench/.venv-crowdkit (see bench/aggregation.py).

Reads the same files through the same reader as our methods (so duplicates get the same keep-last rule) and
prints one JSON object per line: {"dataset", "method", "accuracy", "seconds"}, or with --synthetic the time and
memory of Dawid-Skene on the generated million answers.
"""

import argparse
import json
import resource
import sys
import time
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
    "MACE": lambda: ck.MACE(random_state=0),
    "MMSR": lambda: ck.MMSR(n_iter=1000),
}


def run_datasets(root: Path, names: list[str], methods: list[str]) -> None:
    for name in names:
        raw = read_answers(root / name / "answers.csv")
        gold = read_gold(root / name / "gold.csv")
        df = pd.DataFrame({"worker": raw.workers, "task": raw.items, "label": raw.labels})
        answered = set(raw.items)
        gold_items = {i: g for i, g in gold.items() if i in answered}
        for method in methods:
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


def run_synthetic(seed: int) -> None:
    data = generate(seed)
    df = pd.DataFrame({"worker": data.workers, "task": data.items, "label": data.labels})
    del data
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    ck.DawidSkene(n_iter=100).fit_predict(df)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"method": "DS", "seconds": seconds, "peak_mb": (after - before) / 1024}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=Path)
    parser.add_argument("--names", nargs="*", default=[])
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--synthetic", type=int, help="seed: time DS on the synthetic million answers")
    args = parser.parse_args()
    if args.synthetic is not None:
        run_synthetic(args.synthetic)
    else:
        run_datasets(args.datasets, args.names, args.methods)
