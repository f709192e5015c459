"""/metrics: who may read it, that Prometheus can parse it, and that its figures move with what happens: answers
committed through a real server and its WebSockets, sockets opened, counts from other processes (multiprocess
mode), state read from PostgreSQL and Redis."""

import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from quorum import metrics
from quorum.redis import get_redis
from tasks import services
from tasks.models import Assignment, Microtask
from tasks.scheduling import keys
from tests import factories
from tests.e2e.workers import SimWorker, token
from tests.servers import ROOT, asgi_server_process

pytestmark = pytest.mark.django_db

METRICS_TOKEN = "t" * 12 + "0123456789abcdef"


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of an exposition, through Prometheus's own text parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def staff_user():
    staff = factories.make_requester()
    staff.is_staff = True
    staff.save(update_fields=["is_staff"])
    return staff


@pytest.fixture
def fresh_state(monkeypatch):
    """State gauges read on every scrape (no cache), as a test needs to see a change at once."""
    monkeypatch.setattr(metrics, "_state", metrics.StateCollector(cache_seconds=0))


def test_anonymous_callers_and_non_staff_are_refused(client, requester, settings):
    settings.QUORUM_METRICS_TOKEN = METRICS_TOKEN
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    assert b"quorum_" not in anonymous.content
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer " + "x" * len(METRICS_TOKEN))
    assert wrong.status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {METRICS_TOKEN}").status_code == 401
    client.force_login(requester)
    assert client.get("/metrics").status_code == 403


def test_staff_and_the_token_read_metrics_prometheus_can_parse(client, settings, fresh_state):
    settings.QUORUM_METRICS_TOKEN = METRICS_TOKEN
    by_token = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert by_token.status_code == 200
    assert by_token["Content-Type"].startswith("text/plain")
    assert "no-store" in by_token["Cache-Control"] or "max-age=0" in by_token["Cache-Control"]
    found = samples(by_token.content.decode())
    for name in ("quorum_answers_total", "quorum_commit_batch_size_count", "quorum_commit_seconds_count",
                 "quorum_sockets_open", "quorum_ingest_rows_total", "quorum_webhook_failures_total",
                 "quorum_leases_in_flight", "quorum_results_pending", "quorum_automation_coverage",
                 "quorum_workers_online"):  # fmt: skip
        assert (name, ()) in found, name
    assert found[("quorum_state_up", (("source", "postgresql"),))] == 1
    assert found[("quorum_state_up", (("source", "redis"),))] == 1
    assert ("quorum_queue_depth", (("queue", "celery-default"),)) in found
    client.force_login(staff_user())
    assert client.get("/metrics").status_code == 200
    # Without a configured token, no Bearer header gets in.
    settings.QUORUM_METRICS_TOKEN = ""
    client.logout()
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def scrape_here(client) -> dict:
    client.force_login(staff_user())
    return samples(client.get("/metrics").content.decode())


def test_commit_batches_land_in_the_histograms_as_observations_would(client):
    before = scrape_here(client)
    metrics.commit_batch(3, 0.004)
    metrics.commit_batch(3, 0.004)
    metrics.commit_batch(300, 0.3)
    metrics.answers_committed(7, 5)
    waiting = scrape_here(client)  # counted, not yet moved: the scheduler runtime flushes once a second
    for name in ("quorum_commit_batch_size_count", "quorum_answers_total"):
        assert waiting[(name, ())] == before[(name, ())]
    metrics.flush()
    after = scrape_here(client)

    def moved(name, labels=()):
        return after[(name, labels)] - before.get((name, labels), 0)

    assert moved("quorum_commit_batch_size_count") == 3
    assert moved("quorum_commit_batch_size_sum") == 306
    assert moved("quorum_commit_batch_size_bucket", (("le", "2.0"),)) == 0
    assert moved("quorum_commit_batch_size_bucket", (("le", "4.0"),)) == 2  # buckets are cumulative
    assert moved("quorum_commit_batch_size_bucket", (("le", "256.0"),)) == 2
    assert moved("quorum_commit_batch_size_bucket", (("le", "512.0"),)) == 3
    assert moved("quorum_commit_seconds_bucket", (("le", "0.005"),)) == 2
    assert moved("quorum_commit_seconds_sum") == pytest.approx(0.308)
    assert moved("quorum_answers_total") == 7
    assert moved("quorum_submissions_accepted_total") == 5


def test_webhook_deliveries_are_counted_by_status_class(client):
    before = scrape_here(client)
    metrics.webhook_delivery(204)
    metrics.webhook_delivery(503)
    metrics.webhook_delivery("timeout")
    metrics.webhook_failed()
    after = scrape_here(client)
    for status, n in (("2xx", 1), ("5xx", 1), ("timeout", 1)):
        key = ("quorum_webhook_deliveries_total", (("status", status),))
        assert after[key] - before.get(key, 0) == n
    assert after[("quorum_webhook_failures_total", ())] - before[("quorum_webhook_failures_total", ())] == 1


def test_state_gauges_follow_postgresql_and_redis(client, fresh_state):
    job = factories.make_job(redundancy=1)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(3)))
    services.job_publish(job)
    before = scrape_here(client)
    worker = factories.make_worker()
    microtask = Microtask.objects.filter(job=job).first()
    now = timezone.now()
    Assignment.objects.create(microtask=microtask, job=job, worker=worker, status="leased", leased_at=now,
                              expires_at=now + timedelta(minutes=5))  # fmt: skip
    get_redis().rpush(f"{keys.prefix()}:aggregate", f"{job.pk}:{microtask.pk}")
    after = scrape_here(client)
    assert after[("quorum_leases_in_flight", ())] == before[("quorum_leases_in_flight", ())] + 1
    queue = ("quorum_queue_depth", (("queue", "microtasks-to-aggregate"),))
    assert after[queue] == before[queue] + 1
    assert after[("quorum_jobs", (("status", "open"),))] >= 1


def test_ingested_rows_are_counted(client):
    before = scrape_here(client)
    job = factories.make_job()
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(4)))
    failed = factories.make_job()
    factories.ingest_now(failed, b"text\n")  # no data rows: the upload fails
    after = scrape_here(client)
    assert after[("quorum_ingest_rows_total", ())] - before.get(("quorum_ingest_rows_total", ()), 0) == 4
    ok, bad = ("quorum_ingests_total", (("outcome", "ok"),)), ("quorum_ingests_total", (("outcome", "failed"),))
    assert after[ok] - before.get(ok, 0) == 1
    assert after[bad] - before.get(bad, 0) == 1


# --- a real server, real sockets, several processes ----------------------------------------------------------


def scrape(url: str) -> dict:
    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"].find("no-store") >= 0 or "max-age=0" in response.headers["Cache-Control"]
    return samples(response.text)


def wait_for(url: str, check, timeout: float = 10.0) -> dict:
    """Scrape until ``check(samples)`` holds (the answer path's counts reach the metrics once a second)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = scrape(url)
        except httpx.TransportError:  # a web process being started again
            if time.monotonic() > deadline:
                raise
            found = None
        if found is not None and (check(found) or time.monotonic() > deadline):
            return found
        time.sleep(0.3)


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_counters_move_when_answers_are_committed_through_a_running_server(tmp_path):
    job = factories.make_job(redundancy=2)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(6)))
    services.job_publish(job)
    workers = [factories.make_worker() for _ in range(2)]
    keys_ = [token(w) for w in workers]
    multiproc = tmp_path / "metrics"
    multiproc.mkdir()
    with asgi_server_process(QUORUM_METRICS_TOKEN=METRICS_TOKEN, PROMETHEUS_MULTIPROC_DIR=str(multiproc)) as (url, _):
        before = scrape(url)
        assert before[("quorum_answers_total", ())] == 0
        ws = url.replace("http://", "ws://")

        async def crowd():
            sims = [SimWorker(key, [ws], think=0.0) for key in keys_]
            return await asyncio.gather(*(sim.run(idle_timeout=2.0) for sim in sims))

        sims = asyncio.run(crowd())
        acked = sum(len(sim.acked) for sim in sims)
        assert acked == 12  # 6 items, 2 answers each
        after = wait_for(url, lambda s: s[("quorum_answers_total", ())] >= acked)
        assert after[("quorum_answers_total", ())] == acked
        assert after[("quorum_submissions_accepted_total", ())] == acked
        assert after[("quorum_commit_batch_size_count", ())] >= 1
        assert after[("quorum_commit_batch_size_sum", ())] >= acked  # each submit is a statement, leases too
        assert after[("quorum_commit_seconds_count", ())] == after[("quorum_commit_batch_size_count", ())]
        assert after[("quorum_sockets_open", ())] == 0  # the workers left

        async def hold_socket():
            import websockets

            async with websockets.connect(f"{ws}/ws/work/?token={keys_[0]}"):
                return wait_for(url, lambda s: s[("quorum_sockets_open", ())] == 1, timeout=5)

        assert asyncio.run(hold_socket())[("quorum_sockets_open", ())] == 1

        # Another process (a Celery worker, say) counts into the same directory: the server's /metrics adds it.
        subprocess.run(
            [sys.executable, "-c", "from quorum import metrics; metrics.ingest_finished(5)"],
            cwd=ROOT, env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}, check=True, timeout=60,
        )  # fmt: skip
        rows = scrape(url)[("quorum_ingest_rows_total", ())]
        assert rows == before[("quorum_ingest_rows_total", ())] + 5


def test_the_launcher_empties_the_directory_and_a_dead_childs_sockets_stop_counting(tmp_path, monkeypatch):
    from quorum import launcher

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    old = tmp_path / "metrics" / "counter_host-1.db"
    old.parent.mkdir()
    old.write_bytes(b"x")
    path = launcher.metrics_dir_prepare(tmp_path)
    assert path == tmp_path / "metrics" and not old.exists()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    child = metrics.process_identifier(4242)
    sockets, counts = path / f"gauge_livesum_{child}.db", path / f"counter_{child}.db"
    sockets.write_bytes(b"x")
    counts.write_bytes(b"x")
    launcher.metrics_process_dead(4242)
    assert not sockets.exists() and counts.exists()  # its answers stay counted


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_make_run_adds_up_web_and_celery_processes_and_forgets_a_killed_ones_sockets(tmp_path):
    """The launcher's processes (web, Celery worker, beat) count into one directory: the web process's /metrics
    shows the Celery worker's jobs; a web process killed with its socket open no longer counts that socket."""
    import signal

    import psutil
    import websockets

    from tests.servers import free_port, server_env

    worker_key = token(factories.make_worker())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = server_env(QUORUM_VAR_DIR=tmp_path, QUORUM_AUTOMATION_PRELOAD=0, QUORUM_AUTOMATION_SOLVER="hashing",
                     QUORUM_METRICS_TOKEN=METRICS_TOKEN)  # fmt: skip
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with (tmp_path / "launcher.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "quorum.launcher", "--port", str(port), "--no-demo"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            from tests.servers import wait_http

            wait_http(f"{url}/healthz", timeout=60, proc=proc)
            assert (tmp_path / "metrics").is_dir()
            expired = ("quorum_background_tasks_total", (("outcome", "ok"), ("task", "tasks.background.expire_leases")))
            found = wait_for(url, lambda s: s.get(expired, 0) >= 1, timeout=30)  # beat sends it every 2 s
            assert found.get(expired, 0) >= 1

            async def killed_while_open():
                async with websockets.connect(f"{url.replace('http', 'ws')}/ws/work/?token={worker_key}") as ws:
                    await ws.recv()  # session.ready: the socket is registered
                    opened = wait_for(url, lambda s: s[("quorum_sockets_open", ())] == 1)
                    assert opened[("quorum_sockets_open", ())] == 1
                    children = psutil.Process(proc.pid).children()
                    web = [p for p in children if "quorum.uvicorn_socket" in " ".join(p.cmdline())]
                    web[0].kill()

            asyncio.run(killed_while_open())
            after = wait_for(url, lambda s: s[("quorum_sockets_open", ())] == 0, timeout=30)
            assert after[("quorum_sockets_open", ())] == 0
            assert after.get(expired, 0) >= found[expired]  # the Celery worker's counts outlive the web process
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(40)
