"""The scheduler's state on a Redis Cluster of three masters (tests/redis_cluster.py): key slots, the cluster URL,
and a server whose SCHEDULER_REDIS_URL is the cluster answering a job end to end.

``make test-cluster`` runs the scheduler's other tests on the cluster as well."""

import asyncio
import os

import pytest
import redis
from django.conf import settings
from redis.crc import key_slot

from quorum import redis_urls
from quorum.redis import get_redis
from tasks import services
from tasks.aggregation.service import estimates_key
from tasks.models import Answer, Microtask
from tasks.scheduling import keys
from tests import factories
from tests.redis_burst import burst_of_increments
from tests.servers import asgi_server
from workers import auth_limits

from .test_scheduler_e2e import violations
from .workers import SimWorker, token


def slot(name: str) -> int:
    return key_slot(name.encode())


def test_the_session_keeps_the_scheduler_state_where_it_was_asked_to():
    on_cluster = os.environ.get("QUORUM_TEST_SCHEDULER_REDIS") == "cluster"
    assert type(get_redis()).__name__ == ("RedisCluster" if on_cluster else "Redis")


def test_every_key_a_pick_or_a_window_fill_touches_lies_in_the_slot_of_the_key_it_declares():
    pick_slot = slot(keys.jobs())  # PICK's KEYS[1]
    for job_id in (1, 7, 123456):
        touched = [keys.epoch(), keys.loaded(job_id), keys.exhausted(job_id), keys.gold(job_id), keys.pool(job_id)]
        touched += [keys.slots(job_id), keys.fill_lock(job_id), *(keys.seen(mt) for mt in (1, 99, 10**9))]
        assert {slot(name) for name in touched} == {pick_slot}
        # RETURN_SLOT and TAKE_SLOT declare the job's slots hash and touch its window.
        assert slot(keys.slots(job_id)) == slot(keys.pool(job_id)) == slot(keys.loaded(job_id))
    # The results and gold-check queues' scripts: a lock and a queue, the dirty set and its taking set.
    assert slot(f"{keys.prefix()}:aggregate:lock") == slot(f"{keys.prefix()}:aggregate")
    assert slot(f"{keys.prefix()}:goldcheck:lock") == slot(f"{keys.prefix()}:goldcheck")
    assert slot(f"{keys.prefix()}:dirty") == slot(f"{keys.prefix()}:dirty:taking")


def test_live_counters_spread_over_slots_by_job_and_worker_but_a_job_reads_its_own_in_one_slot():
    for job_id in (1, 2, 3):
        assert slot(keys.counts(job_id)) == slot(keys.active(job_id)) == slot(keys.rate(job_id, 170000))
    assert len({slot(keys.counts(job_id)) for job_id in range(50)}) > 40
    assert len({slot(keys.connections(worker_id)) for worker_id in range(50)}) > 40
    # Read together (MGET) or counted in one transaction.
    assert slot(estimates_key(5, "colour")) == slot(estimates_key(5, "size"))
    assert slot(auth_limits._username_key("ann")) == slot(auth_limits._address_key("10.0.0.1"))


def test_a_cluster_url_names_its_nodes_and_refuses_a_database_other_than_zero():
    parsed = redis_urls.cluster_parse("redis+cluster://:s%40cret@10.0.0.1:7000,10.0.0.2/")
    assert parsed.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379))
    assert parsed.password == "s@cret" and not parsed.ssl
    assert redis_urls.cluster_parse("rediss+cluster://h:7000").ssl
    with pytest.raises(ValueError, match="database 0 only"):
        redis_urls.cluster_parse("redis+cluster://h:7000/3")
    with pytest.raises(ValueError, match="names no node"):
        redis_urls.cluster_parse("redis+cluster:///")
    assert not redis_urls.is_cluster("redis://h:6379/0") and not redis_urls.is_sentinel("redis+cluster://h/")


@pytest.mark.django_db(transaction=True)
def test_a_server_with_its_scheduler_state_on_a_cluster_answers_a_job_to_the_end(scheduler_on_cluster):
    cluster = scheduler_on_cluster
    assert type(get_redis()).__name__ == "RedisCluster"
    job = factories.make_job(redundancy=3)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(30)))
    keys_ = [token(factories.make_worker()) for _ in range(12)]
    with asgi_server() as url:
        ws_url = url.replace("http", "ws")

        async def crowd():
            # Connected before the job opens: they are idle until the job's opening reaches the server through
            # the control channel (pub/sub on one node of the cluster).
            running = [asyncio.create_task(SimWorker(k, [ws_url]).run(idle_timeout=6)) for k in keys_]
            await asyncio.sleep(1.5)
            await asyncio.to_thread(services.job_publish, job)
            return await asyncio.gather(*running)

        workers = asyncio.run(crowd())
    acked = [a for w in workers for a in w.acked]
    assert Microtask.objects.filter(job=job, status="done").count() == 30
    assert Answer.objects.filter(job=job).count() == 90 == len(acked)
    for w in workers:
        assert len(w.tasks_seen) == len(set(w.tasks_seen)), "a worker got the same microtask twice"
    assert violations(job.pk, acked) == {}
    # The state was on the cluster, none of it on the single Redis: the open jobs and the live counts.
    single = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    assert cluster.client().hexists(keys.jobs(), job.pk) and not single.hexists(keys.jobs(), job.pk)
    assert int(cluster.client().hget(keys.counts(job.pk), "answers") or 0) > 0
    assert not single.exists(keys.counts(job.pk))


def test_a_burst_beyond_the_scheduler_clients_connections_waits_on_a_cluster_too(redis_cluster):
    """A thousand sockets closing at once: redis-py's cluster client would fail the commands past its cap."""
    assert burst_of_increments(redis_cluster.url, f"{settings.REDIS_PREFIX}:test:burst") == 200
