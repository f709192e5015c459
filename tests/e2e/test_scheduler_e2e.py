"""The scheduler end to end: uvicorn processes, real WebSocket clients, PostgreSQL and Redis."""

import asyncio
import os
import signal
import time

import httpx
import pytest
from django.db import connection

from tasks import services
from tasks.models import Answer, Assignment, Microtask
from tasks.scheduling import pool
from tests import factories
from tests.servers import asgi_server, asgi_server_process

from .workers import SimWorker, token

pytestmark = pytest.mark.django_db(transaction=True)

INVARIANTS = {
    "done microtask without exactly answers_wanted answers": """
        SELECT count(*) FROM tasks_microtask m WHERE m.job_id = %(job)s AND m.status = 'done' AND m.answers_wanted <>
          (SELECT count(*) FROM tasks_assignment a WHERE a.microtask_id = m.id AND a.status = 'submitted')""",
    "more answers than wanted": "SELECT count(*) FROM tasks_microtask WHERE job_id = %(job)s AND answer_count > answers_wanted",
    "duplicate answers": """SELECT count(*) FROM (SELECT 1 FROM tasks_answer WHERE job_id = %(job)s
          GROUP BY assignment_id, item_id HAVING count(*) > 1) d""",
}


def violations(job_id: int, acked: list[int]) -> dict:
    found = {}
    with connection.cursor() as cur:
        for name, sql in INVARIANTS.items():
            cur.execute(sql, {"job": job_id})
            found[name] = cur.fetchone()[0]
    submitted = set(Assignment.objects.filter(job_id=job_id, status="submitted").values_list("id", flat=True))
    found["acknowledged but missing"] = len(set(acked) - submitted)
    return {k: v for k, v in found.items() if v}


def open_job(items: int, redundancy: int):
    job = factories.make_job(redundancy=redundancy)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(items)))
    services.job_publish(job)
    return job


@pytest.fixture
def statements_on_job_tables():
    """The servers started meanwhile run the scheduler's statements on each job's own table, as they do with more
    than 200 jobs stored (commit.sql, quorum_by_job_table)."""
    database = connection.settings_dict["NAME"]
    with connection.cursor() as cur:
        cur.execute(f'ALTER DATABASE "{database}" SET quorum.job_tables_on_cached_plans = 0')
    yield
    with connection.cursor() as cur:
        cur.execute(f'ALTER DATABASE "{database}" RESET quorum.job_tables_on_cached_plans')


def test_fifty_concurrent_workers_give_each_microtask_exactly_k_distinct_answers():
    fifty_workers_answer_forty_microtasks_three_times()


def test_the_same_with_the_statements_on_each_jobs_own_table(statements_on_job_tables):
    fifty_workers_answer_forty_microtasks_three_times()


def fifty_workers_answer_forty_microtasks_three_times():
    job = open_job(items=40, redundancy=3)
    keys = [token(factories.make_worker()) for _ in range(50)]
    with asgi_server() as url:
        ws_url = url.replace("http", "ws")

        async def crowd():
            return await asyncio.gather(*[SimWorker(k, [ws_url]).run(idle_timeout=4) for k in keys])

        workers = asyncio.run(crowd())
    acked = [a for w in workers for a in w.acked]
    assert Microtask.objects.filter(job=job, status="done").count() == 40
    assert Answer.objects.filter(job=job).count() == 120 == len(acked)
    for w in workers:
        assert len(w.tasks_seen) == len(set(w.tasks_seen)), "a worker got the same microtask twice"
    assert violations(job.pk, acked) == {}


def test_a_worker_on_one_process_gets_work_published_through_another(celery_worker_process):
    worker = factories.make_worker()
    requester = factories.make_requester()
    with asgi_server() as a, asgi_server() as b:
        headers = {"Authorization": f"Token {token(requester)}"}
        sim = SimWorker(token(worker), [a.replace("http", "ws")])

        async def scenario():
            task = asyncio.create_task(sim.run(idle_timeout=20, max_answers=2))
            await asyncio.sleep(1.5)  # the worker is connected to A and idle
            async with httpx.AsyncClient(base_url=b, headers=headers, timeout=30) as api:
                job = (await api.post("/api/jobs/", json={"name": "via B", "question_type": "single_choice",
                                                          "options": ["x", "y"], "redundancy": 1})).json()  # fmt: skip
                upload = (
                    await api.post(f"/api/jobs/{job['id']}/uploads/?filename=a.csv", content=b"text\none\ntwo\n")
                ).json()
                for _ in range(100):
                    if (await api.get(f"/api/uploads/{upload['id']}/")).json()["status"] == "done":
                        break
                    await asyncio.sleep(0.2)
                published_at = time.monotonic()
                assert (await api.post(f"/api/jobs/{job['id']}/publish/")).status_code == 200
            await task
            return published_at

        asyncio.run(scenario())
    assert sim.acked and sim.statuses[:2] == ["accepted", "accepted"]


def test_workers_of_a_killed_process_reconnect_to_another_and_lose_nothing():
    job = open_job(items=30, redundancy=2)
    keys = [token(factories.make_worker()) for _ in range(10)]
    with asgi_server_process() as (a, a_proc), asgi_server() as b:
        urls = [a.replace("http", "ws"), b.replace("http", "ws")]

        async def scenario():
            crowd = [SimWorker(k, urls, think=0.05) for k in keys]
            tasks = [asyncio.create_task(w.run(idle_timeout=6)) for w in crowd]
            while sum(len(w.acked) for w in crowd) < 15:
                await asyncio.sleep(0.05)
            os.kill(a_proc.pid, signal.SIGKILL)
            await asyncio.gather(*tasks)
            return crowd

        crowd = asyncio.run(scenario())
        # A pick the killed process made but never committed left Redis short of a slot; Celery beat runs this
        # every 15 s, then the remaining workers finish the job.
        pool.pools_reconcile(settle=0.2)

        async def finish():
            return await asyncio.gather(*[SimWorker(k, [urls[1]]).run(idle_timeout=4) for k in keys])

        crowd += asyncio.run(finish())
    acked = [x for w in crowd for x in w.acked]
    assert sum(w.reconnects for w in crowd) >= 10
    assert Microtask.objects.filter(job=job, status="done").count() == 30
    assert violations(job.pk, acked) == {}
