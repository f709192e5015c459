"""Annotation types (docs/ANNOTATION.md): what a requester sends is completed or refused, data rows are checked by the
type, and a worker's bad span, box or side is refused naming the item while the socket stays open."""

import uuid

import pytest

from tasks import services
from tasks.models import Answer, Job
from tests import factories
from tests.scheduling import Client, run

SPANS = {"name": "entities", "type": "spans", "prompt": "Mark names", "column": "text", "labels": ["PER", "LOC"]}
BOXES = {"name": "objects", "type": "boxes", "prompt": "Box the cars", "column": "photo", "labels": ["car"]}
PAIRS = {"name": "better", "type": "pairwise", "prompt": "Which is better?", "left": "a", "right": "b"}


def job_body(question: dict, **fields) -> dict:
    return {"name": "Annotate", "instructions": "", "questions": [question], "redundancy": 1, **fields}


@pytest.mark.django_db
def test_a_question_s_own_column_gets_a_display_block_when_the_job_names_none(requester_api):
    response = requester_api.post("/api/jobs/", job_body(SPANS), format="json")
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert job.display == [{"type": "text", "column": "text", "label": ""}]
    assert job.shown_fields == ["text"]

    pairs = requester_api.post("/api/jobs/", job_body(PAIRS), format="json").json()
    assert [b["column"] for b in pairs["display"]] == ["a", "b"]


@pytest.mark.django_db
def test_boxes_on_a_column_shown_as_text_are_refused_and_nothing_is_stored(requester_api):
    before = Job.objects.count()
    body = job_body(BOXES, display=[{"type": "text", "column": "photo"}])
    response = requester_api.post("/api/jobs/", body, format="json")
    assert response.status_code == 400
    assert "questions[0] 'objects'.column" in response.json()["questions"][0]
    assert "need an image block" in response.json()["questions"][0]
    assert Job.objects.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("question", "fault", "words"),
    [
        ({**SPANS, "labels": []}, "labels", "give 1 to 30 labels"),
        ({**SPANS, "column": ""}, "column", "must name a column"),
        ({**BOXES, "max_boxes": 0}, "max_boxes", "from 1 to 500"),
        ({**PAIRS, "right": "a"}, "right", "two different columns"),
        ({**PAIRS, "pairs": "all"}, "pairs", '"given"'),
    ],
)
def test_a_bad_annotation_definition_names_the_key(requester_api, question, fault, words):
    response = requester_api.post("/api/jobs/", job_body(question), format="json")
    assert response.status_code == 400
    message = response.json()["questions"][0]
    assert f".{fault}" in message and words in message, message


@pytest.mark.django_db
def test_intake_refuses_a_gold_span_past_the_text_and_a_pair_of_one_candidate_naming_line_and_column():
    spans = factories.make_form_job([SPANS], [{"type": "text", "column": "text"}])
    rows = [
        {"id": "1", "text": "Ada met Bob", "gold": '[{"start": 0, "end": 3, "label": "PER"}]'},
        {"id": "2", "text": "short", "gold": '[{"start": 0, "end": 9, "label": "PER"}]'},
    ]
    upload = factories.ingest_now(spans, factories.csv_bytes(rows))
    assert upload.status == "failed"
    assert (upload.error["line"], upload.error["field"]) == (3, "gold")
    assert "goes past the end of the text (5 characters)" in upload.error["message"]
    assert spans.items.count() == 0

    pairs = factories.make_form_job([PAIRS], [{"type": "text", "column": "a"}])
    rows = [{"a": "summary one", "b": "summary two"}, {"a": "same", "b": "same"}]
    upload = factories.ingest_now(pairs, factories.csv_bytes(rows))
    assert upload.status == "failed"
    assert (upload.error["line"], upload.error["field"]) == (3, "b")
    assert "compares 'same' with itself" in upload.error["message"]


@pytest.mark.django_db(transaction=True)
def test_a_worker_s_bad_span_box_or_side_is_refused_naming_the_item_and_the_socket_stays_open(worker):
    spans = factories.make_form_job([SPANS], [{"type": "text", "column": "text"}], redundancy=1)
    factories.ingest_now(spans, factories.csv_bytes([{"id": "s", "text": "Ada 👩 met Bob in Paris"}]))
    services.job_publish(spans)

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        assert task["job"]["claimed_columns"] == ["text"]
        item = task["items"][0]["id"]

        async def submit(value):
            return await c.submit(task, value, uuid.uuid4().hex)

        past = await submit([{"start": 18, "end": 30, "label": "LOC"}])
        assert past["status"] == "rejected" and past["reason"] == "invalid"
        assert f"item {item}:" in past["message"] and "past the end of the text (22 characters)" in past["message"]
        overlap = await submit([{"start": 0, "end": 3, "label": "PER"}, {"start": 2, "end": 5, "label": "LOC"}])
        assert "overlap" in overlap["message"]
        unknown = await submit([{"start": 0, "end": 3, "label": "ORG"}])
        assert "'ORG' is not one of" in unknown["message"]
        # Code points: "Paris" starts at 17 though the emoji takes two UTF-16 units in a browser.
        ok = await submit([{"start": 17, "end": 22, "label": "LOC"}, {"start": 0, "end": 3, "label": "PER"}])
        assert ok["status"] == "accepted"
        await c.close()

    run(body)
    assert Answer.objects.get(job=spans).value == [
        {"start": 0, "end": 3, "label": "PER"},
        {"start": 17, "end": 22, "label": "LOC"},
    ]
    assert "Ada 👩 met Bob in Paris"[17:22] == "Paris"


@pytest.mark.django_db(transaction=True)
def test_a_box_outside_the_image_or_without_area_and_a_side_that_does_not_exist_are_refused(worker):
    job = factories.make_form_job(
        [{**PAIRS, "name": "better"}, {**BOXES, "column": "photo"}],
        [{"type": "text", "column": "a"}, {"type": "text", "column": "b"}, {"type": "image", "column": "photo"}],
        redundancy=1,
    )
    row = {"a": "first", "b": "second", "photo": "https://img.example/1.png"}
    job.media_origins = ["https://img.example"]
    job.save(update_fields=["media_origins"])
    upload = factories.ingest_now(job, factories.csv_bytes([row]))
    assert upload.status == "done", upload.error
    services.job_publish(job)
    box = {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4, "label": "car"}

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")

        async def submit(value):
            return await c.submit(task, value, uuid.uuid4().hex)

        outside = await submit({"better": "left", "objects": [{**box, "x": 0.8}]})
        assert "box 1 lies outside the image" in outside["message"]
        flat = await submit({"better": "left", "objects": [{**box, "h": 0}]})
        assert "box 1 has zero area" in flat["message"]
        equal = await submit({"better": "equal", "objects": [box]})
        assert 'cannot be "equal"' in equal["message"]
        middle = await submit({"better": "middle", "objects": [box]})
        assert "must name a side" in middle["message"]
        ok = await submit({"better": "right", "objects": [box]})
        assert ok["status"] == "accepted"
        await c.close()

    run(body)
    assert Answer.objects.get(job=job).value == {"better": "right", "objects": [box]}


@pytest.mark.django_db
def test_a_job_of_drawn_pairs_asks_each_pair_once_whatever_the_request_says(requester_api):
    drawn = {"name": "rank", "type": "pairwise", "pairs": "drawn", "candidate_column": "title"}
    response = requester_api.post("/api/jobs/", job_body(drawn, redundancy=3, max_answers=5), format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["redundancy"], response.json()["max_answers"]) == (1, None)
    job_id = response.json()["id"]
    changed = requester_api.patch(f"/api/jobs/{job_id}/", {"redundancy": 4}, format="json")
    assert changed.status_code == 200 and changed.json()["redundancy"] == 1
    given = requester_api.post("/api/jobs/", job_body(PAIRS, redundancy=3), format="json").json()
    assert given["redundancy"] == 3  # given pairs keep the requester's redundancy
