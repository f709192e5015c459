"""The worker WebSocket (docs/PROTOCOL.md) against the real ASGI app, PostgreSQL and Redis."""

import json
import uuid

import pytest
from asgiref.sync import sync_to_async

from quorum.redis import get_redis
from tasks import quality, services
from tasks.models import Answer, Assignment, Job, JobWorker, Microtask
from tasks.scheduling import keys, leases, runtime
from tests import factories
from tests.scheduling import Client, run
from workers.models import WorkerSkill

pytestmark = pytest.mark.django_db(transaction=True)


def open_job(items=4, **fields):
    job = factories.make_job(**fields)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(items)))
    services.job_publish(job)
    return job


def key() -> str:
    return uuid.uuid4().hex


def test_worker_gets_a_task_and_the_answer_is_committed_before_the_ack(worker):
    job = open_job(items=3, redundancy=1)

    async def body():
        c = await Client.open(worker)
        ready = await c.recv()
        assert ready["type"] == "session.ready" and ready["worker"]["id"] == worker.pk
        task = await c.recv_type("task.assigned")
        assert task["job"]["question"] == "Which fruit is it?" and task["job"]["options"] == [
            "apple",
            "banana",
            "cherry",
        ]
        assert task["items"][0]["text"].startswith("item number")
        ack = await c.submit(task, "apple", "k1")
        assert ack == {
            "type": "answer.ack",
            "key": "k1",
            "assignment_id": task["assignment"]["id"],
            "status": "accepted",
        }
        stored = await sync_to_async(list)(
            Answer.objects.filter(assignment_id=task["assignment"]["id"]).values_list("value", flat=True)
        )
        assert stored == ["apple"]
        following = await c.recv_type("task.assigned")
        assert following["assignment"]["microtask_id"] != task["assignment"]["microtask_id"]
        await c.close()

    run(body)
    assert Microtask.objects.filter(job=job, status="done").count() == 1


def test_a_resent_submit_is_acknowledged_once_and_stored_once(worker):
    open_job(items=2, redundancy=1)

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        first = await c.submit(task, "banana", "same-key")
        await c.recv_type("task.assigned")
        second = await c.submit(task, "banana", "same-key")
        assert first["status"] == "accepted" and second["status"] == "duplicate"
        # Another key is a second answer to the same microtask, not a resend: refused, and said so.
        other = await c.submit(task, "cherry", "other-key")
        assert other["status"] == "rejected" and other["reason"] == "already_answered"
        await c.close()
        return task["assignment"]["id"]

    assignment_id = run(body)
    assert Answer.objects.filter(assignment_id=assignment_id).count() == 1


def test_invalid_answers_are_rejected_with_a_reason(worker):
    open_job(items=2, redundancy=1)

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        bad_option = await c.submit(task, "mango", key())
        assert bad_option["status"] == "rejected" and bad_option["reason"] == "invalid"
        assert "must be one of the options" in bad_option["message"]
        await c.send({"type": "answer.submit", "key": key(), "assignment_id": task["assignment"]["id"], "answers": []})
        missing = await c.recv_type("answer.ack")
        assert missing["status"] == "rejected" and "every item" in missing["message"]
        await c.send({"type": "answer.submit", "key": key(), "assignment_id": 987654, "answers": []})
        foreign = await c.recv_type("answer.ack")
        assert foreign["reason"] == "not_your_lease"
        await c.send({"type": "no.such"})
        assert (await c.recv_type("error"))["code"] == "unknown_type"
        ok = await c.submit(task, "cherry", key())
        assert ok["status"] == "accepted"
        await c.close()

    run(body)


def test_only_signed_in_workers_may_connect(requester):
    async def body():
        anonymous = Client(None)
        from channels.testing import WebsocketCommunicator

        from quorum.asgi import application

        anonymous.ws = WebsocketCommunicator(application, "/ws/work/")
        await anonymous.ws.connect()
        assert (await anonymous.ws.receive_output(5)) == {"type": "websocket.close", "code": 4401}
        as_requester = await Client.open(requester)
        await as_requester.send({"type": "task.request"})
        assert (await as_requester.ws.receive_output(5)) == {"type": "websocket.close", "code": 4403}
        # What a refused socket sends before the close takes effect is ignored, not served nor an error.
        assert await as_requester.silent(1.0)
        await as_requester.ws.wait()

    run(body)


def test_an_unknown_token_or_a_deactivated_workers_token_is_refused(worker):
    async def body():
        from channels.testing import WebsocketCommunicator

        from quorum.asgi import application

        stranger = WebsocketCommunicator(application, "/ws/work/?token=not-a-token")
        await stranger.connect()
        assert (await stranger.receive_output(5)) == {"type": "websocket.close", "code": 4401}
        await sync_to_async(type(worker).objects.filter(pk=worker.pk).update)(is_active=False)
        gone = await Client.open(worker)
        assert (await gone.ws.receive_output(5)) == {"type": "websocket.close", "code": 4401}

    run(body)


def test_a_worker_blocked_on_one_job_gets_work_only_from_the_others(db):
    blocked_job, other_job = open_job(items=2, redundancy=1), open_job(items=2, redundancy=1)
    worker = factories.make_worker()
    JobWorker.objects.create(job=blocked_job, worker=worker, blocked=True, blocked_reason="failed gold checks")

    async def body():
        client = await Client.open(worker)
        jobs = set()
        for _ in range(2):
            task = await client.recv_type("task.assigned", timeout=10)
            jobs.add(task["job"]["id"])
            await client.submit(task, "apple", key())
        assert jobs == {other_job.pk}
        assert (await client.recv_type("task.none", "task.assigned"))["type"] == "task.none"
        await client.close()

    run(body)


def test_redundancy_goes_to_distinct_workers_and_in_progress_microtasks_first(db):
    job = open_job(items=3, redundancy=2)
    w1, w2, w3 = (factories.make_worker() for _ in range(3))

    async def body():
        clients = [await Client.open(w) for w in (w1, w2, w3)]
        tasks = [await c.recv_type("task.assigned") for c in clients]
        ids = [t["assignment"]["microtask_id"] for t in tasks]
        # One microtask collects both of its answers before a second one starts (whoever asked first).
        first = max(set(ids), key=ids.count)
        assert sorted(ids.count(i) for i in set(ids)) == [1, 2]
        second = next(i for i in ids if i != first)
        holder = ids.index(first)
        await clients[holder].submit(tasks[holder], "apple", key())
        following = await clients[holder].recv_type("task.assigned")
        # Next: the microtask already in progress, never the one just answered.
        assert following["assignment"]["microtask_id"] == second
        for c in clients:
            await c.close()

    run(body)
    assert (
        Assignment.objects.filter(job=job).values("microtask", "worker").distinct().count()
        == Assignment.objects.filter(job=job).count()
    )


def test_skip_gives_the_lease_back_and_is_never_offered_again(worker):
    open_job(items=2, redundancy=1)
    other = factories.make_worker()

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        await c.send({"type": "task.skip", "assignment_id": task["assignment"]["id"]})
        revoked = await c.recv_type("task.revoked")
        assert revoked["reason"] == "skipped"
        nxt = await c.recv_type("task.assigned")
        assert nxt["assignment"]["microtask_id"] != task["assignment"]["microtask_id"]
        await c.submit(nxt, "apple", key())
        assert (await c.recv_type("task.none", "task.assigned"))["type"] == "task.none"
        o = await Client.open(other)
        got = await o.recv_type("task.assigned")
        assert got["assignment"]["microtask_id"] == task["assignment"]["microtask_id"]
        for x in (c, o):
            await x.close()

    run(body)


def test_pausing_stops_new_leases_at_once_but_takes_answers_in_flight(worker):
    job = open_job(items=3, redundancy=1)

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        await sync_to_async(services.job_pause)(job)
        ack = await c.submit(task, "apple", key())
        assert ack["status"] == "accepted", ack
        assert (await c.recv_type("task.none", "task.assigned"))["type"] == "task.none"
        await sync_to_async(services.job_resume)(job)
        assert (await c.recv_type("task.assigned"))["job"]["id"] == job.pk
        await c.close()

    run(body)


def test_a_job_that_needs_a_skill_goes_only_to_workers_who_have_it(db):
    open_job(items=2, redundancy=1, required_skill="french", required_skill_level=2)
    novice, expert = factories.make_worker(), factories.make_worker()
    WorkerSkill.objects.create(worker=novice.worker_profile, name="french", level=1)
    WorkerSkill.objects.create(worker=expert.worker_profile, name="french", level=3)

    async def body():
        n = await Client.open(novice)
        assert (await n.recv_type("task.none", "task.assigned"))["type"] == "task.none"
        e = await Client.open(expert)
        assert (await e.recv_type("task.none", "task.assigned"))["type"] == "task.assigned"
        await n.close()
        await e.close()

    run(body)


def test_priority_is_weighted_and_low_priority_still_progresses(worker):
    high = open_job(items=150, redundancy=1, priority=9)
    low = open_job(items=150, redundancy=1, priority=1)

    async def body():
        c = await Client.open(worker)
        seen = {high.pk: 0, low.pk: 0}
        for _ in range(100):
            task = await c.recv_type("task.assigned")
            seen[task["job"]["id"]] += 1
            await c.submit(task, "apple", key())
        await c.close()
        return seen

    seen = run(body)
    assert seen[high.pk] > 70
    assert seen[low.pk] >= 2


def test_an_expired_lease_is_rerouted_and_a_late_answer_never_exceeds_redundancy(db):
    job = open_job(items=1, redundancy=1)
    w1, w2 = factories.make_worker(), factories.make_worker()

    async def body():
        c1 = await Client.open(w1)
        task = await c1.recv_type("task.assigned")
        c2 = await Client.open(w2)
        assert (await c2.recv_type("task.none"))["reason"] == "no_work"
        await sync_to_async(Assignment.objects.filter(pk=task["assignment"]["id"]).update)(expires_at=task_time_past())
        assert await sync_to_async(leases.leases_expire)() == 1
        revoked = await c1.recv_type("task.revoked")
        assert revoked == {"type": "task.revoked", "assignment_id": task["assignment"]["id"], "reason": "expired"}
        rerouted = await c2.recv_type("task.assigned")
        assert rerouted["assignment"]["microtask_id"] == task["assignment"]["microtask_id"]
        assert (await c2.submit(rerouted, "apple", key()))["status"] == "accepted"
        late = await c1.submit(task, "banana", key())
        assert late["status"] == "rejected" and late["reason"] == "no_longer_needed"
        await c1.close()
        await c2.close()

    run(body)
    mt = Microtask.objects.get(job=job)
    assert mt.answer_count == 1 and Answer.objects.filter(item__job=job).count() == 1


def test_a_late_answer_is_taken_while_the_microtask_still_needs_answers(worker):
    job = open_job(items=1, redundancy=2)

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        await sync_to_async(Assignment.objects.filter(pk=task["assignment"]["id"]).update)(expires_at=task_time_past())
        await sync_to_async(leases.leases_expire)()
        await c.recv_type("task.revoked")
        late = await c.submit(task, "apple", key())
        assert late["status"] == "accepted"
        await c.close()

    run(body)
    assert Microtask.objects.get(job=job).answer_count == 1


def task_time_past():
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(seconds=1)


def test_a_reload_within_the_grace_period_resumes_the_same_lease(worker, settings):
    open_job(items=2, redundancy=1)

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        await c.close()
        again = await Client.open(worker)
        resumed = await again.recv_type("task.assigned")
        assert resumed["assignment"]["id"] == task["assignment"]["id"]
        assert resumed["items"] == task["items"]
        await again.close()
        return task["assignment"]["id"]

    assignment_id = run(body)
    assignment = Assignment.objects.get(pk=assignment_id)
    # After the last socket closed, the lease is held only for the grace period.
    remaining = (assignment.expires_at - assignment.leased_at).total_seconds()
    assert assignment.status == "leased" and remaining < 60


def test_scheduling_resumes_from_postgresql_after_redis_loses_its_state(db):
    job = open_job(items=6, redundancy=2)
    w1, w2 = factories.make_worker(), factories.make_worker()

    async def body():
        c1 = await Client.open(w1)
        t = await c1.recv_type("task.assigned")
        await c1.submit(t, "apple", key())
        answered = {t["assignment"]["microtask_id"]}
        r = get_redis()
        r.delete(*r.scan_iter(f"{keys.prefix()}*"))
        for _ in range(5):
            t = await c1.recv_type("task.assigned")
            assert t["assignment"]["microtask_id"] not in answered
            answered.add(t["assignment"]["microtask_id"])
            assert (await c1.submit(t, "apple", key()))["status"] == "accepted"
        c2 = await Client.open(w2)
        for _ in range(6):
            t = await c2.recv_type("task.assigned")
            assert (await c2.submit(t, "banana", key()))["status"] == "accepted"
        await c1.close()
        await c2.close()

    run(body)
    assert Microtask.objects.filter(job=job, status="done").count() == 6
    assert Answer.objects.filter(job=job).count() == 12


def test_gold_answers_never_reach_the_browser(worker, monkeypatch):
    monkeypatch.setattr(runtime, "gold_probability", lambda total, correct: 1.0)
    job = factories.make_job(redundancy=1)
    factories.ingest_now(job, b"id,text,gold\ng1,known item,cherry\nu1,unknown item,\n")
    services.job_publish(job)

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        assert task["items"][0]["data"] == {"text": "known item"}  # the shown column only
        assert set(task["items"][0]) == {"id", "data", "text", "media"}  # media: {} (no media blocks)
        assert "gold" not in json.dumps(task)
        await c.close()

    run(body)


def test_a_worker_holds_at_most_their_lease_limit(worker):
    open_job(items=5, redundancy=1)
    worker.worker_profile.max_leases = 2
    worker.worker_profile.save()

    async def body():
        c = await Client.open(worker)
        first = await c.recv_type("task.assigned")
        second = await c.recv_type("task.assigned")
        assert first["assignment"]["microtask_id"] != second["assignment"]["microtask_id"]
        assert await c.silent(0.5)
        await c.submit(first, "apple", key())
        third = await c.recv_type("task.assigned")
        assert third["assignment"]["microtask_id"] not in {
            first["assignment"]["microtask_id"],
            second["assignment"]["microtask_id"],
        }
        await c.close()

    run(body)


def test_the_jobs_group_gets_live_counts_as_answers_arrive(worker):
    from channels.layers import get_channel_layer

    from quorum import events

    job = open_job(items=3, redundancy=1)

    async def body():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(events.job_group(job.pk), channel)
        c = await Client.open(worker)
        for _ in range(2):
            task = await c.recv_type("task.assigned")
            await c.submit(task, "apple", key())
        while True:
            event = await layer.receive(channel)
            if event["type"] == "job.progress" and event["counts"].get("answers") == 2:
                break
        assert event["job_id"] == job.pk
        assert event["counts"]["microtasks_done"] == 2 and event["counts"]["items_done"] == 2
        assert event["counts"]["workers_active"] == 1 and event["counts"]["answers_per_minute"] >= 2
        await c.close()

    run(body)


def revoke_then_answer(worker, revoke) -> tuple[dict, dict]:
    """The worker takes a lease, ``revoke`` runs (in a thread), and the worker answers anyway: (revoked, ack)."""

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        await sync_to_async(revoke)()
        revoked = await c.recv_type("task.revoked")
        ack = await c.submit(task, "apple", key())
        await c.close()
        return revoked, ack

    return run(body)


def test_an_answer_sent_after_a_block_is_refused(worker):
    job = open_job(items=2, redundancy=1)
    revoked, ack = revoke_then_answer(worker, lambda: quality.worker_block_for_job(job.pk, worker.pk, "failed"))
    assert revoked["reason"] == "blocked"
    assert ack["status"] == "rejected" and ack["reason"] == "blocked"
    assert not Answer.objects.filter(worker=worker).exists()


def test_cancelling_a_job_revokes_its_leases_and_refuses_their_answers(worker):
    job = open_job(items=2, redundancy=1)
    revoked, ack = revoke_then_answer(worker, lambda: services.job_cancel(job))
    assert revoked["reason"] == "job_cancelled"
    assert ack["status"] == "rejected"
    assert not Answer.objects.filter(job=job).exists()
    assert set(Microtask.objects.filter(job=job).values_list("status", flat=True)) == {"cancelled"}


def test_an_item_id_of_the_wrong_kind_is_an_invalid_answer_and_the_socket_stays_open(worker):
    open_job(items=2, redundancy=1)

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        acks = []
        for item in ([task["items"][0]["id"]], float(task["items"][0]["id"]), True):
            await c.send(
                {
                    "type": "answer.submit",
                    "key": key(),
                    "assignment_id": task["assignment"]["id"],
                    "answers": [{"item": item, "value": "apple"}],
                }
            )
            acks.append(await c.recv_type("answer.ack"))
        await c.send({"type": "task.skip", "assignment_id": [task["assignment"]["id"]]})
        skip = await c.recv_type("error")
        ack = await c.submit(task, "apple", key())  # the same socket still works
        await c.close()
        return acks, skip, ack

    acks, skip, ack = run(body)
    assert [(a["status"], a["reason"]) for a in acks] == [("rejected", "invalid")] * 3
    assert "is not an item id" in acks[0]["message"]
    assert skip["code"] == "unknown_assignment"
    assert ack["status"] == "accepted"


def test_a_lease_is_sized_for_every_item_of_the_microtask(worker):
    job = open_job(items=20, redundancy=1, items_per_microtask=10, lease_seconds=600)
    Job.objects.filter(pk=job.pk).update(median_seconds_per_item=10.0)
    get_redis().hset(f"{keys.prefix()}:speed", mapping={worker.pk: 1.0})

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        await c.close()
        return task

    # 10 items of 10 s each at the median speed, and 4 times that: 400 s, within the job's 600.
    assert run(body)["assignment"]["lease_seconds"] == 400


def test_an_answer_to_a_microtask_skipped_on_another_socket_is_refused(worker):
    open_job(items=2, redundancy=1)

    async def body():
        a = await Client.open(worker)
        task = await a.recv_type("task.assigned")
        b = await Client.open(worker)
        resumed = await b.recv_type("task.assigned")
        assert resumed["assignment"]["id"] == task["assignment"]["id"]
        await b.send({"type": "task.skip", "assignment_id": task["assignment"]["id"]})
        await b.recv_type("task.revoked")
        ack = await a.submit(task, "apple", key())
        await a.close()
        await b.close()
        return ack

    ack = run(body)
    assert ack["status"] == "rejected" and ack["reason"] == "skipped"
    assert not Answer.objects.filter(worker=worker).exists()


def test_a_value_postgresql_cannot_store_fails_only_its_own_answer(worker):
    """A NUL in a free-text answer is refused as invalid on its own; the batch it arrived with is not failed
    (which had re-run every statement of the batch one by one)."""
    job = open_job(items=2, redundancy=1, question_type="free_text", options=[])

    async def body():
        c = await Client.open(worker)
        task = await c.recv_type("task.assigned")
        ack = await c.submit(task, "nul\u0000inside", key())
        assert ack["status"] == "rejected" and ack["reason"] == "invalid"
        assert (await c.submit(task, "fine", key()))["status"] == "accepted"
        await c.close()

    run(body)
    mt = Microtask.objects.get(job=job, status="open")
    item = mt.items.values_list("id", flat=True).get()

    async def batch():
        from tasks.scheduling.store import Committer, SubmitOp, Unstorable

        committer = Committer(connections=1)
        committer.start()
        bad = SubmitOp(worker.pk, job.pk, mt.pk, "k\u0000", [{"item": item, "value": "x"}], 1.0)
        good = SubmitOp(worker.pk, job.pk, mt.pk, key(), [{"item": item, "value": "y"}], 1.0)
        results = await committer.run_many([bad, good])
        assert isinstance(results[0], Unstorable) and results[1].status == "accepted"
        assert committer.batches == 1
        for task in committer.tasks:
            task.cancel()
        await committer.close()

    run(batch)
    assert sorted(Answer.objects.filter(job=job).values_list("value", flat=True)) == ["fine", "y"]
