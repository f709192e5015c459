"""Every Redis role through a real Sentinel: the scheduler's clients (sync and async), the cache, the channel
layer, the Celery broker and beat's schedule (RedBeat), with SCHEDULER_REDIS_URL, CACHE_REDIS_URL,
CHANNEL_REDIS_URL and CELERY_BROKER_URL set to a redis+sentinel:// URL and REDIS_URL pointing nowhere."""

import asyncio
import subprocess
import sys
import time
import uuid

import pytest
import redis

from quorum import redis_urls
from quorum.redis_sentinel import MASTER_CHECK_SECONDS
from tests.redis_burst import burst_of_increments
from tests.sentinel import MASTER, master_replica_sentinel, redis_with_sentinel, sentinel_binaries_missing, wait_until
from tests.servers import ROOT, server_env

pytestmark = [
    pytest.mark.skipif(bool(sentinel_binaries_missing()), reason=sentinel_binaries_missing() or ""),
    pytest.mark.timeout(120),
]

# Run with the roles' URLs on the Sentinel: Django's cache, the channel layer and the scheduler's clients.
CHECK_ROLES = """
import asyncio, django
django.setup()
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from quorum.redis import get_async_redis, get_redis

get_redis().set("q-sentinel:sync", "1")
cache.set("q-sentinel-cache", 42)
assert cache.get("q-sentinel-cache") == 42

async def roles():
    client = get_async_redis()
    await client.set("q-sentinel:async", "1")
    await client.aclose()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("q-sentinel", channel)
    await layer.group_send("q-sentinel", {"type": "hello", "text": "through the sentinel"})
    message = await asyncio.wait_for(layer.receive(channel), 5)
    assert message["text"] == "through the sentinel", message

asyncio.run(roles())
print("roles ok")
"""


def test_plain_clients_reach_the_master_through_the_sentinel(tmp_path):
    with redis_with_sentinel(tmp_path) as (sentinel_url, master_url):
        redis_urls.sync_client(sentinel_url, decode_responses=True).set("q-sentinel:plain", "yes")
        pool = redis_urls.CachePool.from_url(sentinel_url)
        assert redis.Redis(connection_pool=pool).get("q-sentinel:plain") == b"yes"

        async def read():
            client = redis_urls.async_client(sentinel_url, decode_responses=True)
            try:
                return await client.get("q-sentinel:plain")
            finally:
                await client.aclose()

        assert asyncio.run(read()) == "yes"
        assert redis.Redis.from_url(master_url).get("q-sentinel:plain") == b"yes"


def test_a_burst_beyond_the_async_clients_connections_waits_for_one_through_the_sentinel(tmp_path):
    """A thousand sockets closing at once ask the scheduler's Redis for more connections than its cap."""
    with redis_with_sentinel(tmp_path) as (sentinel_url, _):
        assert burst_of_increments(sentinel_url, "q-sentinel:burst") == 200


def test_every_role_works_through_the_sentinel(tmp_path):
    with redis_with_sentinel(tmp_path) as (sentinel_url, master_url):
        prefix = f"quorum-sentinel-{uuid.uuid4().hex[:8]}"
        env = server_env(
            REDIS_URL="redis://127.0.0.1:9/0",  # nothing listens there: every role must use its own URL
            SCHEDULER_REDIS_URL=sentinel_url,
            CACHE_REDIS_URL=sentinel_url,
            CHANNEL_REDIS_URL=sentinel_url,
            CELERY_BROKER_URL=sentinel_url,
            QUORUM_REDIS_PREFIX=prefix,
            QUORUM_BEAT_LOCK_TIMEOUT=5,
            QUORUM_BEAT_MAX_INTERVAL=1,
        )
        checked = subprocess.run(
            [sys.executable, "-c", CHECK_ROLES], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert checked.returncode == 0 and "roles ok" in checked.stdout, checked.stderr[-3000:]
        master = redis.Redis.from_url(master_url, decode_responses=True)
        assert master.get("q-sentinel:sync") == master.get("q-sentinel:async") == "1"

        # Beat (RedBeat) sends a pass through the broker, a Celery worker runs it and writes with get_redis():
        # all three through the sentinel.
        logs = tmp_path / "celery.log"
        base = [sys.executable, "-m", "celery", "-A", "tests.beat_app"]
        with logs.open("w") as out:
            worker = subprocess.Popen(
                [*base, "worker", "-Q", f"{prefix}.beat-test", "-P", "solo", "-n", f"{prefix}@%h"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
            beat = subprocess.Popen(
                [*base, "beat", "-S", "tests.beat_app.TickScheduler"], cwd=ROOT, env=env, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                started = time.time()
                wait_until(lambda: master.llen(f"{prefix}:beat-test:runs") >= 2, 45, "no pass ran")
                assert master.get(f"{prefix}:beat-test:active") == str(beat.pid)
                assert master.exists(f"{prefix}:redbeat::schedule"), "beat's schedule is not on the master"
                assert time.time() - started < 45
            except TimeoutError:
                raise AssertionError(logs.read_text()[-3000:]) from None
            finally:
                for proc in (beat, worker):
                    proc.terminate()
                for proc in (beat, worker):
                    try:
                        proc.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        proc.kill()


def test_after_a_failover_the_clients_write_to_the_new_master_while_the_old_one_still_takes_writes(tmp_path):
    """SENTINEL FAILOVER leaves the old master up, and a master, for seconds after the sentinel announced the new
    one: the pools (quorum/redis_sentinel.py) must move their connections, idle or busy, within a second."""
    with master_replica_sentinel(tmp_path) as (url, old_port, new_port, sentinel_port):
        old, new = redis.Redis(port=old_port, decode_responses=True), redis.Redis(port=new_port, decode_responses=True)
        sync = redis_urls.sync_client(url, decode_responses=True)
        cache = redis.Redis(connection_pool=redis_urls.CachePool.from_url(url), decode_responses=True)
        busy = sync.connection_pool.get_connection()  # taken before the failover, given back after it
        sync.set("q-failover:sync", "before")  # on a second connection, idle in the pool meanwhile
        cache.set("q-failover:cache", "before")

        async def scenario():
            client = redis_urls.async_client(url, decode_responses=True)
            try:
                held = await client.connection_pool.get_connection()
                await client.set("q-failover:async", "before")
                sentinel = redis.Redis(port=sentinel_port)
                # NOGOODSLAVE until the sentinel has heard from the replica itself.
                await asyncio.to_thread(
                    wait_until, lambda: sentinel.execute_command("SENTINEL", "FAILOVER", MASTER), 30, "no failover"
                )
                await asyncio.to_thread(
                    wait_until, lambda: new.info("replication")["role"] == "master", 30, "no failover"
                )
                await asyncio.sleep(MASTER_CHECK_SECONDS + 0.2)
                await client.set("q-failover:async", "after")
                await client.connection_pool.release(held)
                assert not held.is_connected  # it spoke to the old master: closed as it came back
                for _ in range(3):
                    await client.set("q-failover:async-again", "after")
            finally:
                await client.aclose()

        asyncio.run(scenario())
        sync.set("q-failover:sync", "after")
        cache.set("q-failover:cache", "after")
        sync.connection_pool.release(busy)
        assert busy._sock is None
        assert old.info("replication")["role"] == "master", "the old master was demoted already: nothing was tested"
        for name in ("sync", "cache", "async", "async-again"):
            assert new.get(f"q-failover:{name}") == "after", name
            assert old.get(f"q-failover:{name}") != "after", name
