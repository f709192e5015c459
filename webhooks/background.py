"""Celery jobs of webhooks: dispatch the outbox, send deliveries in order, and the beat sweep that finds whatever
a dead Celery worker or a flushed Redis left behind."""

import time

from celery import shared_task

from quorum.periodic import one_at_a_time

from . import selectors, services

SWEEP_SECONDS = 5.0


@shared_task(ignore_result=True)
def webhooks_dispatch() -> None:
    services.events_dispatch()


@shared_task(ignore_result=True)
def deliveries_send(endpoint_id: int, job_id: int) -> None:
    services.deliveries_send(endpoint_id, job_id)


@shared_task(ignore_result=True)
@one_at_a_time("webhooks_sweep", ttl=120)
def webhooks_sweep() -> None:
    """Celery beat, every second: dispatch the outbox (bounded in time), then queue a send for every (endpoint,
    job) whose first delivery is due."""
    started = time.monotonic()
    while time.monotonic() - started < SWEEP_SECONDS:
        taken, _ = services.events_dispatch()
        if taken < services.DISPATCH_BATCH:
            break
    services.deliveries_enqueue(selectors.delivery_heads_due())


@shared_task(ignore_result=True)
@one_at_a_time("webhooks_deliveries_purge", ttl=3600)
def deliveries_purge() -> None:
    services.deliveries_purge()
