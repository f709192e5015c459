"""The worker and job sockets against a real uvicorn server with real WebSocket clients: what a worker's browser
receives, sockets that drop while they open, many sockets of one worker, bad keys, bad frames."""

import asyncio
import json
import socket
import time
import uuid
from base64 import b64encode
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from quorum.redis import get_redis
from tasks import services
from tasks.models import Answer, Assignment, Microtask
from tasks.scheduling import keys, pool
from tests import factories
from tests.servers import asgi_server

from .workers import token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def ws_server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        with asgi_server(QUORUM_RECONNECT_GRACE_SECONDS=30) as url:
            yield url.replace("http://", "ws://")


def open_job(data: bytes, **fields):
    job = factories.make_job(**fields)
    factories.ingest_now(job, data)
    services.job_publish(job)
    return job


async def recv_type(ws, *types: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), timeout=max(0.01, deadline - time.monotonic())))
        if msg["type"] in types:
            return msg


def work_url(server: str, user) -> str:
    return f"{server}/ws/work/?token={token(user)}"


def deadlocks() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cur.fetchone()[0]


def live_leases(worker) -> int:
    return Assignment.objects.filter(worker=worker, status="leased", expires_at__gt=timezone.now()).count()


def test_a_worker_receives_only_the_columns_the_job_shows(ws_server):
    data = b"id,text,secret_col,gold\ni1,the text,s3cret value,\n"
    first, second = factories.make_worker(), factories.make_worker()
    only_text = open_job(data, redundancy=1, text_field="text", gold_field="gold", id_field="id")

    async def first_task(worker) -> tuple[dict, str]:
        async with websockets.connect(work_url(ws_server, worker)) as ws:
            while True:
                raw = await asyncio.wait_for(ws.recv(), timeout=10)
                if json.loads(raw)["type"] == "task.assigned":
                    return json.loads(raw), raw

    task, raw = asyncio.run(first_task(first))
    assert task["items"][0]["data"] == {"text": "the text"} and task["items"][0]["text"] == "the text"
    assert "s3cret" not in raw and "i1" not in raw
    services.job_cancel(only_text)

    # A job may show more columns: those arrive too, still never its id or gold columns.
    open_job(data, redundancy=1, text_field="text", shown_fields=["secret_col"], gold_field="gold", id_field="id")
    task, raw = asyncio.run(first_task(second))
    assert task["items"][0]["data"] == {"text": "the text", "secret_col": "s3cret value"}
    assert task["items"][0]["text"] == "text: the text\nsecret_col: s3cret value"
    assert '"i1"' not in raw


def handshake_and_drop(url: str) -> None:
    """Open a WebSocket (the HTTP upgrade) and close the TCP connection at once, reading nothing."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        request = (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {b64encode(uuid.uuid4().bytes).decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        sock.sendall(request.encode())
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST


def test_sockets_that_drop_while_opening_leave_no_session_behind(ws_server, settings):
    worker = factories.make_worker()
    open_job(factories.csv_bytes(factories.fruit_rows(3)), redundancy=1, lease_seconds=300)
    url = work_url(ws_server, worker)

    async def scenario():
        async with websockets.connect(url) as ws:
            await recv_type(ws, "task.assigned")  # the worker holds a 300 s lease
        for n in range(30):
            if n % 2:
                handshake_and_drop(url)
            else:
                ws = await websockets.connect(url)
                ws.transport.abort()
        await asyncio.sleep(2)

    asyncio.run(scenario())
    r = get_redis()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and r.zscore(keys.online(), worker.pk) is not None:
        time.sleep(0.2)
    assert r.zscore(keys.online(), worker.pk) is None, "the worker still shows online"
    assert int(r.get(keys.connections(worker.pk)) or 0) == 0
    lease = Assignment.objects.get(worker=worker, status="leased")
    # Cut back to the reconnect grace (30 s), not the lease's 300 s.
    assert (lease.expires_at - timezone.now()).total_seconds() <= 31


def test_fifty_sockets_of_one_worker_neither_deadlock_nor_pass_the_lease_limit(ws_server):
    worker = factories.make_worker()
    worker.worker_profile.max_leases = 3
    worker.worker_profile.save()
    open_job(factories.csv_bytes(factories.fruit_rows(200)), redundancy=1)
    url = work_url(ws_server, worker)
    before = deadlocks()

    async def crowd() -> list:
        sockets = await asyncio.gather(*(websockets.connect(url, open_timeout=20) for _ in range(50)))
        for ws in sockets:
            await recv_type(ws, "session.ready", timeout=20)
        await asyncio.sleep(1.5)  # let every socket fill up to what it may hold
        return sockets

    async def twice() -> int:
        # First with no lease held (each socket leases), then with three held (each socket resumes them).
        for _ in range(2):
            sockets = await crowd()
            held = await sync_to_async(live_leases)(worker)
            assert held <= 3, f"{held} live leases with a limit of 3"
            await asyncio.gather(*(ws.close() for ws in sockets))
            await asyncio.sleep(0.5)
        return held

    assert asyncio.run(twice()) == 3
    time.sleep(1)  # PostgreSQL reports statistics with a short delay
    assert deadlocks() == before


def test_a_nul_in_a_key_is_one_clear_error_and_nothing_else_suffers(ws_server):
    job = open_job(factories.csv_bytes(factories.fruit_rows(6)), redundancy=1)
    nul_sender, other = factories.make_worker(), factories.make_worker()

    async def scenario():
        async with (
            websockets.connect(work_url(ws_server, nul_sender)) as a,
            websockets.connect(work_url(ws_server, other)) as b,
        ):
            ta, tb = await recv_type(a, "task.assigned"), await recv_type(b, "task.assigned")

            def submit(task, key):
                answers = [{"item": i["id"], "value": "apple"} for i in task["items"]]
                return json.dumps(
                    {"type": "answer.submit", "key": key, "assignment_id": task["assignment"]["id"], "answers": answers}
                )

            # Sent in the same moment: the other worker's answer must not share the bad key's fate.
            await asyncio.gather(a.send(submit(ta, "bad\u0000key")), b.send(submit(tb, "good-key-b")))
            bad, good = await recv_type(a, "answer.ack"), await recv_type(b, "answer.ack")
            assert bad["status"] == "rejected" and bad["reason"] == "invalid" and "key" in bad["message"]
            assert good["status"] == "accepted"
            await a.send(submit(ta, "good-key-a"))
            assert (await recv_type(a, "answer.ack"))["status"] == "accepted"

    asyncio.run(scenario())
    assert Answer.objects.filter(job=job).count() == 2
    assert set(Assignment.objects.filter(job=job, status="submitted").values_list("idempotency_key", flat=True)) == {
        "good-key-a",
        "good-key-b",
    }


def test_the_job_feed_answers_bad_frames_with_an_error_and_stays_open(ws_server):
    job = open_job(factories.csv_bytes(factories.fruit_rows(2)), redundancy=1)
    url = f"{ws_server}/ws/jobs/{job.pk}/?token={token(job.owner)}"

    async def scenario():
        async with websockets.connect(url) as ws:
            await recv_type(ws, "job.snapshot")
            for frame in ("not json", "[1, 2]", '"text"', b"\x00\x01binary", "[" * 100_000):
                await ws.send(frame)
                error = await recv_type(ws, "error", "job.details")
                assert error["type"] == "error" and error["code"] in ("bad_json", "bad_frame"), frame
            await ws.send(json.dumps({"type": "job.refresh"}))
            assert (await recv_type(ws, "job.details"))["job_id"] == job.pk

    asyncio.run(scenario())


def redis_offers_again(job, microtasks) -> None:
    """Each microtask back in the job's pool with a free slot, as Redis holds it after losing writes in a failover."""
    r = get_redis()
    for mt in microtasks:
        r.hset(keys.slots(job.pk), mt.pk, 1)
        r.zadd(keys.pool(job.pk), {mt.pk: keys.pool_score(mt.rank, mt.index)})


def test_a_microtask_redis_offers_once_too_often_is_not_leased_past_its_redundancy(ws_server):
    """Writes lost in a Redis failover can leave the pool a slot that PostgreSQL has leased already. That lease is
    refused, so nobody works on an answer that would be turned away, and the microtask leaves the pool."""
    job = open_job(b"text\none\n", redundancy=1)
    first, second = factories.make_worker(), factories.make_worker()
    mt = Microtask.objects.get(job=job)
    r = get_redis()

    async def scenario() -> tuple[dict, dict, dict]:
        async with websockets.connect(work_url(ws_server, first)) as a:
            task = await recv_type(a, "task.assigned", "task.none")
            await sync_to_async(redis_offers_again)(job, [mt])  # the pick that took the slot is lost
            async with websockets.connect(work_url(ws_server, second)) as b:
                offered = await recv_type(b, "task.assigned", "task.none")
            answer = {"type": "answer.submit", "key": uuid.uuid4().hex, "assignment_id": task["assignment"]["id"],
                      "answers": [{"item": i["id"], "value": "apple"} for i in task["items"]]}  # fmt: skip
            await a.send(json.dumps(answer))
            return task, offered, await recv_type(a, "answer.ack")

    task, offered, ack = asyncio.run(scenario())
    assert task["type"] == "task.assigned" and task["assignment"]["microtask_id"] == mt.pk
    assert offered == {"type": "task.none", "reason": "no_work"}
    assert not Assignment.objects.filter(worker=second).exists()
    assert r.hget(keys.slots(job.pk), mt.pk) is None and r.zscore(keys.pool(job.pk), mt.pk) is None
    assert ack["status"] == "accepted"


def test_after_lost_writes_a_worker_still_gets_the_open_microtask_behind_those_the_pool_should_not_offer(ws_server):
    """Ahead of the one open microtask, Redis still offers six that PostgreSQL has done or fully leased (a failover
    lost the picks and answers): the worker is given the open one, not told there is no work."""
    job = open_job(factories.csv_bytes(factories.fruit_rows(8)), redundancy=1)
    microtasks = list(Microtask.objects.filter(job=job).order_by("index"))
    holder, worker = factories.make_worker(), factories.make_worker()
    now = timezone.now()
    for mt in microtasks[:3]:
        Assignment.objects.create(
            microtask=mt, job=job, worker=holder, leased_at=now, expires_at=now + timedelta(minutes=5)
        )
    Microtask.objects.filter(pk__in=[mt.pk for mt in microtasks[3:6]]).update(answer_count=1, status="done")
    Microtask.objects.filter(pk=microtasks[7].pk).update(status="cancelled")
    pool.jobs_sync()
    r = get_redis()
    r.delete(keys.loaded(job.pk))  # the window is rebuilt as Redis had it before: all eight offered
    assert pool.pool_fill(job.pk)
    redis_offers_again(job, microtasks[:6])

    async def first_offer() -> dict:
        async with websockets.connect(work_url(ws_server, worker)) as ws:
            return await recv_type(ws, "task.assigned", "task.none")

    offered = asyncio.run(first_offer())
    assert offered["type"] == "task.assigned" and offered["assignment"]["microtask_id"] == microtasks[6].pk
    assert [int(mt) for mt in r.zrange(keys.pool(job.pk), 0, -1)] == []
