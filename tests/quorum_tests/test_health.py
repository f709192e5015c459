"""/healthz: the status for anyone, the database, Redis and errors for staff only."""

import pytest

from quorum.redis import get_redis
from tests import factories

pytestmark = pytest.mark.django_db

STATUS_ONLY = {"status": "ok", "database": {"ok": True}, "redis": {"ok": True}}


def staff_user():
    staff = factories.make_requester()
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    return staff


def test_anyone_sees_the_status_and_staff_see_database_and_redis(client, requester):
    anonymous = client.get("/healthz")
    assert anonymous.status_code == 200
    assert anonymous.json() == STATUS_ONLY
    client.force_login(requester)
    assert client.get("/healthz").json() == STATUS_ONLY
    client.force_login(staff_user())
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["database"]["name"] and body["database"]["vendor"] == "postgresql"
    assert body["redis"]["ok"] and body["redis"]["url"].startswith(("redis://", "redis+cluster://"))


@pytest.fixture
def redis_down(settings):
    """Redis at an address where nothing listens (port 1)."""
    settings.REDIS_URL = settings.SCHEDULER_REDIS_URL = "redis://:a-secret@127.0.0.1:1/0"
    get_redis.cache_clear()
    yield
    get_redis.cache_clear()


def test_a_failure_is_503_and_its_error_is_shown_to_staff_only(client, redis_down):
    anonymous = client.get("/healthz")
    assert anonymous.status_code == 503
    assert anonymous.json() == {"status": "degraded", "database": {"ok": True}, "redis": {"ok": False}}
    client.force_login(staff_user())
    body = client.get("/healthz").json()
    assert body["redis"]["ok"] is False and body["redis"]["error"]
    assert body["redis"]["url"] == "redis://127.0.0.1:1/0"  # never the password
