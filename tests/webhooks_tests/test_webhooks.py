"""Webhooks: the API, the SSRF guard, the outbox written with the change, batching, order, retries, resend."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tasks import services as task_services
from tasks.aggregation.service import _write
from tasks.models import Item
from tests import factories
from webhooks import delivery, services
from webhooks.models import Delivery, Endpoint, Event

from .receiver import Receiver


@pytest.fixture(autouse=True)
def _services_only(monkeypatch):
    """These tests call the services themselves: the Celery messages their commits would queue are not sent, so the
    session's Celery worker does not run the same sends beside them, nor after them into other tests."""
    from webhooks import background

    monkeypatch.setattr(background.webhooks_dispatch, "delay", lambda *args, **kwargs: None)
    monkeypatch.setattr(background.deliveries_send, "delay", lambda *args, **kwargs: None)


pytestmark = pytest.mark.django_db


@pytest.fixture
def allow_loopback(settings):
    settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = True
    settings.QUORUM_WEBHOOK_TIMEOUT = 2
    settings.QUORUM_WEBHOOK_CONNECT_TIMEOUT = 1


def verify(secret: str, received) -> bool:
    """What a receiver does (docs/WEBHOOKS.md)."""
    timestamp = received.headers["X-Quorum-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers["X-Quorum-Signature"], f"sha256={expected}")


def job_with_items(owner, n: int):
    job = factories.make_job(owner)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(n)))
    job.refresh_from_db()
    return job


def send_all(endpoint: Endpoint, job_id: int) -> int:
    services.events_dispatch()
    return services.deliveries_send(endpoint.pk, job_id)


# --- API ------------------------------------------------------------------------------------------------------------
def test_creating_an_endpoint_shows_its_secret_once(requester_api, allow_loopback):
    response = requester_api.post(
        "/api/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["job.published"]}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["secret"]) >= 32 and body["job"] is None and body["batch_size"] == 100
    listed = requester_api.get("/api/webhooks/").json()["results"]
    assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]
    assert "secret" not in requester_api.get(f"/api/webhooks/{body['id']}/").json()


def test_a_loopback_url_is_refused_unless_the_deployment_allows_it(requester_api, settings):
    settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = False
    response = requester_api.post(
        "/api/webhooks/", {"url": "http://127.0.0.1:8000/hook", "events": ["job.done"]}, format="json"
    )
    assert response.status_code == 400
    assert "loopback" in response.json()["url"][0] and "QUORUM_WEBHOOK_ALLOW_PRIVATE" in response.json()["url"][0]
    for url in ["http://10.1.2.3/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "ftp://example.com/"]:
        assert (
            requester_api.post("/api/webhooks/", {"url": url, "events": ["job.done"]}, format="json").status_code == 400
        )


def test_a_name_that_resolves_to_loopback_is_refused_at_send_time(requester, settings):
    settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = False
    outcome = delivery.post("http://localhost:9/hook", b"{}", {})
    assert not outcome.ok and outcome.error.startswith("refused:") and "loopback" in outcome.error


def test_allow_and_deny_lists(settings):
    settings.QUORUM_WEBHOOK_DENIED_HOSTS = ["evil.example", "203.0.113.0/24"]
    assert "deny list" in delivery.url_problem("https://evil.example/x")
    assert "deny list" in delivery.url_problem("https://203.0.113.7/x")
    settings.QUORUM_WEBHOOK_ALLOWED_HOSTS = [".hooks.example"]
    assert delivery.url_problem("https://a.hooks.example/x") is None
    assert "allow list" in delivery.url_problem("https://other.example/x")


def test_other_requesters_see_nothing_and_workers_are_refused(requester_api, worker, api, allow_loopback):
    endpoint = services.endpoint_create(
        owner=factories.make_requester(), url="http://127.0.0.1:9/", events=["job.done"]
    )
    assert requester_api.get(f"/api/webhooks/{endpoint.pk}/").status_code == 404
    assert requester_api.get(f"/api/webhooks/{endpoint.pk}/deliveries/").status_code == 404
    api.force_authenticate(worker)
    assert api.get("/api/webhooks/").status_code == 403


def test_an_endpoint_for_another_requesters_job_is_refused(requester_api, allow_loopback):
    job = factories.make_job()
    response = requester_api.post(
        "/api/webhooks/", {"url": "http://127.0.0.1:9/", "events": ["job.done"], "job": job.pk}, format="json"
    )
    assert response.status_code == 400 and "job" in response.json()


# --- the outbox -----------------------------------------------------------------------------------------------------
def test_no_endpoint_no_event_row(requester):
    job = job_with_items(requester, 3)
    task_services.job_publish(job)
    assert not Event.objects.exists()


def test_publish_and_pause_are_recorded_with_the_change_and_delivered_signed_in_order(requester, allow_loopback):
    job = job_with_items(requester, 3)
    with Receiver() as receiver:
        endpoint = services.endpoint_create(owner=requester, url=receiver.url, events=["job.published", "job.paused"])
        task_services.job_publish(job)
        task_services.job_pause(job, reason="lunch")
        assert Event.objects.filter(job=job).count() == 2
        assert send_all(endpoint, job.pk) == 2
    assert not Event.objects.exists()
    payloads = [r.payload for r in receiver.received]
    assert [p["event"] for p in payloads] == ["job.published", "job.paused"]
    assert payloads[1]["data"] == {"status": "paused", "reason": "lunch"} and payloads[1]["job"] == job.pk
    for r in receiver.received:
        assert verify(endpoint.secret, r)
        assert r.headers["X-Quorum-Delivery"] == str(r.payload["id"])
        assert r.headers["X-Quorum-Event"] == r.payload["event"]
    assert list(Delivery.objects.values_list("status", "response_code", "attempts")) == [("delivered", 200, 1)] * 2


def test_a_failed_change_records_no_event(requester, allow_loopback):
    job = factories.make_job(requester)  # no items: publishing fails
    services.endpoint_create(owner=requester, url="http://127.0.0.1:9/", events=["job.published"])
    with pytest.raises(task_services.JobStateError):
        task_services.job_publish(job)
    assert not Event.objects.exists()


def test_upload_done_and_failed(requester, allow_loopback):
    job = factories.make_job(requester)
    services.endpoint_create(owner=requester, url="http://127.0.0.1:9/", events=["upload.done", "upload.failed"])
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(4)))
    factories.ingest_now(job, b"id,text\n1\n")
    events = list(Event.objects.order_by("id").values_list("event", "data"))
    assert events[0][0] == "upload.done" and events[0][1]["items"] == 4
    assert events[1][0] == "upload.failed" and events[1][1]["error"]


def results_pass(job, value="apple"):
    items = list(Item.objects.filter(job=job).values_list("pk", flat=True))
    return _write(job, [(pk, value, 0.9, 3, 1.0, None) for pk in items], "majority")


def test_item_results_are_recorded_set_based_once_per_version(requester, allow_loopback):
    job = job_with_items(requester, 2500)
    services.endpoint_create(owner=requester, url="http://127.0.0.1:9/", events=["item.result"])
    assert results_pass(job) == 2500
    # One outbox row per thousand changed items, not per item.
    assert list(Event.objects.order_by("id").values_list("item_count", flat=True)) == [1000, 1000, 500]
    assert results_pass(job) == 0  # unchanged: nothing rewritten, nothing recorded
    assert Event.objects.count() == 3
    assert results_pass(job, "banana") == 2500
    assert set(Item.objects.filter(job=job).values_list("result_version", flat=True)) == {2}
    pairs = [(r["item"], r["version"]) for e in Event.objects.all() for r in e.data["results"]]
    assert len(pairs) == len(set(pairs)) == 5000


def test_item_results_are_batched_by_count_and_wait_for_the_batch(requester, allow_loopback):
    job = job_with_items(requester, 250)
    endpoint = services.endpoint_create(
        owner=requester, url="http://127.0.0.1:9/", events=["item.result"], batch_size=100, batch_seconds=60
    )
    items = list(Item.objects.filter(job=job).order_by("pk").values_list("pk", flat=True))
    _write(job, [(pk, "apple", 0.9, 3, 1.0, None) for pk in items[:50]], "majority")
    assert services.events_dispatch() == (0, 0)  # 50 < 100 and young: it waits
    _write(job, [(pk, "apple", 0.9, 3, 1.0, None) for pk in items[50:]], "majority")
    assert services.events_dispatch() == (2, 3)
    sizes = [len(d.data["results"]) for d in Delivery.objects.filter(endpoint=endpoint).order_by("id")]
    assert sizes == [100, 100, 50]
    first = Delivery.objects.filter(endpoint=endpoint).order_by("id").first().data["results"][0]
    assert first == {"item": items[0], "external_id": "i0", "version": 1, "result": "apple", "confidence": 0.9,
                     "final": False}  # fmt: skip


def test_a_small_batch_goes_after_batch_seconds(requester, allow_loopback):
    job = job_with_items(requester, 5)
    services.endpoint_create(owner=requester, url="http://127.0.0.1:9/", events=["item.result"], batch_seconds=0.5)
    results_pass(job)
    Event.objects.update(created_at=timezone.now() - timedelta(seconds=1))
    assert services.events_dispatch() == (1, 1)


# --- sending --------------------------------------------------------------------------------------------------------
def one_delivery(requester, url, event="job.published"):
    job = job_with_items(requester, 1)
    endpoint = services.endpoint_create(owner=requester, url=url, events=[event])
    services.event_record(job.pk, event, {"status": "open"})
    services.events_dispatch()
    return endpoint, job


@pytest.mark.parametrize(
    ("behaviour", "code", "error"),
    [
        ({"status": 500}, 500, "HTTP 500: broken on purpose"),
        ({"redirect_to": "http://169.254.169.254/"}, 302, "redirect to http://169.254.169.254/ not followed"),
        ({"delay": 4}, None, "timed out"),
    ],
)
def test_a_bad_endpoint_is_a_clear_failure_with_a_retry_scheduled(requester, allow_loopback, behaviour, code, error):
    with Receiver(**behaviour) as receiver:
        endpoint, job = one_delivery(requester, receiver.url)
        started = timezone.now()
        assert services.deliveries_send(endpoint.pk, job.pk) == 0
    d = Delivery.objects.get()
    assert (d.status, d.response_code, d.attempts) == ("failed", code, 1)
    assert d.error.startswith(error), d.error
    assert timedelta(seconds=3) < d.next_attempt_at - started < timedelta(seconds=10)
    assert d.locked_until is None


def test_a_later_delivery_waits_for_an_earlier_one(requester, allow_loopback):
    with Receiver(fail_first=1) as receiver:
        endpoint, job = one_delivery(requester, receiver.url, "job.paused")
        services.event_record(job.pk, "job.paused", {"status": "paused"})
        services.events_dispatch()
        assert services.deliveries_send(endpoint.pk, job.pk) == 0  # the first failed; the second must wait
        assert len(receiver.received) == 1
        Delivery.objects.filter(status="failed").update(next_attempt_at=timezone.now())
        assert services.deliveries_send(endpoint.pk, job.pk) == 2
    ids = [r.payload["id"] for r in receiver.received]
    assert ids[0] == ids[1] < ids[2]  # the retry carries the same delivery id, then the next one
    assert list(Delivery.objects.order_by("id").values_list("status", "attempts")) == [
        ("delivered", 2),
        ("delivered", 1),
    ]


def test_retries_span_a_day_starting_quick():
    delays = services.retry_delays()
    assert delays[:3] == [4, 12, 36] and sum(delays[:3]) < 60
    assert max(delays) == 3600 and sum(delays) >= 24 * 3600


def test_it_gives_up_after_the_schedule_and_the_next_one_goes(requester, allow_loopback, settings):
    settings.QUORUM_WEBHOOK_RETRY_SPAN_SECONDS = 10  # 4 + 12: two retries
    with Receiver(status=500) as receiver:
        endpoint, job = one_delivery(requester, receiver.url)
        for _ in range(3):
            Delivery.objects.filter(status="failed").update(next_attempt_at=timezone.now())
            services.deliveries_send(endpoint.pk, job.pk)
    d = Delivery.objects.get()
    assert (d.status, d.attempts, d.next_attempt_at) == ("gave_up", 3, None)


def test_resend_queues_it_again_keeping_attempts(requester_api, allow_loopback):
    requester = requester_api.user
    with Receiver(status=500) as receiver:
        endpoint, job = one_delivery(requester, receiver.url)
        services.deliveries_send(endpoint.pk, job.pk)
        d = Delivery.objects.get()
        listed = requester_api.get(f"/api/webhooks/{endpoint.pk}/deliveries/?status=failed").json()
        assert [x["id"] for x in listed["results"]] == [d.pk] and listed["results"][0]["response_code"] == 500
        response = requester_api.post(f"/api/webhooks/deliveries/{d.pk}/resend/")
        assert response.status_code == 202
        assert (response.json()["status"], response.json()["attempts"]) == ("pending", 1)
        receiver.behaviour.status = 200
        assert services.deliveries_send(endpoint.pk, job.pk) == 1
    assert Delivery.objects.get().status == "delivered"
    other = factories.make_requester()
    requester_api.force_authenticate(other)
    assert requester_api.post(f"/api/webhooks/deliveries/{d.pk}/resend/").status_code == 404


def test_a_flushed_redis_and_a_dead_celery_worker_lose_nothing(requester, allow_loopback):
    """Events wait in PostgreSQL; a delivery claimed by a Celery worker that died is tried again once its claim
    lapses. The sweep finds both."""
    with Receiver() as receiver:
        endpoint, job = one_delivery(requester, receiver.url)
        services.event_record(job.pk, "job.published", {"status": "open"})  # never dispatched: Redis lost the task
        with connection.cursor() as cur:  # the first was claimed by a Celery worker that then died
            cur.execute("UPDATE webhooks_delivery SET status = 'delivering', attempts = 1,"
                        " locked_until = now() - interval '1 second'")  # fmt: skip
        from webhooks.selectors import delivery_heads_due

        services.events_dispatch()
        assert delivery_heads_due() == [(endpoint.pk, job.pk)]
        assert services.deliveries_send(endpoint.pk, job.pk) == 2
    assert [r.payload["id"] for r in receiver.received] == sorted(Delivery.objects.values_list("id", flat=True))


def test_the_page_lists_deliveries_and_resends(client, requester, allow_loopback):
    client.force_login(requester)
    with Receiver(status=500) as receiver:
        endpoint, job = one_delivery(requester, receiver.url)
        services.deliveries_send(endpoint.pk, job.pk)
    page = client.get(f"/webhooks/?job={job.pk}")
    assert page.status_code == 200
    text = page.content.decode()
    assert receiver.url in text and "HTTP 500" in text and "Failed, will retry" in text
    d = Delivery.objects.get()
    assert client.post(f"/webhooks/deliveries/{d.pk}/resend/").status_code == 302
    assert Delivery.objects.get().status == "pending"
    assert f'href="/webhooks/?job={job.pk}"' in client.get(f"/jobs/{job.pk}/").content.decode()


def test_the_page_adds_an_endpoint_and_shows_its_secret_once(client, requester, allow_loopback):
    client.force_login(requester)
    response = client.post("/webhooks/new/", {"url": "http://127.0.0.1:9/hook", "events": ["job.done"]})
    assert response.status_code == 302
    secret = Endpoint.objects.get().secret
    assert secret in client.get("/webhooks/").content.decode()
    assert secret not in client.get("/webhooks/").content.decode()


def test_a_signature_body_is_what_was_sent():
    body = json.dumps({"a": 1}).encode()
    assert delivery.sign("s3cret", 100, body) == "sha256=" + hmac.new(b"s3cret", b"100." + body, "sha256").hexdigest()


def test_a_slow_answer_within_the_timeout_is_delivered(requester, allow_loopback):
    with Receiver(delay=0.5) as receiver:
        endpoint, job = one_delivery(requester, receiver.url)
        assert services.deliveries_send(endpoint.pk, job.pk) == 1
    assert Delivery.objects.get().status == "delivered"


def test_an_address_refused_at_send_time_is_a_clear_failure_not_a_call(requester, allow_loopback, settings):
    with Receiver() as receiver:
        endpoint, job = one_delivery(requester, receiver.url)
        settings.QUORUM_WEBHOOK_ALLOW_PRIVATE = False  # the deployment changed its rules meanwhile
        assert services.deliveries_send(endpoint.pk, job.pk) == 0
    d = Delivery.objects.get()
    assert d.status == "failed" and d.response_code is None and not receiver.received
    assert d.error.startswith("refused: 127.0.0.1 is a loopback address")
