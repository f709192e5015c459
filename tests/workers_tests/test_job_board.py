"""The job board: a worker chooses a job, or any job; the demo job never crowds out real work."""

import pytest
from django.test import Client as PageClient

from tasks.models import JobWorker
from tests import factories
from tests.scheduling import Client, run
from tests.workers_tests.test_work_socket import key, open_job
from workers.models import WorkerProfile, WorkerSkill

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_who_chose_a_job_gets_only_that_job_s_microtasks(db):
    open_job(items=3, redundancy=1, priority=100)
    chosen = open_job(items=2, redundancy=1, priority=1)
    worker = factories.make_worker()

    async def body():
        client = await Client.open(worker, f"/ws/work/?job={chosen.pk}")
        jobs = set()
        for _ in range(2):
            task = await client.recv_type("task.assigned", timeout=10)
            jobs.add(task["job"]["id"])
            await client.submit(task, "apple", key())
        assert jobs == {chosen.pk}
        # That job has nothing left for them: no microtask of the other job comes instead.
        assert (await client.recv_type("task.none", "task.assigned"))["type"] == "task.none"
        await client.close()

    run(body)


def test_on_any_job_the_demo_job_waits_until_real_jobs_have_no_work(db):
    demo = open_job(items=2, redundancy=1, priority=100, demo=True)
    real = open_job(items=2, redundancy=1, priority=1)
    worker = factories.make_worker()

    async def body():
        client = await Client.open(worker)
        order = []
        for _ in range(4):
            task = await client.recv_type("task.assigned", timeout=10)
            order.append(task["job"]["id"])
            await client.submit(task, "apple", key())
        assert order == [real.pk, real.pk, demo.pk, demo.pk]
        await client.close()

    run(body)


def page_for(user) -> PageClient:
    client = PageClient()
    client.force_login(user)
    return client


def test_the_board_shows_pay_time_rate_what_is_left_and_the_qualification(db):
    plain = open_job(items=3, redundancy=1, reward="0.05", name="Label fruit fast")
    plain.median_seconds_per_item = 9.0
    plain.save(update_fields=["median_seconds_per_item"])
    skilled = open_job(items=2, redundancy=1, required_skill="french", required_skill_level=2, name="French fruit")
    blocked = open_job(items=2, redundancy=1, name="Blocked fruit")
    worker = factories.make_worker()
    JobWorker.objects.create(job=blocked, worker=worker, blocked=True, blocked_reason="failed gold checks")

    page = page_for(worker).get("/work/jobs/").content.decode()
    assert "Label fruit fast" in page and "French fruit" in page and "Blocked fruit" not in page
    row = page[page.index(f'data-job-id="{plain.pk}"') :].split("</tr>")[0]
    assert "USD 0.05" in row and "9 s" in row and "USD 20.00" in row  # 0.05 a microtask of 9 s: 20.00 an hour
    assert ">3<" in row and f"/work/?job={plain.pk}" in row
    french = page[page.index(f'data-job-id="{skilled.pk}"') :].split("</tr>")[0]
    assert "french" in french and "you have none" in french and "Work on this job" not in french

    WorkerSkill.objects.create(worker=WorkerProfile.objects.get(user=worker), name="french", level=3)
    french = page_for(worker).get("/work/jobs/").content.decode()
    assert "you have it" in french and f"/work/?job={skilled.pk}" in french


def test_the_work_page_says_which_job_and_ignores_a_job_the_worker_may_not_take(db):
    job = open_job(items=2, redundancy=1, name="Chosen fruit")
    worker = factories.make_worker()
    client = page_for(worker)
    page = client.get(f"/work/?job={job.pk}").content.decode()
    assert f'data-job="{job.pk}"' in page and "Working on <strong>Chosen fruit</strong> only" in page
    for wrong in ("999999", "abc", ""):
        page = client.get(f"/work/?job={wrong}").content.decode()
        assert "data-job=" not in page and "Working on any job" in page
    assert page_for(factories.make_requester()).get("/work/jobs/").status_code == 403


def test_choosing_a_job_gives_back_a_microtask_held_from_another_job(db):
    other = open_job(items=1, redundancy=1, priority=100)
    chosen = open_job(items=1, redundancy=1, priority=1)
    worker = factories.make_worker()

    async def body():
        anywhere = await Client.open(worker)
        held = await anywhere.recv_type("task.assigned", timeout=10)
        assert held["job"]["id"] == other.pk
        await anywhere.close()
        # Back within the reconnect grace, but on the job board's choice: the held microtask goes back.
        focused = await Client.open(worker, f"/ws/work/?job={chosen.pk}")
        revoked = await focused.recv_type("task.revoked", timeout=10)
        assert revoked["assignment_id"] == held["assignment"]["id"] and revoked["reason"] == "other_job"
        task = await focused.recv_type("task.assigned", timeout=10)
        assert task["job"]["id"] == chosen.pk
        await focused.close()

    run(body)
