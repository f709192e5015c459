"""What a newcomer tripped on in the requester's pages: the item page, the results numbering, the block button,
the staff jobs list, plurals."""

import pytest

from tasks import quality
from tasks.aggregation.service import job_results_refresh
from tasks.models import Item
from tests import factories
from tests.tasks_tests.test_aggregation_service import answer
from tests.tasks_tests.test_pages import client_for

pytestmark = pytest.mark.django_db


def fruit_job(count=3, **fields):
    job = factories.make_job(**fields)
    upload = factories.ingest_now(job, factories.csv_bytes(factories.fruit_rows(count)))
    assert upload.status == "done", upload.error
    return job, list(Item.objects.filter(job=job).order_by("position"))


def test_the_item_page_shows_the_text_once_and_blocks_on_this_job_only():
    job, items = fruit_job()
    worker = factories.make_worker()
    answer(job, worker, items[0], "apple")
    client = client_for(job.owner)
    page = client.get(f"/jobs/{job.pk}/items/{items[0].pk}/").content.decode()
    text = items[0].data[job.text_field]
    assert page.count(text) == 1
    assert "<h1>Item 1" in page
    assert "Block on this job" in page and "no more work on any job" not in page
    assert "Their other jobs are not affected." in page

    quality.worker_block_for_job(job.pk, worker.pk, "test")
    page = client.get(f"/jobs/{job.pk}/items/{items[0].pk}/").content.decode()
    assert "blocked on this job" in page and "blocked on every job" not in page
    assert "Block on this job</button>" not in page


def test_results_are_numbered_from_one_and_show_no_empty_id_column():
    job, items = fruit_job(count=1, id_field="")
    client = client_for(job.owner)
    page = client.get(f"/jobs/{job.pk}/results/").content.decode()
    assert '<th scope="col">Id</th>' not in page
    assert f'href="/jobs/{job.pk}/items/{items[0].pk}/">1</a>' in page
    assert "· 1 item</span>" in page

    with_ids, _ = fruit_job(count=2)
    page = client_for(with_ids.owner).get(f"/jobs/{with_ids.pk}/results/").content.decode()
    assert '<th scope="col">Id</th>' in page and "· 2 items</span>" in page


def test_staff_see_every_job_on_the_jobs_page_and_requesters_their_own():
    mine, _ = fruit_job(count=1)
    theirs, _ = fruit_job(count=1)
    staff = factories.make_requester()
    staff.is_staff = True
    staff.save()
    page = client_for(staff).get("/jobs/").content.decode()
    assert "All jobs" in page and f'data-job-id="{mine.pk}"' in page and f'data-job-id="{theirs.pk}"' in page
    assert theirs.owner.username in page
    own = client_for(mine.owner).get("/jobs/").content.decode()
    assert f'data-job-id="{mine.pk}"' in own and f'data-job-id="{theirs.pk}"' not in own
    assert "0 / 1 item ·" in own


def test_the_job_page_block_button_says_it_blocks_on_this_job():
    job, items = fruit_job(count=1)
    answer(job, factories.make_worker(), items[0], "apple")
    job_results_refresh(job.pk)
    page = client_for(job.owner).get(f"/jobs/{job.pk}/").content.decode()
    assert "Block on this job" in page and "no more work on any job" not in page


def test_every_setting_of_the_new_job_form_says_what_it_does_and_its_default():
    page = client_for(factories.make_requester()).get("/jobs/new/").content.decode()
    for field in (
        "gold-field",
        "id-field",
        "redundancy",
        "max-answers",
        "target-confidence",
        "items-per-microtask",
        "priority",
        "lease",
        "reward",
        "budget",
    ):
        assert f'aria-describedby="h-{field}"' in page and f'id="h-{field}"' in page, field
    assert "Default 0.965." in page and "Default 300 (5 minutes)." in page


def test_the_landing_page_says_what_quorum_is_and_where_to_start(client):
    page = client.get("/").content.decode()
    assert "self-hosted human-computation platform" in page
    assert 'href="/login/"' in page and 'href="/signup/"' in page


def test_the_job_page_counts_answers_per_item_in_the_singular_too():
    one, _ = fruit_job(count=1, redundancy=1)
    assert "1 answer per item" in client_for(one.owner).get(f"/jobs/{one.pk}/").content.decode()
    three, _ = fruit_job(count=1, redundancy=3)
    assert "3 answers per item" in client_for(three.owner).get(f"/jobs/{three.pk}/").content.decode()
