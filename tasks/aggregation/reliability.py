"""The job page's reliability picture: each categorical question's stated confidence against observed accuracy
on the job's gold items, so a requester can see whether to trust the confidences (docs/AGGREGATION.md).

A normal pass never gives a gold item a crowd result (its result is its gold, and its known answer teaches the
method about workers). Here every counting answer is aggregated once more with the question's method, each half of
the gold items judged by a run that knows only the other half (``calibration.aggregate_with_gold``, which is also
how a normal pass estimates the consensus error from gold), so gold items get a crowd result and a stated
confidence as any item would; each is then compared with its known answer and binned by stated confidence. The answers are read once, as in
``job_results_refresh``, and the picture is cached in Redis for a minute so reloading the page does not recompute.
"""

import json
import math

from quorum.redis import get_redis, key

from ..forms import Form
from ..models import Job
from .calibration import expected_calibration_error, reliability_bins
from .per_question import kind_of, method_of
from .service import estimates_key, read_job_answers, read_job_gold

# Below this many answered gold items the bins say little; the page says "not enough gold yet" instead.
MINIMUM_GOLD = 20
BINS = 10
CACHE_SECONDS = 60
# A page view computes the picture itself only for jobs up to this size: the pass reads every answer.
COMPUTE_NOW_ITEMS = 20_000


def _cache_key(job_id: int) -> str:
    return key("aggregation", "job", job_id, "reliability")


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 4)


def bin_sentence(low: float, high: float, accuracy: float, count: int) -> str:
    items = "item" if count == 1 else "items"
    return (
        f"Among results stated at {low:.1f}-{high:.1f}, {round(accuracy * 100)} % of gold items were right "
        f"({count} {items})"
    )


def calibration_sentence(method: str, estimates: dict | None) -> str:
    """How the question's confidence is set, from the last whole pass (docs/AGGREGATION.md, "Confidence")."""
    if not estimates or estimates.get("consensus_error") is None:
        return "Confidence is calibrated at the next results pass."
    chosen = estimates.get("chosen")
    parts = [f"{method} chose {chosen} by how well it predicts held-out answers" if chosen else f"Method {method}"]
    temperature = estimates.get("temperature")
    if temperature is not None and temperature < 1:
        parts.append(f"each answer counts {temperature:g} times what the model alone would give it")
    error = estimates["consensus_error"]
    if estimates.get("gold_items"):
        parts.append(
            f"gold items show the crowd wrong on {error:.0%} of the results it agrees on, so no result states more "
            f"than {1 - error:.0%}"
        )
    else:
        parts.append(
            f"without gold, {error:.0%} of the results the crowd agrees on are taken to be wrong (the prior; gold "
            "items measure it)"
        )
    return "; ".join(parts) + "."


def _question_picture(question, method: str, confidence: list[float], correct: list[float]) -> dict:
    table = reliability_bins(confidence, correct, BINS)
    bins = []
    for b, count in enumerate(table.counts.tolist()):
        if not count:
            continue
        low, high = b / BINS, (b + 1) / BINS
        accuracy = float(table.accuracy[b])
        bins.append(
            {
                "low": low,
                "high": high,
                "count": count,
                "mean_confidence": _number(table.confidence[b]),
                "accuracy": _number(accuracy),
                "text": bin_sentence(low, high, accuracy, count),
            }
        )
    gold_items = int(table.counts.sum())
    return {
        "name": question.name,
        "label": question.definition.get("label") or question.name,
        "method": method,
        "gold_items": gold_items,
        "enough_gold": gold_items >= MINIMUM_GOLD,
        "ece": _number(expected_calibration_error(confidence, correct, BINS)),
        "bins": bins,
    }


def gold_reliability_compute(job: Job) -> dict:
    """The picture, computed now: per categorical question, one pass that judges each half of the gold items
    without their gold, and how its confidence is calibrated (from the last whole pass)."""
    form = Form.for_job(job)
    categorical = [q for q in form.questions if q.plugin.aggregation == "categorical"]
    questions = []
    if categorical:
        gold = {item: form.values(value) for item, value in read_job_gold(job).items()}
        answers = read_job_answers(form, job.pk, None) if gold else None
        cached = get_redis().mget([estimates_key(job.pk, q.name) for q in categorical])
        for question, estimates in zip(categorical, cached, strict=True):
            method = method_of(question, job.aggregation_method)
            known = {item: values[question.name] for item, values in gold.items() if question.name in values}
            confidence: list[float] = []
            correct: list[float] = []
            if known and answers is not None:
                outcome = kind_of(question).whole(
                    question, method, answers.by_question[question.name], known, gold_items=True
                )
                for item, truth in known.items():
                    found = outcome.items.get(item)
                    if found is not None:
                        confidence.append(found.confidence)
                        correct.append(1.0 if question.same(found.result, truth) else 0.0)
            picture = _question_picture(question, method, confidence, correct)
            picture["calibration"] = calibration_sentence(method, json.loads(estimates) if estimates else None)
            questions.append(picture)
    return {"minimum_gold": MINIMUM_GOLD, "questions": questions}


def gold_reliability_refresh(job: Job) -> dict:
    picture = gold_reliability_compute(job)
    get_redis().set(_cache_key(job.pk), json.dumps(picture), ex=CACHE_SECONDS)
    return picture


def gold_reliability(job: Job, *, wait: bool = True) -> dict | None:
    """The picture, cached for a minute. On a miss it is computed now for a job of up to COMPUTE_NOW_ITEMS items
    (well under a second); a larger job's is computed by a Celery job, and None comes back meanwhile, unless
    ``wait`` (the API, whose caller asked for it) computes it now whatever the size."""
    cached = get_redis().get(_cache_key(job.pk))
    if cached:
        return json.loads(cached)
    if wait or job.item_count <= COMPUTE_NOW_ITEMS:
        return gold_reliability_refresh(job)
    from ..background import refresh_gold_reliability

    refresh_gold_reliability.delay(job.pk)
    return None
