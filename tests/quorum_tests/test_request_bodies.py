"""Request bodies against a real uvicorn: refused before they are read when too large or (uploads) anonymous;
chunked uploads are stored whole or refused, never emptied."""

import json
import secrets
import socket
import time
from datetime import timedelta
from urllib.parse import urlparse

import httpx
import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tasks.models import Item, Upload
from tests import factories
from tests.servers import asgi_server

pytestmark = pytest.mark.django_db(transaction=True)

UPLOAD_LIMIT = 100_000
THREE_GB = 3 * 1024**3


@pytest.fixture(scope="module")
def server(django_db_blocker):
    with django_db_blocker.unblock(), asgi_server(QUORUM_MAX_UPLOAD_BYTES=UPLOAD_LIMIT) as url:
        yield url


@pytest.fixture
def job_and_token():
    requester = factories.make_requester()
    return factories.make_job(owner=requester), Token.objects.create(user=requester).key


def declare_and_wait(url: str, path: str, length: int, headers: str = "") -> tuple[int, dict]:
    """Send a request head declaring `length` bytes and a few of them; the status and JSON body of the answer,
    which must come before the rest is sent."""
    where = urlparse(url)
    with socket.create_connection((where.hostname, where.port), timeout=5) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\nContent-Type: text/csv\r\n"
            f"Content-Length: {length}\r\n{headers}\r\n"
        )
        sock.sendall(head.encode() + b"x" * min(length, 4096))
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)  # times out if the server waits for the body
        head, _, body = received.partition(b"\r\n\r\n")
        size = int(
            next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")).split(b":")[1]
        )
        while len(body) < size:
            body += sock.recv(65536)
        return int(head.split(b" ")[1]), json.loads(body)


def test_an_anonymous_upload_is_refused_before_its_body_is_read(server, job_and_token):
    job, _ = job_and_token
    status, body = declare_and_wait(server, f"/api/jobs/{job.pk}/uploads/?filename=a.csv", THREE_GB)
    assert status == 401, body
    status, _ = declare_and_wait(
        server, f"/api/jobs/{job.pk}/uploads/?filename=a.csv", THREE_GB, "Authorization: Token not-a-token\r\n"
    )
    assert status == 401
    # An expired token is no better (QUORUM_TOKEN_TTL_HOURS, 30 days by default).
    _, key = job_and_token
    Token.objects.filter(pk=key).update(created=timezone.now() - timedelta(days=31))
    status, _ = declare_and_wait(
        server, f"/api/jobs/{job.pk}/uploads/?filename=a.csv", THREE_GB, f"Authorization: Token {key}\r\n"
    )
    assert status == 401


def test_a_large_body_to_any_other_url_is_refused_before_it_is_read(server):
    status, body = declare_and_wait(server, "/no/such/page/", THREE_GB)
    assert status == 413
    assert "10485760 bytes" in body["detail"]
    status, _ = declare_and_wait(server, "/api/auth/token/", THREE_GB)
    assert status == 413


def test_an_upload_over_the_limit_is_refused_by_its_declared_length(server, job_and_token):
    job, token = job_and_token
    status, body = declare_and_wait(
        server, f"/api/jobs/{job.pk}/uploads/?filename=big.csv", THREE_GB, f"Authorization: Token {token}\r\n"
    )
    assert status == 413
    assert body["error"]["message"] == f"the file is larger than the limit of {UPLOAD_LIMIT} bytes"
    assert body["error"]["file"] == "big.csv"


def test_a_session_may_upload(server, job_and_token):
    """A browser's upload: session cookie and CSRF token, no API token."""
    job, _ = job_and_token
    browser = Client()
    browser.force_login(job.owner)
    csrf = secrets.token_hex(16)
    cookies = {"sessionid": browser.cookies["sessionid"].value, "csrftoken": csrf}
    data = factories.csv_bytes(factories.fruit_rows(5))
    response = httpx.post(
        f"{server}/api/jobs/{job.pk}/uploads/?filename=items.csv",
        content=data,
        headers={"Content-Type": "text/csv", "X-CSRFToken": csrf},
        cookies=cookies,
    )
    assert response.status_code == 202, response.text
    browser.logout()  # the session ends: the same cookie no longer opens the upload route
    status, _ = declare_and_wait(
        server, f"/api/jobs/{job.pk}/uploads/?filename=a.csv", 1000, f"Cookie: sessionid={cookies['sessionid']}\r\n"
    )
    assert status == 401


def chunks(data: bytes, size: int = 1000):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_upload_is_stored_whole(server, job_and_token, celery_worker_process):
    job, token = job_and_token
    data = factories.csv_bytes(factories.fruit_rows(300))
    assert len(data) < UPLOAD_LIMIT
    response = httpx.post(
        f"{server}/api/jobs/{job.pk}/uploads/?filename=items.csv",
        content=chunks(data),  # a generator: httpx sends Transfer-Encoding: chunked
        headers={"Authorization": f"Token {token}", "Content-Type": "text/csv"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["size_bytes"] == len(data)
    deadline = time.monotonic() + 30
    upload = Upload.objects.get(pk=response.json()["id"])
    while upload.status not in (Upload.Status.DONE, Upload.Status.FAILED) and time.monotonic() < deadline:
        time.sleep(0.2)
        upload.refresh_from_db()
    assert upload.status == Upload.Status.DONE, upload.error
    assert Item.objects.filter(job=job).count() == 300


def test_a_chunked_upload_over_the_limit_is_refused(server, job_and_token):
    job, token = job_and_token
    data = factories.csv_bytes(factories.fruit_rows(10_000))
    assert len(data) > UPLOAD_LIMIT + 64 * 1024
    response = httpx.post(
        f"{server}/api/jobs/{job.pk}/uploads/?filename=items.csv",
        content=chunks(data, 8192),
        headers={"Authorization": f"Token {token}", "Content-Type": "text/csv"},
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["message"] == f"the file is larger than the limit of {UPLOAD_LIMIT} bytes"
    assert Upload.objects.filter(job=job).count() == 0


def test_only_the_jobs_requester_may_send_an_upload_body(server, job_and_token):
    job, _ = job_and_token
    path = f"/api/jobs/{job.pk}/uploads/?filename=a.csv"
    worker_key = Token.objects.create(user=factories.make_worker()).key  # anyone may sign up as a worker
    other_key = Token.objects.create(user=factories.make_requester()).key
    for key in (worker_key, other_key):
        status, _ = declare_and_wait(server, path, THREE_GB, f"Authorization: Token {key}\r\n")
        assert status == 401
    status, _ = declare_and_wait(server, "/api/jobs/999999/uploads/?filename=a.csv", THREE_GB,
                                 f"Authorization: Token {job_and_token[1]}\r\n")  # fmt: skip
    assert status == 401


def test_hostile_keys_and_json_get_clear_refusals_not_server_errors(server, job_and_token):
    job, _ = job_and_token
    status, _ = declare_and_wait(
        server, f"/api/jobs/{job.pk}/uploads/?filename=a.csv", 100, 'Cookie: sessionid="a\\000b"\r\n'
    )
    assert status == 401
    assert socket_close_code(server, "/ws/work/?token=%00") == 4401  # was an HTTP 500 at the handshake
    deep = httpx.post(f"{server}/api/auth/token/", content=b"[" * 200_000, headers={"Content-Type": "application/json"})
    assert deep.status_code == 400 and "nested too deeply" in deep.json()["detail"]


def socket_close_code(server: str, path: str) -> int:
    import asyncio

    import websockets

    async def connect() -> int:
        async with websockets.connect(server.replace("http", "ws", 1) + path) as ws:
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code
        return 0

    return asyncio.run(connect())
