"""Qualification tests: requesters create them and grant or revoke them; workers take them and, once they pass,
get the jobs that need the skill."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as PageClient
from django.utils import timezone
from rest_framework.test import APIClient

from tests import factories
from tests.scheduling import Client, run
from tests.workers_tests.test_work_socket import open_job
from workers.models import Qualification, QualificationAttempt, WorkerSkill

QUESTIONS = [
    {"prompt": "'Pomme' is?", "options": ["apple", "pear"], "answer": 0, "explanation": "Pomme is apple."},
    {"prompt": "'Poire' is?", "options": ["apple", "pear"], "answer": "pear", "explanation": "Poire is pear."},
    {"prompt": "'Cerise' is?", "options": ["cherry", "plum"], "answer": 0},
    {"prompt": "'Prune' is?", "options": ["cherry", "plum"], "answer": 1},
]
RIGHT = {"q0": "0", "q1": "1", "q2": "0", "q3": "1"}


def spec(**fields) -> dict:
    return (
        {"name": "French fruit", "skill": "french", "level": 2, "pass_mark": 0.75, "retry_hours": 12}
        | {"questions": QUESTIONS}
        | fields
    )


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def page_for(user) -> PageClient:
    client = PageClient()
    client.force_login(user)
    return client


def make_qualification(owner=None, **fields) -> Qualification:
    response = api_for(owner or factories.make_requester()).post("/api/qualifications/", spec(**fields), format="json")
    assert response.status_code == 201, response.json()
    return Qualification.objects.get(pk=response.json()["id"])


def skill_of(user):
    return WorkerSkill.objects.filter(worker__user=user, name="french").values_list("level", flat=True).first()


def test_a_requester_creates_a_qualification_and_bad_input_names_the_field(db):
    requester = factories.make_requester()
    qualification = make_qualification(requester)
    assert qualification.questions[1]["answer"] == 1  # named by its text, kept as an index
    assert qualification.skill == "french" and qualification.level == 2

    api = api_for(requester)
    bad = spec(skill="no spaces", pass_mark=1.5, retry_hours=-1)
    bad["questions"] = [{"prompt": "", "options": ["a"], "answer": 3}, {"prompt": "x" * 2000, "options": ["a", "b"]}]
    errors = api.post("/api/qualifications/", bad, format="json").json()
    assert set(errors) >= {
        "skill",
        "pass_mark",
        "retry_hours",
        "questions[0].prompt",
        "questions[0].options",
        "questions[0].answer",
        "questions[1].prompt",
        "questions[1].answer",
    }
    too_many = spec(questions=QUESTIONS * 13)
    assert "questions" in api.post("/api/qualifications/", too_many, format="json").json()
    assert Qualification.objects.count() == 1

    # Only requesters create; only the owner grants.
    worker = factories.make_worker()
    assert api_for(worker).post("/api/qualifications/", spec(), format="json").status_code == 403
    other = api_for(factories.make_requester())
    response = other.post(f"/api/qualifications/{qualification.pk}/grant/", {"usernames": [worker.username]})
    assert response.status_code == 404 and skill_of(worker) is None
    assert other.get("/api/qualifications/").json() == []


def test_grant_and_revoke_by_api_set_and_delete_the_skill(db):
    requester = factories.make_requester()
    qualification = make_qualification(requester)
    a, b = factories.make_worker(), factories.make_worker()
    api = api_for(requester)
    url = f"/api/qualifications/{qualification.pk}"
    response = api.post(f"{url}/grant/", {"usernames": [a.username, "nobody-here"]}, format="json")
    assert response.status_code == 400 and "nobody-here" in response.json()["usernames"][0]
    assert skill_of(a) is None  # all or nothing
    assert api.post(f"{url}/grant/", {"usernames": [a.username, b.username]}, format="json").json() == {"changed": 2}
    assert skill_of(a) == 2 and skill_of(b) == 2
    assert api.post(f"{url}/revoke/", {"usernames": [a.username]}, format="json").json() == {"changed": 1}
    assert skill_of(a) is None and skill_of(b) == 2
    assert api.post(f"{url}/grant/", {"usernames": "x"}, format="json").status_code == 400


def test_grant_and_revoke_by_csv_and_errors_name_the_line(db):
    requester = factories.make_requester()
    qualification = make_qualification(requester)
    a, b = factories.make_worker(), factories.make_worker()
    page = page_for(requester)

    def upload(text: str, action: str):
        file = SimpleUploadedFile("workers.csv", text.encode(), content_type="text/csv")
        return page.post("/qualifications/", {"qualification": qualification.pk, "action": action, "file": file})

    response = upload(f"username\n{a.username}\nghost\n", "grant")
    assert response.status_code == 400
    assert "line 3: No worker is called &#x27;ghost&#x27;." in response.content.decode()
    assert skill_of(a) is None
    assert "line 1" in upload("name\nx\n", "grant").content.decode()

    assert upload(f"username\n{a.username}\n{b.username}\n", "grant").status_code == 302
    assert skill_of(a) == 2 and skill_of(b) == 2
    assert upload(f"username\n{b.username}\n", "revoke").status_code == 302
    assert skill_of(b) is None
    listing = page.get("/qualifications/").content.decode()
    assert "French fruit" in listing and "french = 2" in listing
    assert page_for(a).get("/qualifications/").status_code == 403
    other = page_for(factories.make_requester())
    file = SimpleUploadedFile("workers.csv", f"username\n{a.username}\n".encode(), content_type="text/csv")
    assert (
        other.post(
            "/qualifications/", {"qualification": qualification.pk, "action": "revoke", "file": file}
        ).status_code
        == 404
    )
    assert page.post("/qualifications/", {"qualification": "abc", "action": "grant"}).status_code == 404
    assert skill_of(a) == 2


def test_an_attempt_scores_fails_below_the_pass_mark_waits_then_passes(db):
    qualification = make_qualification()
    worker = factories.make_worker()
    page = page_for(worker)
    url = f"/work/qualifications/{qualification.pk}/"
    assert "Pomme" in page.get(url).content.decode()

    failed = page.post(url, {"q0": "0", "q1": "1", "q2": "1"}).content.decode()  # 2 of 4: below 75%
    assert "Not passed: 50% right" in failed and "Poire is pear." in failed and "You can try again from" in failed
    assert skill_of(worker) is None
    assert "You can try again from" in page.post(url, RIGHT).content.decode()  # refused before the delay
    assert QualificationAttempt.objects.filter(worker=worker).count() == 1

    QualificationAttempt.objects.filter(worker=worker).update(created_at=hours_ago(13))
    passed = page.post(url, {**RIGHT, "q3": "0"}).content.decode()  # 3 of 4: exactly the pass mark
    assert "Passed: 75% right" in passed and "You passed this test" in passed
    assert skill_of(worker) == 2
    attempt = QualificationAttempt.objects.filter(worker=worker).latest("created_at")
    assert attempt.passed and attempt.score == 0.75 and attempt.answers == [0, 1, 0, 0]
    assert "already passed" in page.post(url, RIGHT).content.decode()


def hours_ago(hours: int):
    return timezone.now() - timedelta(hours=hours)


def test_the_board_links_the_job_owner_s_test(db):
    requester = factories.make_requester()
    make_qualification(level=5)  # another requester's, also high enough
    mine = make_qualification(requester)
    make_qualification(requester, level=1)  # too low for the job
    job = open_job(items=2, redundancy=1, owner=requester, required_skill="french", required_skill_level=2)
    board = page_for(factories.make_worker()).get("/work/jobs/").content.decode()
    assert f'href="/work/qualifications/{mine.pk}/"' in board and "Take the test" in board
    assert job.name in board


@pytest.mark.django_db(transaction=True)
def test_a_worker_who_passes_gets_the_job_s_microtasks_over_the_socket(db):
    requester = factories.make_requester()
    qualification = make_qualification(requester)
    job = open_job(items=2, redundancy=1, owner=requester, required_skill="french", required_skill_level=2)
    worker = factories.make_worker()
    page = page_for(worker)

    async def body():
        from asgiref.sync import sync_to_async

        client = await Client.open(worker)
        assert (await client.recv_type("task.none", "task.assigned"))["type"] == "task.none"
        # Passing in another tab: the live session reloads the worker's skills and gets work at once.
        response = await sync_to_async(page.post)(f"/work/qualifications/{qualification.pk}/", RIGHT)
        assert "Passed" in response.content.decode()
        task = await client.recv_type("task.assigned", timeout=10)
        assert task["job"]["id"] == job.pk
        await client.close()

    run(body)


def test_staff_see_qualifications_and_attempts_in_the_admin(db):
    qualification = make_qualification()
    staff = factories.make_requester()
    staff.is_staff = staff.is_superuser = True
    staff.save(update_fields=["is_staff", "is_superuser"])
    page = page_for(staff)
    assert "French fruit" in page.get("/admin/workers/qualification/").content.decode()
    assert page.get(f"/admin/workers/qualification/{qualification.pk}/change/").status_code == 200
    assert page.get("/admin/workers/qualificationattempt/").status_code == 200
