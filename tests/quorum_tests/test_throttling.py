"""API request rates: 429 with Retry-After past a limit, counted in Redis per user or per client address."""

import io

import httpx
import pytest
from rest_framework.test import APIClient

from tests import factories
from tests.servers import asgi_server

pytestmark = pytest.mark.django_db

JOB = {"name": "Fruit", "question_type": "single_choice", "options": ["apple", "banana"], "text_field": "text"}


@pytest.fixture
def rates(settings):
    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
        }

    return set_rates


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def assert_throttled(response) -> None:
    assert response.status_code == 429, response.content
    assert int(response["Retry-After"]) > 0


def test_job_creation_is_limited_per_user(rates, requester):
    rates(job_create="2/min")
    client = client_for(requester)
    for _ in range(2):
        assert client.post("/api/jobs/", JOB, format="json").status_code == 201
    assert_throttled(client.post("/api/jobs/", JOB, format="json"))
    assert client.get("/api/jobs/").status_code == 200  # reads are not job creations
    assert client_for(factories.make_requester()).post("/api/jobs/", JOB, format="json").status_code == 201


def test_uploads_are_limited_per_user(rates, requester):
    rates(upload="1/min")
    client = client_for(requester)
    job = client.post("/api/jobs/", JOB, format="json").json()
    data = factories.csv_bytes(factories.fruit_rows(3))
    first = client.post(f"/api/jobs/{job['id']}/uploads/", {"file": io.BytesIO(data)}, format="multipart")
    assert first.status_code == 202, first.content
    assert_throttled(client.post(f"/api/jobs/{job['id']}/uploads/", {"file": io.BytesIO(data)}, format="multipart"))
    assert client.get(f"/api/jobs/{job['id']}/uploads/").status_code == 200


def test_automation_runs_are_limited_per_user(rates, requester):
    rates(automation_run="1/min")
    client = client_for(requester)
    job = client.post("/api/jobs/", JOB, format="json").json()
    assert client.post(f"/api/jobs/{job['id']}/automation/").status_code == 409  # off for this job, still counted
    assert_throttled(client.post(f"/api/jobs/{job['id']}/automation/"))
    assert client.get(f"/api/jobs/{job['id']}/automation/").status_code == 200


def test_every_api_call_counts_per_user(rates, requester):
    rates(user="3/min")
    client = client_for(requester)
    for _ in range(3):
        assert client.get("/api/me/").status_code == 200
    assert_throttled(client.get("/api/jobs/"))
    assert client_for(factories.make_worker()).get("/api/me/").status_code == 200


def test_anonymous_calls_count_per_client_address(rates):
    rates(anon="2/min")
    for _ in range(2):
        assert APIClient(REMOTE_ADDR="10.0.0.1").post("/api/auth/signup/", {}, format="json").status_code == 400
    assert_throttled(APIClient(REMOTE_ADDR="10.0.0.1").post("/api/auth/signup/", {}, format="json"))
    assert APIClient(REMOTE_ADDR="10.0.0.2").post("/api/auth/signup/", {}, format="json").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_behind_a_trusted_proxy_the_client_address_is_the_one_it_forwards():
    """uvicorn takes X-Forwarded-For from FORWARDED_ALLOW_IPS (here the test, at 127.0.0.1): each client behind the
    proxy has its own anonymous limit, and a client cannot pick its address by sending the header itself."""
    with asgi_server(QUORUM_RATE_ANON="2/min") as url:

        def signup(forwarded_for: str) -> int:
            return httpx.post(
                f"{url}/api/auth/signup/", json={}, headers={"X-Forwarded-For": forwarded_for}
            ).status_code

        assert [signup("203.0.113.1") for _ in range(3)] == [400, 400, 429]
        assert signup("203.0.113.2") == 400
    with asgi_server(QUORUM_RATE_ANON="2/min", FORWARDED_ALLOW_IPS="192.0.2.1") as url:
        assert [signup(f"203.0.113.{n}") for n in range(3)] == [400, 400, 429]
