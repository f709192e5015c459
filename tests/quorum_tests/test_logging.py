"""Log lines: a request id on every request (the caller's when it is a sane one) returned in X-Request-ID; with
LOG_FORMAT=json a real server writes one JSON object per line naming the request, the user and the job; Celery
jobs name their task id and job; Sentry only when SENTRY_DSN is set."""

import json
import logging
import subprocess
import sys

import httpx
import pytest

from quorum import logs
from tests import factories
from tests.e2e.workers import token
from tests.servers import ROOT, free_port, server_env, wait_http

pytestmark = pytest.mark.django_db


def test_a_request_gets_an_id_and_a_sane_incoming_one_is_kept(client):
    fresh = client.get("/healthz")
    assert len(fresh["X-Request-ID"]) == 32
    assert client.get("/healthz")["X-Request-ID"] != fresh["X-Request-ID"]
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234.abcd")["X-Request-ID"] == "lb-1234.abcd"
    for bad in ("x" * 65, "has space", 'quote"', "line\nbreak", "ünicode"):
        kept = client.get("/healthz", HTTP_X_REQUEST_ID=bad)["X-Request-ID"]
        assert kept != bad and len(kept) == 32


def test_json_lines_carry_time_level_logger_message_and_exception():
    record = logging.LogRecord("quorum.test", logging.ERROR, __file__, 1, "failed %s", ("here",), None)
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    logs.request_id_var.set("abc")
    logs.ContextFilter().filter(record)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "failed here" and line["level"] == "ERROR" and line["logger"] == "quorum.test"
    assert line["request_id"] == "abc" and line["time"].startswith("20")
    assert "ValueError: boom" in line["exception"]
    logs.request_id_var.set(None)


def test_a_celery_job_names_its_job_by_argument_name_or_position():
    from tasks.automation.background import automation_run_job

    assert logs.job_of_task(automation_run_job, (42,), {}) == 42
    assert logs.job_of_task(automation_run_job, (), {"job_id": 7}) == 7
    from tasks.background import ingest_upload

    assert logs.job_of_task(ingest_upload, (42,), {}) is None  # an upload id is not a job id


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_server_with_log_format_json_writes_one_json_object_per_line(tmp_path):
    requester = factories.make_requester()
    job = factories.make_job(owner=requester)
    port = free_port()
    err_path = tmp_path / "stderr.log"
    with err_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "quorum.asgi:application", "--host", "127.0.0.1", "--port", str(port),
             "--no-access-log", "--lifespan", "off"],
            cwd=ROOT, env=server_env(LOG_FORMAT="json"), stderr=err,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_http(f"{url}/healthz", proc=proc)
            response = httpx.get(
                f"{url}/api/jobs/{job.pk}/",
                headers={"Authorization": f"Token {token(requester)}", "X-Request-ID": "req-json-1"},
            )
            assert response.status_code == 200 and response.headers["X-Request-ID"] == "req-json-1"
            httpx.get(f"{url}/jobs/{job.pk}/", headers={"X-Request-ID": "req-json-2"})  # anonymous: a redirect
        finally:
            proc.terminate()
            proc.wait(10)
    lines = [line for line in err_path.read_text().splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in parsed)
    api = [e for e in parsed if e.get("request_id") == "req-json-1" and e["logger"] == "quorum.request"]
    assert len(api) == 1
    assert api[0]["user"] == requester.pk and api[0]["job"] == job.pk and api[0]["status"] == 200
    page = [e for e in parsed if e.get("request_id") == "req-json-2" and e["logger"] == "quorum.request"]
    assert page and page[0]["user"] is None and page[0]["job"] == job.pk and page[0]["status"] == 302


def run_python(code: str, **env) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=server_env(**env), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


SENTRY_PROBE = """
import django, sys
django.setup()
if "sentry_sdk" not in sys.modules:
    print("not imported")
else:
    import sentry_sdk
    client = sentry_sdk.get_client()
    names = sorted(client.integrations)
    print(client.is_active(), client.options["send_default_pii"], "django" in names, "celery" in names)
"""


def test_sentry_starts_only_with_a_dsn_and_without_personal_data():
    assert run_python(SENTRY_PROBE, SENTRY_DSN="") == "not imported"
    assert run_python(SENTRY_PROBE, SENTRY_DSN="http://key@127.0.0.1:9/1") == "True False True True"
