"""A requester in headless Chromium: sign up, create a job from a CSV, publish it, watch it live, read results."""

import csv
import io
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from quorum import events
from tasks.models import Answer, Assignment, Item, Job, Microtask
from tasks.selectors import job_details
from tests import factories

from .conftest import screenshot, send_burst, send_event, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS = "<script>alert(1)</script>"


def items_csv(tmp_path):
    rows = [{"id": "x0", "text": XSS, "gold": ""}]
    rows += [
        {"id": f"r{i}", "text": f"Fruit number {i}, ripe", "gold": "banana" if i == 3 else ""} for i in range(1, 12)
    ]
    path = tmp_path / "fruit.csv"
    path.write_bytes(factories.csv_bytes(rows))
    return path


def answer_directly(microtask: Microtask, worker, values: dict) -> None:
    """Answers as the scheduler stores them: one submitted assignment, one answer per item."""
    now = timezone.now()
    assignment = Assignment.objects.create(
        microtask=microtask, job=microtask.job, worker=worker, status="submitted", leased_at=now, expires_at=now,
        submitted_at=now,
    )  # fmt: skip
    for item in microtask.items:
        Answer.objects.create(assignment=assignment, item=item, job=microtask.job, worker=worker, value=values[item.pk])


def test_requester_creates_publishes_watches_and_downloads(new_page, celery_worker_process, tmp_path):
    page = new_page()
    page.goto("/signup/")
    screenshot(page, "signup")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Email").fill("rita@example.com")
    page.get_by_label("Password", exact=True).fill(factories.PASSWORD)
    page.get_by_label("post work (requester)").check()
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Your jobs")).to_be_visible()
    screenshot(page, "dashboard-empty")

    page.get_by_role("link", name="New job").first.click()
    page.wait_for_load_state()
    page.get_by_label("Items file").set_input_files(str(items_csv(tmp_path)))
    # The preview reads the header and the first rows in the browser and guesses the mapping.
    expect(page.locator("#preview-rows th")).to_have_text(["id", "text", "gold"])
    expect(page.get_by_label("Column shown to workers")).to_have_value("text")
    expect(page.get_by_label("Column with known (gold) answers")).to_have_value("gold")
    page.get_by_label("Job name").fill("Fruit check")
    page.get_by_label("Instructions for workers").fill("Name the fruit. If unsure, pick the closest.")
    page.get_by_label("Question shown above each item").fill("Which fruit is it?")
    page.get_by_label("Options, one per line").fill("apple\nbanana\ncherry")
    page.get_by_label("Answers per item (minimum)").fill("2")
    page.get_by_label("Items per microtask").fill("2")
    page.get_by_label("Reward per microtask").fill("0.05")
    page.get_by_label("Budget (optional)").fill("10")
    preview = page.locator("#worker-preview")
    expect(preview.get_by_text("Which fruit is it?", exact=True)).to_be_visible()
    expect(preview.locator(".task-item")).to_have_count(2)
    # Item text is text: the script tag is shown, never run.
    expect(preview.locator(".item-text").first).to_have_text(XSS)
    expect(preview.get_by_label("banana").first).to_be_visible()
    screenshot(page, "job-new")

    page.get_by_role("button", name="Create job and upload").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get(name="Fruit check")
    assert (job.redundancy, job.items_per_microtask, str(job.budget)) == (2, 2, "10.0000")
    # Ingest runs in Celery; its end reaches the page over the WebSocket.
    expect(page.locator("#s-items")).to_have_text("0 / 11", timeout=30_000)
    expect(page.locator("#live-state")).to_have_text("live")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#job-status")).to_have_text("Open")
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    expect(page.get_by_role("button", name="Publish")).to_be_hidden()

    # Work arrives: the scheduler stores answers and sends job.progress; the page moves without a reload.
    page.evaluate("() => { window.__notReloaded = true; }")
    worker_a, worker_b = factories.make_worker("wanda"), factories.make_worker("walt")
    items = list(Item.objects.filter(job=job, gold__isnull=True).order_by("position")[:4])
    for microtask in Microtask.objects.filter(job=job, index__in={i.microtask_index for i in items}):
        answer_directly(microtask, worker_a, {i.pk: "banana" for i in microtask.items})
        answer_directly(microtask, worker_b, {i.pk: "apple" if i.position == 0 else "banana" for i in microtask.items})
    Item.objects.filter(pk__in=[i.pk for i in items]).update(
        result="banana", confidence=0.9, agreement=1, result_source="human"
    )
    Item.objects.filter(pk=items[0].pk).update(confidence=0.4, agreement=0.5)
    Microtask.objects.filter(job=job, is_gold=False, index__in={i.microtask_index for i in items}).update(status="done")
    send_event(
        events.job_group(job.pk),
        "job.progress",
        {
            "job_id": job.pk,
            "status": "open",
            "counts": {"items_done": 4, "answers": 8, "answers_per_minute": 8, "workers_active": 2},
        },
    )
    expect(page.locator("#s-items")).to_have_text("4 / 11")
    expect(page.locator("#s-apm")).to_have_text("8")
    expect(page.locator("#s-workers")).to_have_text("2")
    assert page.evaluate("() => window.__notReloaded") is True
    # The per-worker table and the histogram come with the next details refresh.
    send_event(events.job_group(job.pk), "job.details", {"job_id": job.pk, "details": job_details(job)})
    expect(page.locator("#workers-table tbody tr")).to_have_count(2)
    expect(page.locator("#s-cost")).to_have_text("USD 0.20")
    screenshot(page, "job-live")

    # 200 events a second for three seconds: the page keeps up and the main thread never stalls.
    page.evaluate(
        """() => { window.__longTasks = [];
        new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__longTasks.push(e.duration); })
          .observe({ type: "longtask" }); }"""
    )
    burst = [
        {"type": "job.progress", "job_id": job.pk, "status": "open",
         "counts": {"items_done": 4, "answers": 8 + n, "answers_per_minute": 8 + n % 50, "workers_active": 2}}
        for n in range(1, 601)
    ]  # fmt: skip
    send_burst(events.job_group(job.pk), burst, per_second=200)
    expect(page.locator("#s-answers")).to_have_text("608")
    long_tasks = page.evaluate("() => window.__longTasks")
    assert max(long_tasks, default=0) < 250, long_tasks

    page.get_by_role("link", name="Results").click()
    expect(page.locator("#results-table tbody tr")).to_have_count(12)
    expect(page.locator("#results-table").get_by_text(XSS)).to_be_visible()
    page.get_by_label("Workers disagree").check()
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#results-table tbody tr")).to_have_count(1)
    screenshot(page, "results")
    page.locator("#results-table tbody a").first.click()
    expect(page.locator("#item-text")).to_have_text(XSS)
    expect(page.locator("#answers-table tbody tr")).to_have_count(2)
    walt_row = page.locator("#answers-table tbody tr", has_text="walt")
    walt_row.get_by_role("button", name="Reject the answers of walt").click()
    expect(page.get_by_text(re.compile(r"Assignment \d+ rejected"))).to_be_visible()
    expect(page.locator("#answers-table tbody tr", has_text="walt")).to_contain_text("Rejected")
    screenshot(page, "item")
    assert not Answer.objects.get(worker__username="walt", item=items[0]).counts

    page.goto(f"/jobs/{job.pk}/results/")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download CSV").click()
    table = list(csv.DictReader(io.StringIO(info.value.path().read_text())))
    assert len(table) == 12
    assert table[0]["text"] == XSS and table[1]["result"] == "banana"

    page.get_by_role("link", name="API tokens").click()
    page.get_by_role("button", name="Make a token").click()
    expect(page.get_by_label("Your token")).to_have_value(re.compile(r"^[0-9a-f]{40}$"))
    page.goto("/jobs/")
    expect(page.locator("#job-list tbody tr")).to_have_count(1)
    # Rejecting walt's answers re-opened their microtask for a replacement answer: two items are done again.
    expect(page.locator("#job-list")).to_contain_text("2 / 11 items")
    screenshot(page, "dashboard")

    # Cancelling asks first, then the job stops for good.
    page.get_by_role("link", name="Fruit check").click()
    page.get_by_role("button", name="Cancel job").click()
    expect(page.locator("#job-status")).to_have_text("Cancelled")
    expect(page.get_by_role("button", name="Resume")).to_be_hidden()
    expect(page.get_by_role("button", name="Pause")).to_be_hidden()


@pytest.mark.parametrize(
    ("question_type", "control"),
    [("multiple_choice", "checkbox"), ("number", "spinbutton"), ("free_text", "textbox")],
)
def test_the_preview_shows_each_question_type_as_workers_get_it(new_page, tmp_path, question_type, control):
    factories.make_requester("quinn")
    page = new_page(viewport={"width": 390, "height": 844})
    sign_in(page, "quinn", factories.PASSWORD)
    page.goto("/jobs/new/")
    page.get_by_label("Items file").set_input_files(str(items_csv(tmp_path)))
    page.get_by_label("Options, one per line").fill("red\ngreen")
    page.get_by_label("Answer type").select_option(question_type)
    preview = page.locator("#worker-preview")
    expect(preview.locator(".item-text")).to_have_text(XSS)
    expect(preview.get_by_role(control).first).to_be_visible()
    if question_type == "multiple_choice":
        expect(preview.get_by_role("checkbox", name="green")).to_be_visible()
    else:
        expect(page.get_by_label("Options, one per line")).to_be_disabled()
    screenshot(page, f"job-new-{question_type}-phone")


def test_a_bad_file_shows_where_it_failed_on_the_job_page(new_page, celery_worker_process, tmp_path):
    owner = factories.make_requester("bea")
    job = factories.make_job(owner=owner, name="Bad data")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": "broken"\n')
    page = new_page()
    sign_in(page, "bea", factories.PASSWORD)
    page.goto(f"/jobs/{job.pk}/")
    expect(page.locator("#live-state")).to_have_text("live")
    page.get_by_label("Another items file").set_input_files(str(bad))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#ingest-text")).to_contain_text("bad.jsonl, line 2", timeout=30_000)
    expect(page.locator("#ingest-text")).to_contain_text("Nothing was stored")
    screenshot(page, "job-ingest-failed")


def test_choosing_no_gold_and_no_id_column_sticks(new_page, celery_worker_process, tmp_path):
    factories.make_requester("nora")
    page = new_page()
    # Count how often the page reads the chosen file: once per choice, not in a loop.
    page.add_init_script(
        """(() => { window.__fileReads = 0; const text = Blob.prototype.text;
        Blob.prototype.text = function () { window.__fileReads += 1; return text.call(this); }; })()"""
    )
    sign_in(page, "nora", factories.PASSWORD)
    page.goto("/jobs/new/")
    page.get_by_label("Items file").set_input_files(str(items_csv(tmp_path)))
    gold, ident, shown = (
        page.get_by_label("Column with known (gold) answers"),
        page.get_by_label("Column that identifies an item"),
        page.get_by_label("Column shown to workers", exact=True),
    )
    expect(gold).to_have_value("gold")
    page.wait_for_timeout(1000)
    assert page.evaluate("() => window.__fileReads") == 1
    gold.select_option(label="None")
    ident.select_option(label="None")
    shown.select_option(label="All columns")
    page.wait_for_timeout(500)
    expect(gold).to_have_value("")
    expect(ident).to_have_value("")
    expect(shown).to_have_value("")
    assert page.evaluate("() => window.__fileReads") == 1
    page.get_by_label("Job name").fill("No gold")
    page.get_by_label("Question shown above each item").fill("Which fruit is it?")
    page.get_by_label("Options, one per line").fill("apple\nbanana\ncherry")
    screenshot(page, "job-new-no-gold")
    page.get_by_role("button", name="Create job and upload").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get(name="No gold")
    assert job.text_field == ""
    expect(page.locator("#s-items")).to_have_text("0 / 12", timeout=30_000)
    # The file's "gold" and "id" columns are item data like any other, not known answers or names.
    assert not Item.objects.filter(job=job, gold__isnull=False).exists()
    assert not Item.objects.filter(job=job, external_id__isnull=False).exists()
    assert Item.objects.get(job=job, position=3).data["gold"] == "banana"


def test_the_preview_shows_only_the_columns_workers_get(new_page, tmp_path):
    factories.make_requester("sasha")
    page = new_page()
    sign_in(page, "sasha", factories.PASSWORD)
    page.goto("/jobs/new/")
    path = tmp_path / "notes.csv"
    path.write_bytes(factories.csv_bytes([{"id": "n1", "text": "the note", "secret_col": "internal only"}]))
    page.get_by_label("Items file").set_input_files(str(path))
    item = page.locator("#worker-preview .item-text")
    expect(item).to_have_text("the note")
    # More columns: one text block each, named by its column, as the server derives them (tasks/forms.py).
    page.get_by_label("More columns shown to workers").select_option(["secret_col"])
    expect(page.locator("#worker-preview .block-label")).to_have_text(["text", "secret_col"])
    expect(item).to_have_text(["the note", "internal only"])
    page.get_by_label("Column shown to workers", exact=True).select_option(label="All columns")
    page.get_by_label("More columns shown to workers").select_option([])
    expect(item).to_have_text("text: the note\nsecret_col: internal only")  # all columns but the id column
    screenshot(page, "job-new-shown-columns")


def test_the_job_page_shows_how_far_to_trust_the_confidence(new_page):
    from tasks.aggregation.service import job_results_refresh
    from tests.tasks_tests.test_reliability import gold_job

    owner = factories.make_requester("tess")
    job = gold_job(30, wrong=6, owner=owner)
    job_results_refresh(job.pk)
    page = new_page()
    sign_in(page, "tess", factories.PASSWORD)
    page.goto(f"/jobs/{job.pk}/")
    card = page.locator("#reliability")
    expect(card).to_contain_text("Reliability on gold items")
    # Gold shows this crowd unanimously wrong on a fifth of the gold items: the page says so, and that no result
    # states more than the crowd can promise.
    expect(card.locator(".reliability-calibration")).to_contain_text("gold items show the crowd wrong on")
    expect(card).to_contain_text("Among results stated at")
    screenshot(page, "job-reliability-calibration")
    # The charts' grid labels are written as they are (0.25 was drawn as 0.3).
    labels = page.evaluate(
        "import('/static/frontend/js/charts.js').then((m) => [0.25, 0.5, 0.75, 12.5, 1000, 0.025].map(m.axisLabel))"
    )
    assert labels == ["0.25", "0.5", "0.75", "12.5", "1000", "0.025"]
