"""Results of a form, question by question, against real PostgreSQL and Redis (docs/FORMS.md, Results)."""

import pytest

from tasks.aggregation.calibration import CONSENSUS_ERROR_PRIOR
from tasks.aggregation.service import items_results_refresh, job_results_refresh
from tasks.models import Item
from tests import factories
from tests.tasks_tests.test_aggregation_service import answer

pytestmark = pytest.mark.django_db

INSPECTION = [
    {"name": "quality", "type": "single_choice", "prompt": "Is the part damaged?", "options": ["ok", "damaged"]},
    {
        "name": "why",
        "type": "free_text",
        "prompt": "What is damaged?",
        "show_if": {"question": "quality", "equals": "damaged"},
    },
    {"name": "sharp", "type": "rating", "prompt": "How sharp is the photo?", "scale": 5},
]


def inspection_job(count: int, gold: dict[int, dict] | None = None, **fields):
    job = factories.make_form_job(INSPECTION, **fields)
    rows = []
    for i in range(count):
        known = (gold or {}).get(i, {})
        rows.append(
            {
                "id": f"p{i}",
                "text": f"part {i}",
                "gold_quality": known.get("quality", ""),
                "gold_why": known.get("why", ""),
                "gold_sharp": known.get("sharp", ""),
            }
        )
    upload = factories.ingest_now(job, factories.csv_bytes(rows))
    assert upload.status == "done", upload.error
    return job, list(Item.objects.filter(job=job).order_by("position"))


def fill(job, item, forms):
    for form in forms:
        answer(job, factories.make_worker(), item, form)


def test_each_question_gets_its_own_result_and_the_item_the_lowest_confidence_that_applies():
    job, (clean, scratched, outvoted) = inspection_job(3)
    fill(job, clean, [{"quality": "ok", "sharp": 4}] * 3)
    fill(
        job,
        scratched,
        [
            {"quality": "damaged", "why": "Scratch", "sharp": 2},
            {"quality": "damaged", "why": " scratch.", "sharp": 2},
            {"quality": "ok", "sharp": 3},
        ],
    )
    # One worker saw damage the others did not: their "why" has no say once the result is "ok".
    fill(
        job,
        outvoted,
        [
            {"quality": "ok", "sharp": 5},
            {"quality": "ok", "sharp": 5},
            {"quality": "damaged", "why": "dent", "sharp": 5},
        ],
    )

    summary = job_results_refresh(job.pk)

    assert summary.items_updated == 3 and summary.answers == 9 and summary.method == "form"
    clean, scratched, outvoted = (Item.objects.get(pk=i.pk) for i in (clean, scratched, outvoted))

    assert clean.result == {"quality": "ok", "why": None, "sharp": 4}
    assert clean.answer_count == 3 and clean.agreement == pytest.approx(1.0) and clean.result_method == "form"
    assert set(clean.results) == {"quality", "why", "sharp"}
    assert clean.results["why"] == {
        "result": None,
        "confidence": None,
        "method": "vote",
        "answers": 0,
        "agreement": None,
    }
    assert clean.results["quality"]["method"] == clean.results["sharp"]["method"] == "auto"
    assert clean.confidence == pytest.approx(
        min(clean.results["quality"]["confidence"], clean.results["sharp"]["confidence"]), abs=1e-4
    )

    assert scratched.result["quality"] == "damaged" and scratched.result["sharp"] == 2
    assert scratched.result["why"] in ("Scratch", "scratch.")
    why = scratched.results["why"]
    assert why["answers"] == 2 and why["agreement"] == 1.0
    assert why["confidence"] == pytest.approx(1 - CONSENSUS_ERROR_PRIOR, abs=1e-3)
    assert scratched.results["quality"]["agreement"] == pytest.approx(2 / 3, abs=1e-4)
    # The split questions make the item unsure: its confidence is the lowest of the three, which all apply.
    lowest = min(scratched.results[q]["confidence"] for q in ("quality", "why", "sharp"))
    assert scratched.confidence == pytest.approx(lowest, abs=1e-4) and scratched.confidence < 0.95
    assert scratched.agreement == pytest.approx(2 / 3)

    assert outvoted.result == {"quality": "ok", "why": None, "sharp": 5}
    hidden = outvoted.results["why"]
    assert hidden["result"] is None and hidden["confidence"] is None and hidden["answers"] == 1
    assert outvoted.confidence == pytest.approx(
        min(outvoted.results["quality"]["confidence"], outvoted.results["sharp"]["confidence"]), abs=1e-4
    )

    # Nothing new: the next pass leaves every item as it is.
    assert job_results_refresh(job.pk).items_updated == 0


def test_the_fast_pass_over_a_microtask_gives_the_whole_pass_results_per_question():
    job, items = inspection_job(4)
    forms = [{"quality": "damaged", "why": "bent", "sharp": 3}] * 2 + [{"quality": "ok", "sharp": 1}]
    for item in items[:3]:
        fill(job, item, forms)
    job_results_refresh(job.pk)  # caches each categorical question's worker estimates
    fill(job, items[3], forms)

    assert items_results_refresh(job.pk, [items[3].pk]) == 1

    fast, whole = Item.objects.get(pk=items[3].pk), Item.objects.get(pk=items[0].pk)
    assert fast.result == whole.result == {"quality": "damaged", "why": "bent", "sharp": 3}
    assert fast.answer_count == 3 and set(fast.results) == {"quality", "why", "sharp"}
    assert 0 < fast.confidence < 1


def test_gold_per_question_is_kept_and_teaches_the_method():
    job, items = inspection_job(2, gold={0: {"quality": "damaged", "why": "crack"}})
    fill(job, items[0], [{"quality": "damaged", "why": "crack", "sharp": 2}] * 2)
    fill(job, items[1], [{"quality": "ok", "sharp": 2}] * 2)
    summary = job_results_refresh(job.pk)
    gold_item = Item.objects.get(pk=items[0].pk)
    assert gold_item.gold == {"quality": "damaged", "why": "crack"}
    assert gold_item.result is None and gold_item.results is None  # gold items are never written
    assert Item.objects.get(pk=items[1].pk).result["quality"] == "ok"
    assert summary.worker_accuracy  # from the categorical questions


def test_the_job_method_applies_where_it_fits_each_question():
    job, items = inspection_job(1, aggregation_method="mv")
    fill(job, items[0], [{"quality": "ok", "sharp": 4}] * 2)
    job_results_refresh(job.pk)
    item = Item.objects.get(pk=items[0].pk)
    # mv is a categorical method: the choice and the rating use it, the free text keeps its vote.
    assert item.results["quality"]["method"] == item.results["sharp"]["method"] == "mv"
    assert item.results["why"]["method"] == "vote" and item.result_method == "form"
    assert item.confidence == pytest.approx(1 - CONSENSUS_ERROR_PRIOR, abs=1e-3)


def test_a_one_question_form_writes_bare_results_as_before():
    job = factories.make_form_job([{"name": "sharp", "type": "rating", "prompt": "How sharp?", "scale": 3}])
    assert factories.ingest_now(job, factories.csv_bytes([{"id": "a", "text": "x"}])).status == "done"
    item = Item.objects.get(job=job)
    fill(job, item, [2, 2, 3])
    job_results_refresh(job.pk)
    item.refresh_from_db()
    assert item.result == 2 and item.results is None and item.result_method == "auto"
    assert item.answer_count == 3 and item.agreement == pytest.approx(2 / 3)


def test_exports_carry_each_question_in_csv_columns_and_nested_in_json_lines():
    import csv
    import io
    import json

    from tasks import exports

    job = factories.make_form_job(
        [
            *INSPECTION,
            {"name": "parts", "type": "multiple_choice", "prompt": "Parts?", "options": ["lid", "base"]},
        ]
    )
    rows = [
        # An item column named like a result column is exported as item.<name>.
        {"id": f"p{i}", "text": f"part {i}", "quality.result": "from the file", "gold_quality": "", "gold_why": ""}
        for i in range(2)
    ]
    rows[1].update(gold_quality="damaged", gold_why="=crack")
    assert factories.ingest_now(job, factories.csv_bytes(rows)).status == "done"
    plain, gold = Item.objects.filter(job=job).order_by("position")
    fill(job, plain, [{"quality": "damaged", "why": "-dent", "sharp": 4, "parts": ["base", "lid"]}] * 3)
    job_results_refresh(job.pk)
    job.refresh_from_db()

    table = list(csv.DictReader(io.StringIO(b"".join(exports.export_csv(job, spreadsheet=True)).decode("utf-8-sig"))))
    header = list(table[0])
    # The gold columns are the form's known answers, not item data.
    assert header[:3] == ["id", "text", "item.quality.result"]
    for name in ("quality", "why", "sharp", "parts"):
        for column in ("result", "confidence", "method", "answer_count", "agreement"):
            assert f"{name}.{column}" in header
    first, second = table
    assert first["item.quality.result"] == "from the file"
    assert first["quality.result"] == "damaged" and first["sharp.result"] == "4"
    assert first["why.result"] == "'-dent"  # a formula start is quoted for spreadsheets
    assert first["parts.result"] == "lid|base"  # as the multiple-choice type writes a set of options
    assert first["sharp.method"] == "auto" and first["why.method"] == "vote" and first["sharp.answer_count"] == "3"
    assert float(first["quality.agreement"]) == 1.0 and first["source"] == "human" and first["answer_count"] == "3"
    assert float(first["confidence"]) == pytest.approx(Item.objects.get(pk=plain.pk).confidence)
    # The gold item: its known answers, confidence 1, source gold; its other questions have no result.
    assert second["quality.result"] == "damaged" and second["quality.confidence"] == "1.0"
    assert second["why.result"] == "'=crack" and second["source"] == "gold"
    assert second["sharp.result"] == "" and second["sharp.confidence"] == ""

    records = [json.loads(line) for line in b"".join(exports.export_jsonl(job)).splitlines()]
    assert records[0]["results"]["parts"] == {
        "result": ["lid", "base"], "confidence": pytest.approx(records[0]["results"]["parts"]["confidence"]),
        "method": "auto", "answer_count": 3, "agreement": 1.0,
    }  # fmt: skip
    assert records[0]["result"] == {"quality": "damaged", "why": "-dent", "sharp": 4, "parts": ["lid", "base"]}
    assert records[0]["item"]["quality.result"] == "from the file" and len(records[0]["answers"]) == 3
    assert records[1]["results"]["why"] == {
        "result": "=crack", "confidence": 1.0, "method": None, "answer_count": None, "agreement": None,
    }  # fmt: skip
    assert records[1]["source"] == "gold" and records[1]["result"] == {"quality": "damaged", "why": "=crack"}


def test_the_api_and_the_item_page_show_each_question(requester_api):
    from django.test import Client

    job, (item,) = inspection_job(1, owner=requester_api.user)
    fill(job, item, [{"quality": "damaged", "why": "<b>bent</b>", "sharp": 3}] * 2)
    job_results_refresh(job.pk)

    body = requester_api.get(f"/api/jobs/{job.pk}/items/").json()
    (row,) = body["results"]
    assert row["result"] == {"quality": "damaged", "why": "<b>bent</b>", "sharp": 3}
    assert row["results"]["sharp"]["answers"] == 2 and row["results"]["why"]["method"] == "vote"

    client = Client()
    client.force_login(requester_api.user)
    page = client.get(f"/jobs/{job.pk}/items/{item.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "question-results" in html and '<th scope="row">sharp</th>' in html
    assert "&lt;b&gt;bent&lt;/b&gt;" in html and "<b>bent</b>" not in html
    assert 'id="item-text"' in html and "part 0" in html  # the form's text block, though no text_field is set
