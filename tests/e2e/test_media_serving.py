"""Media end to end against a real uvicorn: a zip of images and rows sent over HTTP and ingested by a real Celery
worker, signed URLs in ``task.assigned``, and who may fetch them (the leaseholder, the requester, staff) and who may
not (another worker, anyone anonymous, an expired or altered URL, the worker once the lease has ended)."""

import asyncio
import json
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import websockets
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from tasks import media, services
from tasks.models import Upload
from tests import factories
from tests.servers import asgi_server

from .workers import token

pytestmark = pytest.mark.django_db(transaction=True)

PNG = factories.png_bytes(128, 128, seed=4)  # about 50 KB
DISPLAY = [{"type": "image", "column": "photo", "label": "Photo"}, {"type": "text", "column": "text", "label": ""}]


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("media-var")


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, var_dir):
    # The server keeps files where this process looks for them, and signs with the same key.
    with django_db_blocker.unblock(), asgi_server(QUORUM_VAR_DIR=var_dir, SECRET_KEY=settings.SECRET_KEY) as url:
        yield url


@pytest.fixture(autouse=True)
def _same_media_root(settings, var_dir):
    settings.MEDIA_ROOT = var_dir / "media"


def wait_upload(upload_id: int, timeout: float = 30) -> Upload:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        upload = Upload.objects.get(pk=upload_id)
        if upload.status in (Upload.Status.DONE, Upload.Status.FAILED):
            return upload
        time.sleep(0.1)
    raise TimeoutError("the upload did not finish")


async def first_task(server: str, key: str) -> tuple[websockets.ClientConnection, dict]:
    ws = await websockets.connect(f"{server.replace('http', 'ws', 1)}/ws/work/?token={key}")
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if msg["type"] == "task.assigned":
            return ws, msg


def with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return f"{parts.path}?" + "&".join(f"{k}={v}" for k, v in query.items())


def test_a_zip_upload_gives_workers_signed_urls_that_only_the_leaseholder_and_the_requester_can_use(
    server, celery_worker_process
):
    requester = factories.make_requester()
    owner_key = Token.objects.create(user=requester).key
    job = factories.make_job(owner=requester, display=DISPLAY, redundancy=2)
    rows = [{"id": "1", "text": "a photo", "photo": "photos/part 1.png"}]
    archive = media.zip_bytes({"photos/part 1.png": PNG, "items.csv": factories.csv_bytes(rows)})
    http = httpx.Client(base_url=server, timeout=10)
    owner = {"Authorization": f"Token {owner_key}"}

    # Only the job's requester may send it: the gate refuses anyone else before reading the body.
    stranger_key = Token.objects.create(user=factories.make_requester()).key
    refused = http.post(
        f"/api/jobs/{job.pk}/uploads/?filename=bundle.zip",
        content=archive,
        headers={"Authorization": f"Token {stranger_key}"},
    )
    assert refused.status_code == 401
    response = http.post(f"/api/jobs/{job.pk}/uploads/?filename=bundle.zip", content=archive, headers=owner)
    assert response.status_code == 202, response.text
    upload = wait_upload(response.json()["id"])
    assert upload.status == Upload.Status.DONE, upload.error
    services.job_publish(job)

    holder, other = factories.make_worker(), factories.make_worker()
    holder_key, other_key = token(holder), token(other)

    async def scenario():
        ws, task = await first_task(server, holder_key)
        [item] = task["items"]
        url = item["media"]["photo"]
        assert url.startswith(f"/media/{job.pk}/photos/part%201.png?")
        async with httpx.AsyncClient(base_url=server, timeout=10) as client:
            got = await client.get(url, headers={"Authorization": f"Token {holder_key}"})
            assert got.status_code == 200
            assert got.content == PNG
            assert got.headers["content-type"] == "image/png"
            assert got.headers["x-content-type-options"] == "nosniff"
            assert got.headers["cache-control"].startswith("private")
            # A slice of it, as a browser seeks in audio and video.
            part = await client.get(url, headers={"Authorization": f"Token {holder_key}", "Range": "bytes=8-23"})
            assert part.status_code == 206 and part.content == PNG[8:24]
            assert part.headers["content-range"] == f"bytes 8-23/{len(PNG)}"

            # Another worker with a copied URL, and nobody at all.
            assert (await client.get(url, headers={"Authorization": f"Token {other_key}"})).status_code == 403
            assert (await client.get(url)).status_code == 401
            # An altered URL is as unknown as a file that does not exist.
            tampered = with_query(url, s="A" * 24)
            unknown = url.replace("part%201.png", "part%202.png")
            for bad in (tampered, unknown, with_query(url, a="w999.1")):
                answer = await client.get(bad, headers={"Authorization": f"Token {holder_key}"})
                assert answer.status_code == 404 and answer.json() == {"detail": "no such media file"}
            # Signed right but expired.
            grant = parse_qs(urlsplit(url).query)["a"][0]
            expired = media.signed_url(job.pk, "photos/part 1.png", grant, int(time.time()) - 1)
            assert (await client.get(expired, headers={"Authorization": f"Token {holder_key}"})).status_code == 403

            # The requester may use the worker's URL, and gets their own.
            assert (await client.get(url, headers=owner)).status_code == 200
            viewer = media.viewer_url(job.pk, "photos/part 1.png")
            assert (await client.get(viewer, headers=owner)).content == PNG
            assert (await client.get(viewer, headers={"Authorization": f"Token {other_key}"})).status_code == 403

            # Once the worker has answered, the lease is over and so is their URL.
            await ws.send(
                json.dumps(
                    {
                        "type": "answer.submit",
                        "key": uuid.uuid4().hex,
                        "assignment_id": task["assignment"]["id"],
                        "answers": [{"item": item["id"], "value": task["job"]["options"][0]}],
                    }
                )
            )
            while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "answer.ack":
                pass
            assert (await client.get(url, headers={"Authorization": f"Token {holder_key}"})).status_code == 403
        await ws.close()

    asyncio.run(scenario())

    # A browser session works as a token does (the requester's results pages).
    browser = Client()
    browser.force_login(requester)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    viewer = media.viewer_url(job.pk, "photos/part 1.png")
    assert http.get(viewer, headers={"Cookie": cookie}).content == PNG
    assert http.head(viewer, headers={"Cookie": cookie}).headers["content-length"] == str(len(PNG))
    assert http.post(viewer, headers={"Cookie": cookie}).status_code == 405


def test_media_sent_over_http_to_the_media_endpoint(server):
    requester = factories.make_requester()
    key = Token.objects.create(user=requester).key
    job = factories.make_job(owner=requester, display=DISPLAY)
    with httpx.Client(base_url=server, timeout=10) as http:
        assert http.post(f"/api/jobs/{job.pk}/media/?name=a.png", content=PNG).status_code == 401
        sent = http.post(
            f"/api/jobs/{job.pk}/media/?name=a.png", content=PNG, headers={"Authorization": f"Token {key}"}
        )
        assert sent.status_code == 201, sent.text
        [record] = sent.json()
        assert http.get(record["url"], headers={"Authorization": f"Token {key}"}).content == PNG
