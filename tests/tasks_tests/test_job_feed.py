"""The requester's live job feed at /ws/jobs/<id>/: who may connect, the snapshot, and forwarded events."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from quorum import events
from quorum.asgi import application
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def headers_for(user=None) -> list:
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if user is not None:
        client = Client()
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return headers


def test_owner_gets_snapshot_then_progress_ingest_and_status_events():
    job = factories.make_job()
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(6, gold_every=3)))

    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/", headers=owner_headers)
        connected, _ = await communicator.connect()
        assert connected
        snapshot = await communicator.receive_json_from(timeout=5)
        layer = get_channel_layer()
        group = events.job_group(job.pk)
        progress = {"job_id": job.pk, "status": "open", "counts": {"answers": 5, "answers_per_minute": 5}}
        await layer.group_send(group, {"type": "job.progress", **progress})
        got_progress = await communicator.receive_json_from(timeout=5)
        await layer.group_send(group, {"type": "job.status", "job_id": job.pk, "status": "paused"})
        got_status = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return snapshot, got_progress, got_status

    owner_headers = headers_for(job.owner)
    snapshot, progress, status = async_to_sync(scenario)()
    assert snapshot["type"] == "job.snapshot"
    # 6 rows, gold every third (rows 0 and 3): 4 items of work in 4 microtasks of one item.
    assert snapshot["job"]["counts"]["items"] == 4
    assert snapshot["job"]["counts"]["items_done"] == 0
    assert snapshot["job"]["ingest"]["status"] == "done"
    assert snapshot["job"]["details"]["workers"] == []
    assert progress == {
        "type": "job.progress",
        "job_id": job.pk,
        "status": "open",
        "counts": {"answers": 5, "answers_per_minute": 5},
    }
    assert status == {"type": "job.status", "job_id": job.pk, "status": "paused"}


def test_another_requester_is_refused_with_4403_and_anonymous_with_4401():
    job = factories.make_job()
    other = factories.make_requester()
    worker = factories.make_worker()

    async def close_code(headers):
        communicator = WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/", headers=headers)
        await communicator.connect()
        message = await communicator.receive_output(timeout=5)
        await communicator.wait()
        return message

    for user, code in ((other, 4403), (worker, 4403), (None, 4401)):
        message = async_to_sync(close_code)(headers_for(user))
        assert message == {"type": "websocket.close", "code": code}


def test_a_refused_socket_that_asks_for_a_refresh_gets_nothing_but_the_close():
    job = factories.make_job(name="not yours")
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(6)))

    async def refused_then_asks(headers):
        communicator = WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/", headers=headers)
        await communicator.connect()
        await communicator.send_json_to({"type": "job.refresh"})
        close = await communicator.receive_output(timeout=5)
        after = await communicator.receive_nothing(timeout=1)
        await communicator.wait()
        return close, after

    for user in (factories.make_requester(), factories.make_worker(), None):
        close, nothing_more = async_to_sync(refused_then_asks)(headers_for(user))
        assert close["type"] == "websocket.close"
        assert nothing_more


def test_staff_may_watch_any_job():
    job = factories.make_job()
    staff = factories.make_requester()
    staff.is_staff = True
    staff.save()

    async def first_message(headers):
        communicator = WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/", headers=headers)
        await communicator.connect()
        message = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return message

    assert async_to_sync(first_message)(headers_for(staff))["job"]["id"] == job.pk


def test_progress_brings_a_details_refresh_after_a_burst(monkeypatch):
    from tasks import consumers

    monkeypatch.setattr(consumers, "DETAILS_EVERY", 0.3)
    job = factories.make_job()
    owner_headers = headers_for(job.owner)

    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/", headers=owner_headers)
        await communicator.connect()
        await communicator.receive_json_from()
        layer = get_channel_layer()
        for n in range(3):
            await layer.group_send(
                events.job_group(job.pk), {"type": "job.progress", "job_id": job.pk, "counts": {"answers": n}}
            )
        received = [await communicator.receive_json_from(timeout=5) for _ in range(4)]
        await communicator.disconnect()
        return received

    received = async_to_sync(scenario)()
    assert [m["type"] for m in received] == ["job.progress"] * 3 + ["job.details"]
    assert received[-1]["details"]["confidence_histogram"] == [0] * 10


def test_refresh_on_request_and_an_error_for_anything_else():
    job = factories.make_job()
    owner_headers = headers_for(job.owner)

    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/jobs/{job.pk}/", headers=owner_headers)
        await communicator.connect()
        await communicator.receive_json_from()
        await communicator.send_json_to({"type": "job.refresh"})
        details = await communicator.receive_json_from(timeout=5)
        await communicator.send_json_to({"type": "answer.submit"})
        error = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return details, error

    details, error = async_to_sync(scenario)()
    assert details["type"] == "job.details" and details["details"]["workers"] == []
    assert error["type"] == "error"
