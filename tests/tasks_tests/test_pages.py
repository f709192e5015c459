"""Who may open which page: a worker never sees results, a requester never another requester's job."""

import json

import pytest
from django.test import Client
from django.utils import timezone

from quorum.redis import get_redis
from tasks import services
from tasks.models import Answer, Assignment, JobWorker, Microtask
from tasks.scheduling.keys import control_channel
from tests import factories
from workers.models import WorkerProfile
from workers.services import worker_block, worker_unblock

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def job_with_answer():
    job = factories.make_job(redundancy=2)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(4)))
    job.refresh_from_db()
    services.job_publish(job)
    worker = factories.make_worker()
    microtask = Microtask.objects.get(job=job, index=0)
    now = timezone.now()
    assignment = Assignment.objects.create(
        microtask=microtask, job=job, worker=worker, status="submitted", leased_at=now, expires_at=now, submitted_at=now
    )
    item = microtask.items.get()
    Answer.objects.create(assignment=assignment, item=item, job=job, worker=worker, value="apple")
    return job, worker, assignment, item


def job_pages(job, item) -> list[str]:
    return [
        f"/jobs/{job.pk}/",
        f"/jobs/{job.pk}/results/",
        f"/jobs/{job.pk}/items/{item.pk}/",
    ]


def test_owner_opens_every_page_of_their_job(job_with_answer):
    job, _, _, item = job_with_answer
    client = client_for(job.owner)
    for url in ["/jobs/", "/jobs/new/", "/account/tokens/", *job_pages(job, item)]:
        assert client.get(url).status_code == 200, url


def test_another_requester_gets_404_on_every_job_page_and_action(job_with_answer):
    job, worker, assignment, item = job_with_answer
    client = client_for(factories.make_requester())
    for url in job_pages(job, item):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/jobs/{job.pk}/pause/").status_code == 404
    assert client.post(f"/jobs/{job.pk}/assignments/{assignment.pk}/review/", {"decision": "reject"}).status_code == 404
    assert client.post(f"/jobs/{job.pk}/workers/{worker.pk}/block/").status_code == 404
    job.refresh_from_db()
    assert job.status == "open"
    assert not WorkerProfile.objects.get(user=worker).blocked
    # Their dashboard does not list it either.
    assert job.name.encode() not in client.get("/jobs/").content


def test_a_worker_never_sees_results_or_the_console(job_with_answer):
    job, worker, _, item = job_with_answer
    client = client_for(worker)
    for url in ["/jobs/", "/jobs/new/", "/console/", "/console/operations.json", *job_pages(job, item)]:
        assert client.get(url).status_code == 403, url
    assert client.get(f"/api/jobs/{job.pk}/export/").status_code == 403
    assert client.get("/work/").status_code == 200


def test_requesters_cannot_open_the_worker_page_or_console_and_anonymous_users_sign_in(job_with_answer):
    job, _, _, item = job_with_answer
    requester = client_for(job.owner)
    assert requester.get("/work/").status_code == 403
    assert requester.get("/console/").status_code == 403
    anonymous = Client()
    for url in ["/jobs/", "/work/", "/console/", *job_pages(job, item)]:
        response = anonymous.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_item_text_is_escaped_on_results_and_item_pages():
    job = factories.make_job()
    factories.ingest_now(job, factories.csv_bytes([{"id": "a", "text": "<script>alert(1)</script>", "gold": ""}]))
    item = job.items.get()
    client = client_for(job.owner)
    for url in [f"/jobs/{job.pk}/results/", f"/jobs/{job.pk}/items/{item.pk}/"]:
        body = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    # The job page carries its snapshot as JSON data, not as script.
    body = client.get(f"/jobs/{job.pk}/").content.decode()
    assert '<script id="job-snapshot" type="application/json">' in body


def test_every_page_sends_the_strict_content_security_policy(job_with_answer):
    job, _, _, _ = job_with_answer
    response = client_for(job.owner).get(f"/jobs/{job.pk}/")
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert b"style=" not in response.content
    assert b"<script>" not in response.content


def test_rejecting_an_assignment_stops_its_answers_counting_and_is_final(job_with_answer):
    job, worker, assignment, item = job_with_answer
    client = client_for(job.owner)
    response = client.post(f"/jobs/{job.pk}/assignments/{assignment.pk}/review/", {"decision": "reject"})
    assert response.status_code == 302
    assert not Answer.objects.get(assignment=assignment).counts
    assignment.refresh_from_db()
    assert assignment.review == "rejected" and assignment.reviewed_at is not None
    response = client.post(f"/jobs/{job.pk}/assignments/{assignment.pk}/review/", {"decision": "accept"}, follow=True)
    assert b"was already rejected" in response.content
    assert not Answer.objects.get(assignment=assignment).counts


def test_accepting_an_assignment_pays_the_worker(job_with_answer):
    job, worker, assignment, item = job_with_answer
    # The reward the lease recorded is what acceptance pays (the job's reward may have changed since).
    Assignment.objects.filter(pk=assignment.pk).update(reward="0.25")
    response = client_for(job.owner).post(f"/jobs/{job.pk}/assignments/{assignment.pk}/review/", {"decision": "accept"})
    assert response.status_code == 302
    assert Answer.objects.get(assignment=assignment).counts
    # The worker's page shows what the accepted assignment earned.
    body = client_for(worker).get("/work/").content.decode()
    assert 'id="w-total">USD 0.25<' in body


def test_a_requester_blocks_a_worker_on_their_job_and_the_scheduler_is_told(job_with_answer):
    job, worker, assignment, _ = job_with_answer
    pubsub = get_redis().pubsub()
    pubsub.subscribe(control_channel())
    pubsub.get_message(timeout=2)  # the subscribe confirmation
    client = client_for(job.owner)
    response = client.post(f"/jobs/{job.pk}/workers/{worker.pk}/block/", {"next": f"/jobs/{job.pk}/"})
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    record = JobWorker.objects.get(job=job, worker=worker)
    assert record.blocked and record.blocked_reason == f"blocked by {job.owner.username}"
    assert not WorkerProfile.objects.get(user=worker).blocked  # other requesters' jobs are not affected
    assert not Answer.objects.get(assignment=assignment).counts
    messages = []
    while (message := pubsub.get_message(timeout=2)) is not None:
        messages.append(json.loads(message["data"]))
    assert {"type": "worker.changed", "worker_id": worker.pk} in messages
    pubsub.close()


def test_staff_block_covers_every_job_and_unblock_lets_the_worker_back(job_with_answer):
    job, worker, assignment, _ = job_with_answer
    worker_block(worker)
    assert WorkerProfile.objects.get(user=worker).blocked
    assert JobWorker.objects.get(job=job, worker=worker).blocked
    assert not Answer.objects.get(assignment=assignment).counts
    worker_unblock(worker)
    assert not WorkerProfile.objects.get(user=worker).blocked
    assert not JobWorker.objects.get(job=job, worker=worker).blocked


def test_a_staff_block_reaches_the_scheduler_even_for_a_worker_with_no_work_yet(db, django_capture_on_commit_callbacks):
    newcomer = factories.make_worker()
    pubsub = get_redis().pubsub()
    pubsub.subscribe(control_channel())
    pubsub.get_message(timeout=2)  # the subscribe confirmation
    with django_capture_on_commit_callbacks(execute=True):
        worker_block(newcomer)
    messages = []
    while (message := pubsub.get_message(timeout=2)) is not None:
        messages.append(json.loads(message["data"]))
    pubsub.close()
    assert {"type": "worker.changed", "worker_id": newcomer.pk} in messages


def test_the_admin_forms_leave_status_and_blocking_to_the_actions(job_with_answer):
    job, worker, _, _ = job_with_answer
    staff = factories.make_requester()
    staff.is_staff = staff.is_superuser = True
    staff.save(update_fields=["is_staff", "is_superuser"])
    client = client_for(staff)
    job_form = client.get(f"/admin/tasks/job/{job.pk}/change/").content.decode()
    assert 'name="status"' not in job_form and 'name="name"' in job_form
    profile = WorkerProfile.objects.get(user=worker)
    profile_form = client.get(f"/admin/workers/workerprofile/{profile.pk}/change/").content.decode()
    assert 'name="blocked"' not in profile_form and 'name="max_leases"' in profile_form


def test_a_requester_cannot_block_a_worker_who_never_worked_on_their_job(job_with_answer):
    job, _, _, _ = job_with_answer
    stranger = factories.make_worker()
    response = client_for(job.owner).post(f"/jobs/{job.pk}/workers/{stranger.pk}/block/")
    assert response.status_code == 403
    assert not WorkerProfile.objects.get(user=stranger).blocked


def test_pause_resume_cancel_from_the_job_page(job_with_answer):
    job, _, _, _ = job_with_answer
    client = client_for(job.owner)
    for action, status in (("pause", "paused"), ("resume", "open"), ("cancel", "cancelled")):
        assert client.post(f"/jobs/{job.pk}/{action}/").status_code == 302
        job.refresh_from_db()
        assert job.status == status
    # A cancelled job cannot be resumed: the page says why instead of failing.
    response = client.post(f"/jobs/{job.pk}/resume/", follow=True)
    assert b"a cancelled job cannot become open" in response.content


def test_signup_makes_a_worker_with_a_profile_and_lands_on_the_work_page(db):
    response = Client().post(
        "/signup/", {"username": "wendy", "password": factories.PASSWORD, "email": "w@example.com", "role": "worker"}
    )
    assert response.status_code == 302 and response["Location"] == "/work/"
    assert WorkerProfile.objects.filter(user__username="wendy").exists()


def test_worker_block_keeps_accepted_answers_counting(job_with_answer):
    _, worker, assignment, _ = job_with_answer
    services.assignment_review(assignment, True)
    worker_block(worker)
    assert Answer.objects.get(assignment=assignment).counts


def test_results_filters_by_confidence_disagreement_source_and_text():
    job = factories.make_job()
    rows = [
        {"id": f"k{i}", "text": f"kiwi {i}" if i < 2 else f"plum {i}", "gold": "apple" if i == 5 else ""}
        for i in range(6)
    ]
    factories.ingest_now(job, factories.csv_bytes(rows))
    items = {item.external_id: item for item in job.items.all()}
    for key, confidence, agreement, source in (
        ("k0", 0.99, 1.0, "human"),
        ("k1", 0.55, 0.5, "human"),
        ("k2", 0.97, 1.0, "machine"),
        ("k3", 0.6, 0.66, "machine"),
    ):
        item = items[key]
        item.result, item.confidence, item.agreement, item.result_source, item.answer_count = (
            "apple",
            confidence,
            agreement,
            source,
            3,
        )
        item.save()
    client = client_for(job.owner)

    def shown(**query) -> set[str]:
        page = client.get(f"/jobs/{job.pk}/results/", query).context["page"]
        return {item.external_id for item in page}

    assert shown() == {"k0", "k1", "k2", "k3", "k4", "k5"}
    assert shown(confidence_below="0.9") == {"k1", "k3"}
    assert shown(disagreement="1") == {"k1", "k3"}
    assert shown(source="machine") == {"k2", "k3"}
    assert shown(source="gold") == {"k5"}
    assert shown(q="kiwi") == {"k0", "k1"}
    assert shown(q="kiwi", disagreement="1") == {"k1"}
    assert shown(q="text") == set()  # a key name of the stored JSON is not text anyone sees
    assert shown(q="K3") == {"k3"}  # the id, in any case


def test_the_job_page_shows_each_workers_accuracy_with_its_interval_or_not_enough_answers(job_with_answer):
    job, worker, _, _ = job_with_answer
    newcomer = factories.make_worker()
    JobWorker.objects.create(job=job, worker=worker, answers=20, gold_total=11, gold_correct=9)
    JobWorker.objects.create(job=job, worker=newcomer, answers=2, gold_total=1, gold_correct=0)
    body = client_for(job.owner).get(f"/jobs/{job.pk}/").content.decode()
    snapshot = body.split('<script id="job-snapshot" type="application/json">')[1].split("</script>")[0]
    workers = {w["username"]: w for w in json.loads(snapshot)["details"]["workers"]}
    assert workers[worker.username]["accuracy_text"] == "82 % (52-95 %)"
    assert round(workers[worker.username]["accuracy"], 3) == 0.818  # the share itself, as before
    assert 0.52 < workers[worker.username]["accuracy_low"] < workers[worker.username]["accuracy_high"] < 0.95
    assert workers[newcomer.username]["accuracy_text"] == "not enough answers yet"
    assert workers[newcomer.username]["accuracy"] == 0.0


def test_a_workers_own_page_shows_their_accuracy_with_its_interval(db):
    worker = factories.make_worker()
    WorkerProfile.objects.filter(user=worker).update(gold_total=2, gold_correct=2)
    assert "not enough answers yet" in client_for(worker).get("/work/").content.decode()
    WorkerProfile.objects.filter(user=worker).update(gold_total=50, gold_correct=40)
    assert "80 % (67-89 %)" in client_for(worker).get("/work/").content.decode()
