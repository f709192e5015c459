"""Redis URLs, plain or through Sentinel, for each role Redis plays (settings.py builds every client's settings here).

A role's URL is either a plain ``redis://`` / ``rediss://`` / ``unix://`` URL or a Sentinel one:

    redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER_NAME[/DB][?sentinel_password=...]

(``sentinel://`` is the same). HOST:PORT are the sentinels (port 26379 when left out); the password is the one of
the Redis master, ``sentinel_password`` the sentinels' own when they require one. Each client asks the sentinels for
the current master and asks again after a failover; the scheduler's and the cache's clients also ask every second
(quorum/redis_sentinel.py), so they leave an old master that still takes writes.

The scheduler's state (SCHEDULER_REDIS_URL) may also live on a Redis Cluster:

    redis+cluster://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/      (rediss+cluster:// with TLS)

HOST:PORT are some of its nodes (port 6379 when left out); the client learns the rest from them. A cluster has
database 0 only. Celery's broker and the channel layer cannot use a cluster.

This module reads no settings: settings.py imports it.
"""

import asyncio
import functools
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit

SENTINEL_SCHEMES = ("redis+sentinel", "sentinel")
SENTINEL_PORT = 26379
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
CLUSTER_PORT = 6379


@dataclass(frozen=True)
class SentinelURL:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None

    def master_kwargs(self) -> dict:
        """What a connection to the master needs besides its address."""
        kwargs: dict = {"db": self.db}
        if self.username:
            kwargs["username"] = self.username
        if self.password:
            kwargs["password"] = self.password
        return kwargs

    def sentinel_kwargs(self) -> dict | None:
        return {"password": self.sentinel_password} if self.sentinel_password else None

    def sentinel_client_kwargs(self) -> dict:
        """``sentinel_kwargs`` for this project's own clients: with a timeout, so a sentinel that does not answer
        passes the question to the next one."""
        from .redis_sentinel import SENTINEL_TIMEOUT_SECONDS

        timeouts = {"socket_timeout": SENTINEL_TIMEOUT_SECONDS, "socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS}
        return {**timeouts, **(self.sentinel_kwargs() or {})}


def is_sentinel(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SENTINEL_SCHEMES


def sentinel_parse(url: str) -> SentinelURL:
    """A Sentinel URL's parts; a ValueError names what is wrong with it."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in SENTINEL_SCHEMES:
        raise ValueError(f"{url!r} is not a Sentinel URL (redis+sentinel://host:26379/master_name/db)")
    netloc, _, path_query = rest.partition("/")
    path, _, query = path_query.partition("?")
    username, password, sentinels = _auth_and_hosts(netloc, SENTINEL_PORT, "Sentinel URL")
    if not sentinels:
        raise ValueError(f"Sentinel URL {_redacted(url)!r} names no sentinel host")
    parts = [unquote(p) for p in path.split("/") if p]
    if not parts:
        raise ValueError(f"Sentinel URL {_redacted(url)!r} names no master (…/master_name/db)")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise ValueError(f"Sentinel URL {_redacted(url)!r}: the path must be /master_name or /master_name/db")
    sentinel_password = parse_qs(query).get("sentinel_password", [None])[0]
    return SentinelURL(
        sentinels=tuple(sentinels),
        master=parts[0],
        db=int(parts[1]) if len(parts) == 2 else 0,
        username=username,
        password=password,
        sentinel_password=sentinel_password,
    )


@dataclass(frozen=True)
class ClusterURL:
    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    ssl: bool = False

    def client_kwargs(self) -> dict:
        kwargs: dict = {}
        if self.username:
            kwargs["username"] = self.username
        if self.password:
            kwargs["password"] = self.password
        if self.ssl:
            kwargs["ssl"] = True
        return kwargs


def is_cluster(url: str) -> bool:
    return url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def cluster_parse(url: str) -> ClusterURL:
    """A cluster URL's parts; a ValueError names what is wrong with it."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in CLUSTER_SCHEMES:
        raise ValueError(f"{url!r} is not a Redis Cluster URL (redis+cluster://host:6379,host:6379/)")
    netloc, _, path = rest.partition("/")
    username, password, nodes = _auth_and_hosts(netloc, CLUSTER_PORT, "Redis Cluster URL")
    if not nodes:
        raise ValueError(f"Redis Cluster URL {_redacted(url)!r} names no node")
    if path.partition("?")[0].strip("/") not in ("", "0"):
        raise ValueError(f"Redis Cluster URL {_redacted(url)!r}: a cluster has database 0 only (end the URL with /)")
    return ClusterURL(tuple(nodes), username, password, scheme.lower() == "rediss+cluster")


def _auth_and_hosts(netloc: str, default_port: int, kind: str) -> tuple[str | None, str | None, list]:
    """``[user[:password]@]host[:port],host[:port]...`` of a Sentinel or cluster URL: username, password and
    (host, port) pairs; a ValueError names a host that is not one."""
    auth, _, hosts = netloc.rpartition("@")
    username = password = None
    if auth:
        user, has_password, secret = auth.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    pairs = []
    for host in filter(None, hosts.split(",")):
        parsed = urlsplit(f"//{host}")
        if not parsed.hostname:
            raise ValueError(f"{kind}: {host!r} is not a host[:port]")
        pairs.append((parsed.hostname, parsed.port or default_port))
    return username, password, pairs


def _redacted(url: str) -> str:
    scheme, _, rest = url.partition("://")
    auth, at, hosts = rest.partition("@")
    return f"{scheme}://***@{hosts}" if at else url


def sync_client(url: str, **kwargs):
    """A redis-py client for ``url``: plain, through Sentinel, or a cluster (``RedisCluster``)."""
    import redis

    if is_cluster(url):
        from redis.cluster import ClusterNode, RedisCluster

        parsed = cluster_parse(url)
        nodes = [ClusterNode(host, port) for host, port in parsed.nodes]
        return RedisCluster(startup_nodes=nodes, **parsed.client_kwargs(), **kwargs)
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **kwargs)
    from redis.sentinel import Sentinel

    from .redis_sentinel import FollowingSentinelPool

    parsed = sentinel_parse(url)
    sentinel = Sentinel(list(parsed.sentinels), sentinel_kwargs=parsed.sentinel_client_kwargs())
    return sentinel.master_for(
        parsed.master,
        redis_class=redis.Redis,
        connection_pool_class=FollowingSentinelPool,
        **parsed.master_kwargs(),
        **kwargs,
    )


def async_client(url: str, **kwargs):
    """A redis.asyncio client for ``url``: plain, through Sentinel, or a cluster (``RedisCluster``)."""
    import redis.asyncio as aioredis

    if is_cluster(url):
        from redis.asyncio.cluster import ClusterNode

        parsed = cluster_parse(url)
        nodes = [ClusterNode(host, port) for host, port in parsed.nodes]
        limit = kwargs.pop("max_connections", None)
        return _waiting_cluster_class()(startup_nodes=nodes, command_limit=limit, **parsed.client_kwargs(), **kwargs)
    if not is_sentinel(url):
        if "max_connections" in kwargs:
            # A burst (a thousand sockets closing at once) waits for a free connection instead of failing.
            pool = aioredis.BlockingConnectionPool.from_url(url, timeout=10, **kwargs)
            return aioredis.Redis(connection_pool=pool)
        return aioredis.Redis.from_url(url, **kwargs)
    from redis.asyncio.sentinel import Sentinel

    from .redis_sentinel import AsyncFollowingSentinelPool

    parsed = sentinel_parse(url)
    sentinel = Sentinel(list(parsed.sentinels), sentinel_kwargs=parsed.sentinel_client_kwargs())
    return sentinel.master_for(
        parsed.master,
        redis_class=aioredis.Redis,
        connection_pool_class=AsyncFollowingSentinelPool,
        **parsed.master_kwargs(),
        **kwargs,
    )


@functools.cache
def _waiting_cluster_class():
    """redis.asyncio's cluster client fails a command with MaxConnectionsError once a node holds ``max_connections``;
    this one runs at most ``command_limit`` commands at once and the others wait their turn (each takes one
    connection of one node), so a burst waits as it does on a plain URL. Pipelines are not counted: a failed one
    resends its commands through ``execute_command``, which must not wait behind them."""
    from redis.asyncio.cluster import RedisCluster

    class WaitingRedisCluster(RedisCluster):
        def __init__(self, *args, command_limit: int | None = None, **kwargs):
            super().__init__(*args, **kwargs)
            self._running = asyncio.Semaphore(command_limit) if command_limit else None

        async def execute_command(self, *args, **kwargs):
            if self._running is None:
                return await super().execute_command(*args, **kwargs)
            async with self._running:
                return await super().execute_command(*args, **kwargs)

    return WaitingRedisCluster


def async_subscriber(url: str, **kwargs):
    """A redis.asyncio client whose ``pubsub()`` hears what is published on ``url``: for a cluster, a plain client
    of one of its nodes (redis.asyncio's cluster client has no pub/sub, and PUBLISH reaches every node); for the
    others, None (their own client subscribes). Each call takes a node at random, so a resubscription after a node
    is lost tries another."""
    if not is_cluster(url):
        return None
    import random

    import redis.asyncio as aioredis

    parsed = cluster_parse(url)
    host, port = random.choice(parsed.nodes)
    return aioredis.Redis(host=host, port=port, **parsed.client_kwargs(), **kwargs)


def channel_layer_host(url: str, **options) -> dict:
    """One entry of channels_redis's ``hosts``: an address, or the master name and sentinels."""
    if not is_sentinel(url):
        return {"address": url, **options}
    parsed = sentinel_parse(url)
    host = {"master_name": parsed.master, "sentinels": list(parsed.sentinels), **parsed.master_kwargs(), **options}
    if parsed.sentinel_kwargs():
        host["sentinel_kwargs"] = parsed.sentinel_kwargs()
    return host


def celery_broker(url: str) -> tuple[str, dict]:
    """Celery's broker URL and the transport options it needs on top: kombu's sentinel transport takes every
    sentinel as its own ``sentinel://`` URL and the master's name as an option."""
    if not is_sentinel(url):
        return url, {}
    parsed = sentinel_parse(url)
    auth = ""
    if parsed.username or parsed.password:
        auth = f"{quote(parsed.username or '', safe='')}:{quote(parsed.password or '', safe='')}@"
    broker = ";".join(f"sentinel://{auth}{host}:{port}/{parsed.db}" for host, port in parsed.sentinels)
    options: dict = {"master_name": parsed.master}
    if parsed.sentinel_kwargs():
        options["sentinel_kwargs"] = parsed.sentinel_kwargs()
    return broker, options


def redbeat_redis(url: str) -> tuple[str, dict]:
    """RedBeat's ``redbeat_redis_url`` and ``redbeat_redis_options``."""
    if not is_sentinel(url):
        return url, {}
    parsed = sentinel_parse(url)
    options: dict = {"sentinels": list(parsed.sentinels), "service_name": parsed.master, "db": parsed.db}
    if parsed.username:
        options["username"] = parsed.username
    if parsed.password:
        options["password"] = parsed.password
    if parsed.sentinel_kwargs():
        options["sentinel_kwargs"] = parsed.sentinel_kwargs()
    return "redis-sentinel://", options


class CachePool:
    """Django's RedisCache ``pool_class``: it builds its pool with ``from_url``, which for a Sentinel URL is a pool
    that follows the master."""

    @classmethod
    def from_url(cls, url: str, **options):
        import redis

        if not is_sentinel(url):
            return redis.ConnectionPool.from_url(url, **options)
        from redis.sentinel import Sentinel

        from .redis_sentinel import FollowingSentinelPool

        parsed = sentinel_parse(url)
        sentinel = Sentinel(list(parsed.sentinels), sentinel_kwargs=parsed.sentinel_client_kwargs())
        return FollowingSentinelPool(parsed.master, sentinel, **parsed.master_kwargs(), **options)
