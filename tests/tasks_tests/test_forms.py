"""Forms (docs/FORMS.md): a job's display blocks and several questions, from the API to a worker's socket."""

import uuid

import pytest

from tasks import quality, services
from tasks.forms import Form
from tasks.models import Answer, Item, Job, JobWorker
from tests import factories
from tests.scheduling import Client, run

FORM = {
    "name": "Damaged parts",
    "instructions": "Look at each part.",
    "display": [{"type": "text", "column": "note", "label": "Note"}, {"type": "link", "column": "url"}],
    "questions": [
        {"name": "state", "type": "single_choice", "prompt": "Damaged?", "options": ["ok", "damaged"]},
        {"name": "why", "type": "free_text", "prompt": "Why?", "show_if": {"question": "state", "equals": "damaged"}},
        {"name": "sharp", "type": "rating", "prompt": "Sharp?", "scale": 5, "labels": ["blurry", "sharp"]},
        {"name": "screws", "type": "number", "min": 0, "max": 50, "integer": True, "required": False},
    ],
    "redundancy": 1,
}


def form_job(**fields) -> Job:
    settings = {k: v for k, v in FORM.items() if k not in ("display", "questions")}
    return factories.make_form_job(FORM["questions"], FORM["display"], **{**settings, **fields})


@pytest.mark.django_db
def test_the_api_takes_a_form_and_stores_it_checked(requester_api):
    response = requester_api.post("/api/jobs/", FORM, format="json")
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert [q["name"] for q in job.questions] == ["state", "why", "sharp", "screws"]
    assert job.questions[1]["show_if"] == {"question": "state", "equals": "damaged"}
    assert job.questions[0]["gold_column"] == "gold_state"  # several questions: one gold column each
    assert job.shown_fields == ["note", "url"]  # workers receive only what the blocks show
    schema = requester_api.get("/api/schema/?format=json").json()
    assert "display" in schema["components"]["schemas"]["Job"]["properties"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda f: f["questions"].append(dict(f["questions"][0])), "questions", "'state' is used by an earlier"),
        (
            lambda f: f["questions"][0].update(show_if={"question": "sharp", "equals": 3}),
            "questions",
            "not an earlier question",
        ),
        (lambda f: f["questions"][0].update(options=[]), "questions", "questions[0] 'state'.options"),
        (lambda f: f["questions"][2].update(type="slider"), "questions", "unknown question type 'slider'"),
        (
            lambda f: f["questions"][1].update(show_if={"question": "state", "equals": "broken"}),
            "questions",
            "'broken' can never be an answer to 'state'",
        ),
        (lambda f: f["display"].append({"type": "hologram", "column": "x"}), "display", "display[2].type"),
        (lambda f: f.update(media_origins=["javascript:alert(1)"]), "media_origins", "is not an origin"),
    ],
)
def test_a_bad_form_is_refused_naming_the_question_and_nothing_is_stored(requester_api, change, field, words):
    import copy

    body = copy.deepcopy(FORM)
    change(body)
    response = requester_api.post("/api/jobs/", body, format="json")
    assert response.status_code == 400
    assert words in str(response.json()[field])
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_the_old_single_question_fields_still_make_a_job(requester_api):
    response = requester_api.post(
        "/api/jobs/",
        {"name": "Old", "question": "Fruit?", "question_type": "single_choice", "options": ["a"], "text_field": "t"},
        format="json",
    )
    assert response.status_code == 400 and "at least two options" in str(response.json()["options"])
    job = Job(question_type="multiple_choice", question="Fruit?", options=["a", "b"], gold_field="known")
    form = Form.for_job(job)
    assert form.single and form.questions[0].name == "answer" and form.questions[0].gold_column == "known"


@pytest.mark.django_db
def test_intake_reads_gold_per_question_and_names_the_row_and_column_at_fault():
    job = form_job()
    rows = [
        {"id": "a", "note": "scratched lid", "url": "https://x.example/1", "gold_state": "damaged", "gold_sharp": "4"},
        {"id": "b", "note": "fine", "url": "https://x.example/2", "gold_state": "", "gold_sharp": ""},
    ]
    upload = factories.ingest_now(job, factories.csv_bytes(rows))
    assert upload.status == "done", upload.error
    gold = Item.objects.get(job=job, external_id="a")
    assert gold.gold == {"state": "damaged", "sharp": 4}
    assert "gold_state" not in gold.data  # known answers never sit in what workers receive

    bad = form_job()
    rows[1]["gold_sharp"] = "9"
    upload = factories.ingest_now(bad, factories.csv_bytes(rows))
    assert upload.status == "failed"
    assert upload.error["line"] == 3 and upload.error["field"] == "gold_sharp"
    assert "question 'sharp'" in upload.error["message"] and "1 to 5" in upload.error["message"]
    assert not Item.objects.filter(job=bad).exists()

    missing = form_job()
    upload = factories.ingest_now(missing, factories.csv_bytes([{"id": "a", "note": "no url column"}]))
    assert upload.status == "failed" and upload.error["field"] == "url" and upload.error["line"] == 2


@pytest.mark.django_db(transaction=True)
def test_a_worker_answers_a_form_and_each_rule_of_it_is_enforced(worker):
    job = form_job()
    rows = [{"id": "a", "note": "dented <b>lid</b>", "url": "https://x.example/1", "secret": "never shown"}]
    factories.ingest_now(job, factories.csv_bytes(rows))
    services.job_publish(job)

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        assert [q["name"] for q in task["job"]["questions"]] == ["state", "why", "sharp", "screws"]
        assert task["job"]["display"][0] == {"type": "text", "column": "note", "label": "Note"}
        assert task["items"][0]["data"] == {"note": "dented <b>lid</b>", "url": "https://x.example/1"}
        assert "gold" not in str(task["job"])

        async def submit(value):
            return await c.submit(task, value, uuid.uuid4().hex)

        hidden = await submit({"state": "ok", "why": "dents", "sharp": 3})
        assert hidden["status"] == "rejected" and "question 'why' is not shown" in hidden["message"]
        missing = await submit({"state": "damaged", "sharp": 3})
        assert missing["status"] == "rejected" and "question 'why' needs an answer" in missing["message"]
        out_of_range = await submit({"state": "damaged", "why": "dents", "sharp": 3, "screws": 51})
        assert "question 'screws'" in out_of_range["message"] and "at most 50" in out_of_range["message"]
        bare = await submit("damaged")
        assert "must be an object" in bare["message"]
        ok = await submit({"state": "damaged", "why": "dented lid", "sharp": 4.0})
        assert ok["status"] == "accepted"
        await c.close()

    run(body)
    answer = Answer.objects.get(job=job)
    assert answer.value == {"state": "damaged", "why": "dented lid", "sharp": 4}


def test_gold_counts_one_check_per_question_by_each_type_s_rule():
    job = Job(
        questions=[
            {"name": "state", "type": "single_choice", "options": ["ok", "damaged"], "gold_column": "g1"},
            {"name": "sharp", "type": "rating", "scale": 5, "labels": [], "gold_column": "g2"},
            {"name": "why", "type": "free_text", "max_length": 100, "gold_column": "g3"},
        ]
    )
    form = Form.for_job(job)
    gold = {"state": "damaged", "sharp": 4, "why": "Dented lid"}
    assert quality.gold_checks_of_answer(form, {"state": "damaged", "sharp": 2, "why": "dented  lid"}, gold) == (3, 2)
    assert quality.gold_checks_of_answer(form, {"state": "ok", "sharp": 4}, gold) == (3, 1)  # 'why' left out: wrong


@pytest.mark.django_db(transaction=True)
def test_gold_on_one_question_scores_the_worker_on_that_question(worker, monkeypatch):
    from tasks.scheduling import runtime

    monkeypatch.setattr(runtime, "gold_probability", lambda total, correct: 1.0)
    job = form_job(redundancy=1)
    rows = [{"id": "g", "note": "n", "url": "https://x.example/g", "gold_state": "damaged"}]
    factories.ingest_now(job, factories.csv_bytes(rows))
    services.job_publish(job)

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        ack = await c.submit(task, {"state": "ok", "sharp": 5}, uuid.uuid4().hex)
        assert ack["status"] == "accepted"
        await c.close()

    run(body)
    assignment_ids = list(job.assignments.values_list("id", flat=True))
    quality.gold_checks_record(assignment_ids)
    record = JobWorker.objects.get(job=job, worker=worker)
    assert (record.gold_total, record.gold_correct) == (1, 0)


@pytest.mark.django_db
def test_the_questions_cannot_change_once_items_exist_but_the_display_can(requester_api):
    job = form_job(owner=requester_api.user)
    factories.ingest_now(job, factories.csv_bytes([{"id": "a", "note": "n", "url": "https://x.example/1"}]))
    changed = [dict(q) for q in job.questions]
    changed[2]["scale"] = 7  # answers and gold name points of the old scale
    refused = requester_api.patch(f"/api/jobs/{job.pk}/", {"questions": changed}, format="json")
    assert refused.status_code == 400 and "cannot change once items exist" in str(refused.json()["questions"])
    display = [{"type": "markdown", "column": "note", "label": "Note"}]
    assert requester_api.patch(f"/api/jobs/{job.pk}/", {"display": display}, format="json").status_code == 200
    job.refresh_from_db()
    assert job.display[0]["type"] == "markdown" and job.shown_fields == ["note"]
