"""Redis URLs per role: plain ones pass through, Sentinel ones become each client's own settings."""

import pytest

from quorum import redis_urls
from tests.redis_burst import burst_of_increments

URL = "redis+sentinel://:s%40cret@sent-a:26379,sent-b/mymaster/3?sentinel_password=sp"


def test_a_sentinel_url_names_its_sentinels_master_db_and_passwords():
    parsed = redis_urls.sentinel_parse(URL)
    assert parsed.sentinels == (("sent-a", 26379), ("sent-b", 26379))
    assert (parsed.master, parsed.db, parsed.password, parsed.sentinel_password) == ("mymaster", 3, "s@cret", "sp")
    assert redis_urls.sentinel_parse("sentinel://h:1/m").db == 0


@pytest.mark.parametrize(
    "url, problem",
    [
        ("redis+sentinel:///mymaster/0", "names no sentinel host"),
        ("redis+sentinel://h:26379", "names no master"),
        ("redis+sentinel://h:26379/m/x", "the path must be"),
    ],
)
def test_a_bad_sentinel_url_says_what_is_wrong(url, problem):
    with pytest.raises(ValueError, match=problem):
        redis_urls.sentinel_parse(url)


def test_each_client_gets_its_own_form_of_the_url():
    broker, options = redis_urls.celery_broker(URL)
    assert broker == "sentinel://:s%40cret@sent-a:26379/3;sentinel://:s%40cret@sent-b:26379/3"
    assert options == {"master_name": "mymaster", "sentinel_kwargs": {"password": "sp"}}
    host = redis_urls.channel_layer_host(URL, max_connections=5)
    assert host["master_name"] == "mymaster" and host["sentinels"] == [("sent-a", 26379), ("sent-b", 26379)]
    assert host["db"] == 3 and host["max_connections"] == 5
    url, options = redis_urls.redbeat_redis(URL)
    assert url.startswith("redis-sentinel") and options["service_name"] == "mymaster" and options["db"] == 3
    plain = "redis://127.0.0.1:6379/0"
    assert redis_urls.celery_broker(plain) == (plain, {})
    assert redis_urls.channel_layer_host(plain) == {"address": plain}
    assert redis_urls.redbeat_redis(plain) == (plain, {})


def test_the_health_page_shows_a_sentinel_url_without_its_passwords():
    from quorum.health import redis_display_url

    assert redis_display_url(URL) == "redis+sentinel://sent-a:26379,sent-b/mymaster/3"
    assert redis_display_url("redis://:pw@127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_burst_beyond_the_scheduler_clients_connections_waits_for_one_instead_of_failing():
    """A thousand sockets closing at once ask the scheduler's Redis for more connections than its cap."""
    from django.conf import settings

    assert burst_of_increments(settings.SCHEDULER_REDIS_URL, f"{settings.REDIS_PREFIX}:test:burst") == 200
