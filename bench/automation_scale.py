"""Benchmark of one automation round on a large job: its time and the memory of the process that runs it.

    python bench/automation_scale.py --items 200000

Creates a job of ``--items`` generated texts (two classes, each text carrying words of its class and common
words) through the real intake service, computes its features with the ``hashing`` solver (the built-in
embedding model would need hours on a CPU for this many texts; the round's work after the features is the
same for any solver), writes human results for a random first sample, and then runs one automation round
(train, calibrate, predict every open item, take, rank) in a fresh process, which reports its wall time and
peak RSS. The same is done for a job a tenth of the size in the same run, so that the figures compare.

Ends with one line:
``automation_scale items=<n> run_s=<x> peak_rss_mb=<n> small_items=<n> small_run_s=<x> small_peak_rss_mb=<n>``.
Target: the peak does not grow with the job (under 1.5 x the small job's peak). The round's time per million
items is printed too: it grows with the job (every open item is predicted), and no target is set for it.
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QUORUM_AUTOMATION_SOLVER", "hashing")

from automation import job_with_texts, setup_django  # noqa: E402 (bench/automation.py, beside this file)

COMMON = "weather today some people say the city was quite busy and then everyone went home again later".split()
CLASS_WORDS = {"yes": "great lovely sunny warm happy".split(), "no": "awful grey cold rainy sad".split()}
TARGET_GROWTH = 1.5


def create_job(items: int, seed: int):
    """The job and the true label of each item id."""
    rng = random.Random(seed)
    truth = {}

    def texts():
        for i in range(items):
            label = rng.choice(["yes", "no"])
            # One text in ten is ambiguous: it carries words of both classes.
            words = rng.choices(COMMON, k=12) + rng.choices(CLASS_WORDS[label], k=2)
            if i % 10 == 0:
                words += rng.choices(CLASS_WORDS["no" if label == "yes" else "yes"], k=2)
            rng.shuffle(words)
            truth[f"t{i}"] = label
            yield f"t{i}", " ".join(words)

    job = job_with_texts(f"scale, {items} items", ["no", "yes"], texts(), items_per_microtask=10, redundancy=3)
    return job, truth


def prepare(items: int, seed: int) -> int:
    """The job, its features and a labelled first sample; returns the job id."""
    from tasks.automation import service
    from tasks.models import Item

    job, truth = create_job(items, seed)
    started = time.perf_counter()
    summary = service.automation_run(job.pk, seed=seed)  # computes the features and waits for people
    print(f"  {items} items: features in {time.perf_counter() - started:.1f}s ({summary.status})", flush=True)
    external = dict(Item.objects.filter(job=job).values_list("external_id", "pk"))
    sample = random.Random(seed).sample(sorted(truth), service.first_sample_size(job) * 3)
    service.human_results_write(job, {external[ext]: (truth[ext], 1.0) for ext in sample})
    return job.pk


def measure(job_id: int) -> None:
    """Runs in a fresh process: one automation round, then its wall time and this process's peak RSS."""
    from tasks.automation import service

    started = time.perf_counter()
    summary = service.automation_run(job_id, seed=1)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak,
                "taken": summary.taken_items,
                "timings": summary.timings,
                "status": summary.status,
            }
        )
    )


def run_measured(job_id: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(job_id)], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    handles = setup_django()
    try:
        if args.measure:
            measure(args.measure)
            return 0
        from tasks.models import Job

        small_items = max(args.items // 10, 1000)
        figures = {}
        for items in (small_items, args.items):
            job_id = prepare(items, args.seed)
            figures[items] = run_measured(job_id)
            f = figures[items]
            print(
                f"  {items} items: one round {f['seconds']:.1f}s, peak RSS {f['peak_mb']:.0f} MB,"
                f" took {f['taken']} items ({f['status']}); {', '.join(f'{k} {v:.1f}s' for k, v in f['timings'].items())}",
                flush=True,
            )
            Job.objects.filter(pk=job_id).delete()
        big, small = figures[args.items], figures[small_items]
        growth = big["peak_mb"] / small["peak_mb"]
        per_million = big["seconds"] * 1_000_000 / args.items
        print(
            f"peak RSS {growth:.2f} x the small job's (target < {TARGET_GROWTH}): "
            f"{'OK' if growth < TARGET_GROWTH else 'MISSED'}; {per_million:.0f}s per million items"
        )
        print(
            f"automation_scale items={args.items} run_s={big['seconds']:.1f} peak_rss_mb={big['peak_mb']:.0f}"
            f" small_items={small_items} small_run_s={small['seconds']:.1f} small_peak_rss_mb={small['peak_mb']:.0f}"
        )
    finally:
        from quorum import embedded

        embedded.stop_services(handles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
