"""An upload's file and its job's life: files are deleted when ingested (or kept for the retention time), with
their job, and never left half-written; a delete during an ingest waits for it, and an ingest into a job that
was deleted or cancelled meanwhile stores nothing."""

import io
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import OperationalError, transaction
from django.utils import timezone

from tasks import background, services
from tasks.intake import IntakeError
from tasks.models import Item, Job, Microtask, Upload
from tests import factories

GOOD = b"id,text\na,first\nb,second\n"


def upload_files() -> set[Path]:
    return set(services.upload_dir().iterdir())


def store(job, data: bytes = GOOD, filename: str = "items.csv") -> Upload:
    return services.upload_create(job=job, filename=filename, source=io.BytesIO(data), in_background=False)


def many_rows(count: int) -> bytes:
    """JSON Lines take the careful path: an ingest of these lasts long enough to be caught in the middle."""
    return "".join(f'{{"id": "r{i}", "text": "row number {i}"}}\n' for i in range(count)).encode()


# --- files ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("data", [GOOD, b"id,text\n1,a,extra\n"], ids=["done", "failed"])
def test_the_file_is_deleted_when_its_ingest_ends(data):
    before = upload_files()
    upload = store(factories.make_job(), data)
    assert Path(upload.path).exists()
    upload = services.upload_ingest(upload.pk)
    assert upload.status in (Upload.Status.DONE, Upload.Status.FAILED)
    assert not Path(upload.path or "/nonexistent").exists()
    assert Upload.objects.get(pk=upload.pk).path == ""
    assert upload_files() == before


@pytest.mark.django_db
def test_the_file_is_deleted_when_the_ingest_fails_inside(monkeypatch):
    before = upload_files()
    upload = store(factories.make_job())

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "ingest_file", broken)
    with pytest.raises(RuntimeError):
        services.upload_ingest(upload.pk)
    assert Upload.objects.get(pk=upload.pk).status == Upload.Status.FAILED
    assert upload_files() == before


@pytest.mark.django_db
def test_with_a_retention_time_files_are_kept_and_then_purged(settings):
    settings.QUORUM_UPLOAD_RETENTION_HOURS = 2
    job = factories.make_job()
    old, recent = store(job), store(job)
    services.upload_ingest(old.pk)
    services.upload_ingest(recent.pk)
    assert Path(old.path).exists() and Path(recent.path).exists()
    Upload.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(hours=3))
    assert background.purge_upload_files() >= 1
    assert not Path(old.path).exists() and Upload.objects.get(pk=old.pk).path == ""
    assert Path(recent.path).exists() and Upload.objects.get(pk=recent.pk).path == recent.path


@pytest.mark.django_db
def test_the_purge_deletes_old_files_that_no_upload_names():
    leftover = services.upload_dir() / "0123456789abcdef-leftover.csv"
    leftover.write_bytes(GOOD)
    fresh = services.upload_dir() / "fedcba9876543210-fresh.csv"
    fresh.write_bytes(GOOD)
    day_and_more = time.time() - 25 * 3600
    os.utime(leftover, (day_and_more, day_and_more))
    try:
        background.purge_upload_files()
        assert not leftover.exists()
        assert fresh.exists()  # it may be an upload still being written
    finally:
        leftover.unlink(missing_ok=True)
        fresh.unlink(missing_ok=True)


@pytest.mark.django_db
def test_a_file_cut_off_while_it_is_sent_leaves_nothing():
    class CutOff(io.RawIOBase):
        sent = 0

        def read(self, n=-1):
            self.sent += 1
            if self.sent > 3:
                raise OSError("the client went away")
            return b"x" * (1 << 20)

    before = upload_files()
    with pytest.raises(OSError):
        services.upload_create(job=factories.make_job(), filename="big.csv", source=CutOff(), in_background=False)
    assert upload_files() == before
    assert not Upload.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_deleting_a_job_deletes_its_files(settings, requester_api):
    settings.QUORUM_UPLOAD_RETENTION_HOURS = 2  # kept after the ingest, so the delete is what removes them
    before = upload_files()
    job = factories.make_job(owner=requester_api.user)
    ingested, waiting = store(job), store(job)
    services.upload_ingest(ingested.pk)
    assert len(upload_files() - before) == 2
    assert requester_api.delete(f"/api/jobs/{job.pk}/").status_code == 204
    assert upload_files() == before
    assert not Upload.objects.filter(pk__in=[ingested.pk, waiting.pk]).exists()


# --- a delete or a cancel while an upload waits or is ingested ---------------------------------------------------


def job_row_locked(job_id: int) -> bool:
    try:
        with transaction.atomic():
            list(Job.objects.select_for_update(nowait=True).filter(pk=job_id))
        return False
    except OperationalError:
        return True


def ingest_in_thread(upload_id: int) -> tuple[threading.Thread, list]:
    outcome: list = []

    def run():
        from django.db import connection

        try:
            outcome.append(services.upload_ingest(upload_id))
        except BaseException as exc:  # noqa: BLE001 - the test asserts there was none
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def wait_for_lock(job_id: int, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 30
    while not job_row_locked(job_id):
        assert thread.is_alive(), "the ingest ended before it was caught holding the job's lock"
        assert time.monotonic() < deadline
        time.sleep(0.005)


@pytest.mark.django_db(transaction=True)
def test_a_delete_during_an_ingest_waits_for_it_and_leaves_nothing(requester_api):
    before = upload_files()
    job = factories.make_job(owner=requester_api.user)
    upload = store(job, many_rows(60_000), "items.jsonl")
    thread, outcome = ingest_in_thread(upload.pk)
    wait_for_lock(job.pk, thread)
    response = requester_api.delete(f"/api/jobs/{job.pk}/")
    thread.join(60)
    assert response.status_code == 204, response.content
    assert isinstance(outcome[0], Upload) and outcome[0].status == Upload.Status.DONE, outcome
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not Item.objects.filter(job_id=job.pk).exists() and not Microtask.objects.filter(job_id=job.pk).exists()
    assert upload_files() == before


@pytest.mark.django_db(transaction=True)
def test_a_delete_that_cannot_wait_long_enough_is_refused_with_409(requester_api, monkeypatch):
    monkeypatch.setattr(services, "JOB_DELETE_WAIT_SECONDS", 0.05)
    job = factories.make_job(owner=requester_api.user)
    upload = store(job, many_rows(60_000), "items.jsonl")
    thread, outcome = ingest_in_thread(upload.pk)
    wait_for_lock(job.pk, thread)
    response = requester_api.delete(f"/api/jobs/{job.pk}/")
    assert response.status_code == 409, response.content
    assert response.json()["detail"] == "the job is ingesting an upload; delete it again when the upload has ended"
    thread.join(60)
    assert outcome[0].status == Upload.Status.DONE
    assert requester_api.delete(f"/api/jobs/{job.pk}/").status_code == 204


@pytest.mark.django_db(transaction=True)
def test_an_ingest_whose_job_was_deleted_ends_quietly(requester_api, monkeypatch):
    before = upload_files()
    job = factories.make_job(owner=requester_api.user)
    # Deleted before the ingest starts: the upload went with the job.
    first = store(job)
    # Deleted after the ingest claimed its upload, before it took the job's lock: its file is gone too.
    second = store(job)
    count_lines = services.count_lines

    def delete_meanwhile(path):
        services.job_delete(job)
        return count_lines(path)

    monkeypatch.setattr(services, "count_lines", delete_meanwhile)
    assert services.upload_ingest(second.pk) is None
    assert services.upload_ingest(first.pk) is None
    assert not Job.objects.filter(pk=job.pk).exists() and not Item.objects.filter(job_id=job.pk).exists()
    assert upload_files() == before


@pytest.mark.django_db
def test_an_upload_ingested_after_its_job_was_cancelled_stores_nothing():
    job = factories.make_job()
    services.upload_ingest(store(job).pk)
    services.job_publish(job)
    late = store(job)  # accepted while the job was open
    services.job_cancel(job)
    upload = services.upload_ingest(late.pk)
    assert upload.status == Upload.Status.FAILED
    assert upload.error == IntakeError("the job was cancelled; it takes no more data", file="items.csv").as_dict()
    assert not Microtask.objects.filter(job=job, status=Microtask.Status.OPEN).exists()
    job.refresh_from_db()
    assert job.item_count == 2 and Item.objects.filter(job=job).count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("delay", [0.0, 0.2, 0.5])
def test_deleting_a_job_while_a_celery_worker_ingests_its_upload(requester_api, celery_worker_process, delay):
    before = upload_files()
    job = factories.make_job(owner=requester_api.user)
    body = many_rows(60_000)
    sent = requester_api.post(f"/api/jobs/{job.pk}/uploads/?filename=items.jsonl", data=body, content_type="text/plain")
    assert sent.status_code == 202, sent.content
    time.sleep(delay)
    response = requester_api.delete(f"/api/jobs/{job.pk}/")
    assert response.status_code == 204, response.content
    assert not Job.objects.filter(pk=job.pk).exists()
    deadline = time.monotonic() + 30
    while upload_files() != before:  # the ingest, if it had begun, ends and deletes its file
        assert time.monotonic() < deadline, upload_files() - before
        time.sleep(0.05)
    assert not Item.objects.filter(job_id=job.pk).exists() and not Microtask.objects.filter(job_id=job.pk).exists()
