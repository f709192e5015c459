"""The scheduler's committer comes back after PostgreSQL drops its connections, and holds no more of them than
it is configured for: an outage must not leave idle connections behind, one per outage, until max_connections."""

import uuid

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from tasks import services
from tasks.models import Answer
from tests import factories
from tests.scheduling import Client, run

pytestmark = pytest.mark.django_db(transaction=True)


def scheduler_backends(terminate: bool = False) -> int:
    """The committer's connections to this database (``application_name`` quorum-scheduler); terminated first if
    asked, as a PostgreSQL restart or a network cut would."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {'pg_terminate_backend(pid)' if terminate else 'pid'} FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'quorum-scheduler'"
        )
        return len(cur.fetchall())


def test_answers_commit_through_outages_and_the_committer_holds_no_more_connections():
    outages, per_outage = 4, 3
    job = factories.make_job(redundancy=1)
    factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(outages * per_outage + 2)))
    services.job_publish(job)
    worker = factories.make_worker()
    limit = settings.QUORUM_COMMIT_CONNECTIONS

    async def body():
        client = await Client.open(worker)
        task = await client.recv_type("task.assigned")
        for _ in range(outages):
            assert await sync_to_async(scheduler_backends)(terminate=True) >= 1
            for _ in range(per_outage):
                ack = await client.submit(task, "apple", uuid.uuid4().hex)
                assert ack["status"] == "accepted", ack
                task = await client.recv_type("task.assigned")
            assert await sync_to_async(scheduler_backends)() <= limit
        await client.close()

    run(body)
    assert Answer.objects.filter(job=job, worker=worker).count() == outages * per_outage
