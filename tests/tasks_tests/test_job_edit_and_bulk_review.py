"""A requester edits a job (what may change once work has begun) and reviews answers in bulk (one worker's, or a
results filter's), with a preview that moves nothing and counts what the real call does. Real PostgreSQL/Redis."""

from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tasks import services
from tasks.models import Answer, Assignment, Job, Microtask
from tests import factories
from workers.models import LedgerEntry

pytestmark = pytest.mark.django_db(transaction=True)


submitted = factories.submitted_assignment


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def job_with_items(owner=None, items=4, **fields) -> Job:
    job = factories.make_job(owner=owner, redundancy=1, reward="0.25", **fields)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(items)))
    services.job_publish(job)
    job.refresh_from_db()
    return job


# --- the edit rule -----------------------------------------------------------------------------------------------


def test_a_job_without_items_may_change_anything(requester):
    job = factories.make_job(owner=requester)
    client = api_for(requester)
    changed = client.patch(
        f"/api/jobs/{job.pk}/", {"options": ["x", "y"], "items_per_microtask": 3, "name": "New"}, format="json"
    )
    assert changed.status_code == 200, changed.json()
    assert services.job_fixed_fields(job) == {}


def test_once_workers_answered_the_questions_are_fixed_and_the_settings_still_change(requester):
    job = job_with_items(owner=requester)
    submitted(job, factories.make_worker(), job.microtasks.order_by("index").first())
    client = api_for(requester)
    for field, value in [("options", ["x", "y"]), ("question_type", "free_text"), ("items_per_microtask", 2)]:
        refused = client.patch(f"/api/jobs/{job.pk}/", {field: value}, format="json")
        assert refused.status_code == 400
        assert "cannot change once workers have answered" in refused.json()[field][0], refused.json()
    settings = {
        "name": "Renamed", "instructions": "Look closely.", "priority": 7, "reward": "0.30", "budget": "50",
        "target_confidence": 0.9, "max_answers": 3, "lease_seconds": 120,
    }  # fmt: skip
    changed = client.patch(f"/api/jobs/{job.pk}/", settings, format="json")
    assert changed.status_code == 200, changed.json()
    job.refresh_from_db()
    assert (job.name, job.instructions, job.priority, job.lease_seconds) == ("Renamed", "Look closely.", 7, 120)
    assert job.reward == Decimal("0.30") and job.options == ["apple", "banana", "cherry"]
    # The same options again are no change, and so no error.
    assert client.patch(f"/api/jobs/{job.pk}/", {"options": job.options}, format="json").status_code == 200


def test_the_edit_page_saves_settings_and_shows_fixed_fields_disabled_with_the_reason(requester):
    job = job_with_items(owner=requester)
    submitted(job, factories.make_worker(), job.microtasks.order_by("index").first())
    browser = Client()
    browser.force_login(requester)
    page = browser.get(f"/jobs/{job.pk}/edit/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "the questions cannot change once workers have answered" in html
    assert 'name="items_per_microtask"' in html and "disabled" in html
    sent = browser.post(
        f"/jobs/{job.pk}/edit/",
        {"name": "Fruit, again", "instructions": "Name the fruit.", "priority": "3", "reward": "0.5", "budget": "",
         "redundancy": "1", "max_answers": "", "target_confidence": "0.9", "lease_seconds": "200",
         "auto_accept_hours": "24", "items_per_microtask": "9"},
    )  # fmt: skip
    assert sent.status_code == 302 and sent["Location"] == f"/jobs/{job.pk}/"
    job.refresh_from_db()
    assert (job.name, job.instructions, job.priority, job.items_per_microtask) == (
        "Fruit, again",
        "Name the fruit.",
        3,
        1,
    )
    detail = browser.get(f"/jobs/{job.pk}/").content.decode()
    assert "Name the fruit." in detail and "Which fruit is it?" in detail and "apple, banana, cherry" in detail
    refused = browser.post(f"/jobs/{job.pk}/edit/", {"name": "x", "lease_seconds": "5"})
    assert refused.status_code == 200 and "lease_seconds must be between 10 and 86400" in refused.content.decode()


def test_only_the_owner_or_staff_may_edit_or_review(requester):
    job = job_with_items(owner=requester)
    stranger = factories.make_requester()
    browser = Client()
    browser.force_login(stranger)
    assert browser.get(f"/jobs/{job.pk}/edit/").status_code == 404
    assert browser.post(f"/jobs/{job.pk}/edit/", {"name": "mine"}).status_code == 404
    other = api_for(stranger)
    assert other.patch(f"/api/jobs/{job.pk}/", {"name": "mine"}, format="json").status_code == 404
    assert (
        other.post(f"/api/jobs/{job.pk}/review/", {"decision": "accept", "worker": 1}, format="json").status_code == 404
    )
    worker_client = api_for(factories.make_worker())
    assert (
        worker_client.post(
            f"/api/jobs/{job.pk}/review/", {"decision": "accept", "worker": 1}, format="json"
        ).status_code
        == 403
    )
    staff = factories.make_requester()
    staff.is_staff = True
    staff.save()
    assert api_for(staff).patch(f"/api/jobs/{job.pk}/", {"name": "checked"}, format="json").status_code == 200


# --- bulk review ---------------------------------------------------------------------------------------------------


def test_bulk_accept_of_one_worker_pays_each_assignment_once_and_leaves_reviewed_ones(requester):
    job = job_with_items(owner=requester)
    alice, bob = factories.make_worker(), factories.make_worker()
    microtasks = list(job.microtasks.order_by("index"))
    mine = [submitted(job, alice, m) for m in microtasks[:3]]
    theirs = submitted(job, bob, microtasks[3])
    services.assignment_review(mine[0], accepted=False)  # reviewed before: final
    client = api_for(requester)
    body = {"decision": "accept", "worker": alice.pk}
    preview = client.post(f"/api/jobs/{job.pk}/review/", {**body, "preview": True}, format="json").json()
    assert not LedgerEntry.objects.exists()
    assert Assignment.objects.filter(review="pending").count() == 3
    done = client.post(f"/api/jobs/{job.pk}/review/", body, format="json").json()
    assert preview == {**done, "preview": True}
    assert done == {"decision": "accept", "preview": False, "assignments": 2, "answers": 2, "microtasks": 2,
                    "amount": "0.50", "amount_text": "USD 0.50"}  # fmt: skip
    assert sorted(LedgerEntry.objects.values_list("assignment_id", flat=True)) == [mine[1].pk, mine[2].pk]
    again = client.post(f"/api/jobs/{job.pk}/review/", body, format="json").json()
    assert again["assignments"] == 0 and LedgerEntry.objects.count() == 2  # paid once
    mine[0].refresh_from_db()
    theirs.refresh_from_db()
    assert mine[0].review == "rejected" and theirs.review == "pending"


def test_bulk_reject_by_filter_reopens_the_microtasks_and_pays_nothing(requester):
    job = job_with_items(owner=requester)
    alice = factories.make_worker()
    microtasks = list(job.microtasks.order_by("index"))
    done = [submitted(job, alice, m) for m in microtasks]
    target = microtasks[1].items.first()
    client = api_for(requester)
    body = {"decision": "reject", "filter": {"q": target.data["text"]}}
    preview = client.post(f"/api/jobs/{job.pk}/review/", {**body, "preview": True}, format="json").json()
    assert preview["assignments"] == 1 and preview["amount"] == "0.25"
    assert Microtask.objects.get(pk=microtasks[1].pk).status == "done"
    result = client.post(f"/api/jobs/{job.pk}/review/", body, format="json").json()
    assert preview == {**result, "preview": True}
    reopened = Microtask.objects.get(pk=microtasks[1].pk)
    assert reopened.status == "open" and reopened.answer_count == 0
    assert not Answer.objects.get(assignment=done[1]).counts
    assert not LedgerEntry.objects.exists()
    assert Assignment.objects.filter(review="pending").count() == len(microtasks) - 1


def test_a_bulk_review_names_a_worker_or_a_filter(requester):
    job = job_with_items(owner=requester)
    client = api_for(requester)
    refused = client.post(f"/api/jobs/{job.pk}/review/", {"decision": "accept"}, format="json")
    assert refused.status_code == 400 and "worker" in refused.json()
    wrong = client.post(f"/api/jobs/{job.pk}/review/", {"decision": "maybe", "worker": 1}, format="json")
    assert wrong.status_code == 400 and "decision" in wrong.json()
