"""A small text job the hashing solver learns quickly: each label has its own words, plus shared filler."""

import random

from tasks.automation import service
from tasks.models import Item, Job

from .. import factories

WORDS = {
    "apple": ["crisp", "orchard", "cider", "red", "pie"],
    "banana": ["peel", "yellow", "tropical", "bunch", "smoothie"],
    "cherry": ["stone", "blossom", "tart", "dark", "stem"],
}
FILLER = ["the", "a", "fresh", "market", "today", "bought", "some", "from", "with", "tasty"]


def fruit_text(label: str, rng: random.Random) -> str:
    words = rng.sample(WORDS[label], 3) + rng.sample(FILLER, 4)
    rng.shuffle(words)
    return " ".join(words)


def make_text_job(count: int = 240, gold_every: int = 0, seed: int = 0, **fields) -> tuple[Job, dict[int, str]]:
    """A published job with automation on; returns it and the true label of every item by id."""
    rng = random.Random(seed)
    labels = list(WORDS)
    rows = []
    for i in range(count):
        label = labels[i % 3]
        gold = label if gold_every and i % gold_every == 0 else ""
        rows.append({"id": f"t{i}", "text": fruit_text(label, rng), "label": label, "gold": gold})
    fields = {"automation_enabled": True, **fields}
    job = factories.make_job(**fields)
    factories.ingest_now(job, factories.csv_bytes(rows))
    job.refresh_from_db()
    job.status = Job.Status.OPEN
    job.save(update_fields=["status"])
    truth = {pk: data["label"] for pk, data in Item.objects.filter(job=job).values_list("pk", "data")}
    return job, truth


def answer_first(job: Job, truth: dict[int, str], count: int) -> list[int]:
    """People answer the ``count`` open ordinary microtasks served first (lowest rank)."""
    from tasks.models import Microtask

    indexes = list(
        Microtask.objects.filter(job=job, status="open", is_gold=False)
        .order_by("rank", "index")
        .values_list("index", flat=True)[:count]
    )
    ids = list(Item.objects.filter(job=job, microtask_index__in=indexes).values_list("pk", flat=True))
    service.human_results_write(job, {pk: (truth[pk], 1.0) for pk in ids})
    return ids
