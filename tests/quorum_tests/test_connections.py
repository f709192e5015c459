"""PostgreSQL connections of a real uvicorn process stay bounded whatever the request rate."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests import factories
from tests.servers import asgi_server

pytestmark = pytest.mark.django_db(transaction=True)

POOL_SIZE = 3


def backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_a_burst_of_requests_does_not_use_up_database_connections():
    requester = factories.make_requester()
    token = Token.objects.create(user=requester).key
    with asgi_server(DB_POOL_MAX_SIZE=POOL_SIZE) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/api/me/", headers={"Authorization": f"Token {token}"}).status_code == 200
        before = backends()

        def wrong_password(i: int) -> int:
            return client.post(
                "/api/auth/token/", data={"username": requester.username, "password": f"no{i}"}
            ).status_code

        def sign_up(i: int) -> int:
            body = {
                "username": f"crowd{i}",
                "password": "a-long-test-password",
                "email": "c@example.com",
                "role": "worker",
            }
            return client.post("/api/auth/signup/", json=body).status_code

        def my_jobs(i: int) -> int:
            return client.get("/api/jobs/", headers={"Authorization": f"Token {token}"}).status_code

        with ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(wrong_password, range(60)))
            codes += list(pool.map(sign_up, range(30)))
            codes += list(pool.map(my_jobs, range(200)))
        assert 500 not in codes
        after = backends()
        # The pool's connections, whatever the number of requests and threads that served them.
        assert after - before <= POOL_SIZE, (before, after)
        assert client.get("/healthz").status_code == 200
