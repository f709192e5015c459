"""Forms in the browser (docs/FORMS.md): a worker answers display blocks and several questions with the keyboard
alone; item text in markdown stays text; a requester builds a form on the New job page; media fit a phone."""

import json
import re
import struct
import time
import zipfile
import zlib

import pytest
from playwright.sync_api import expect

from tasks import services
from tasks.models import Answer, Assignment, Job
from tests import factories

from .conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUESTIONS = [
    {"name": "quality", "type": "single_choice", "prompt": "Is the part damaged?", "options": ["ok", "damaged"]},
    {
        "name": "why",
        "type": "free_text",
        "prompt": "What is damaged?",
        "show_if": {"question": "quality", "equals": "damaged"},
    },
    {"name": "sharp", "type": "rating", "prompt": "How sharp is the photo?", "scale": 5, "labels": ["blurry", "sharp"]},
    {"name": "count", "type": "number", "prompt": "How many screws?", "min": 0, "max": 100, "integer": True},
]


def make_form_job(rows: list[dict], display: list[dict], questions: list[dict], **fields) -> Job:
    """A published form job, its definition checked as the API checks it (tasks/serializers.py)."""
    job = factories.make_form_job(questions, display, redundancy=1, lease_seconds=300, **fields)
    factories.ingest_now(job, factories.csv_bytes(rows))
    job.refresh_from_db()
    services.job_publish(job)
    return job


def open_work(new_page, username: str, viewport=None):
    factories.make_worker(username)
    page = new_page(viewport=viewport)
    sign_in(page, username, factories.PASSWORD)
    expect(page).to_have_url(re.compile(r"/work/$"))
    expect(page.locator("#conn-state")).to_have_text("Connected")
    return page


def test_a_form_is_answered_with_the_keyboard_alone(new_page):
    rows = [{"id": f"p{i}", "title": f"Part {i}", "body": f"Bracket **{i}**, seen from above"} for i in range(2)]
    display = [{"type": "text", "column": "title", "label": "Part"}, {"type": "markdown", "column": "body"}]
    job = make_form_job(rows, display, QUESTIONS)
    page = open_work(new_page, "kim")
    task = page.locator("#task")
    expect(task.locator(".task-item")).to_have_count(1, timeout=15_000)
    why = task.get_by_label("What is damaged?")
    count = task.get_by_label(re.compile("How many screws"))
    # The page asks one microtask ahead: the server leases the next one while this one is answered.
    expect(page.locator("#task .block-markdown strong")).to_have_count(1)
    leased = Assignment.objects.filter(worker__username="kim", status="leased")
    deadline = time.monotonic() + 15
    while leased.count() < 2 and time.monotonic() < deadline:  # the lease ahead follows the first one's reply
        time.sleep(0.1)
    assert leased.count() == 2

    # First microtask: "ok" hides the follow-up question; Tab skips it; a missing answer is pointed at.
    page.keyboard.press("1")
    expect(task.get_by_role("radio", name="ok")).to_be_checked()
    expect(why).to_be_hidden()
    page.keyboard.press("Tab")
    page.keyboard.press("5")
    expect(task.get_by_role("radio", name=re.compile(r"^5"))).to_be_checked()
    page.keyboard.press("Enter")
    expect(page.locator("#task-notice")).to_have_text("Answer “How many screws?” first.")
    expect(count).to_be_focused()
    page.keyboard.type("300")
    page.keyboard.press("Enter")
    expect(page.locator("#task-notice")).to_contain_text("at most 100")
    page.keyboard.press("Control+a")
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    expect(page.locator("#w-answers")).to_have_text("1", timeout=15_000)

    # Second microtask: "ok" then "damaged" shows the follow-up; Tab walks through the questions in order.
    expect(task.locator(".task-item")).to_have_count(1, timeout=15_000)
    page.keyboard.press("1")
    expect(why).to_be_hidden()
    page.keyboard.press("2")
    expect(why).to_be_visible()
    page.keyboard.press("Tab")
    expect(why).to_be_focused()
    page.keyboard.type("cracked lid 123")  # number keys type into a text answer
    page.keyboard.press("Tab")
    page.keyboard.press("4")
    page.keyboard.press("Tab")
    expect(count).to_be_focused()
    page.keyboard.type("12")
    screenshot(page, "work-form")
    page.keyboard.press("Enter")
    expect(page.locator("#w-answers")).to_have_text("2", timeout=15_000)

    stored = sorted(json.dumps(a.value, sort_keys=True) for a in Answer.objects.filter(job=job))
    expected = [
        {"quality": "ok", "sharp": 5, "count": 3},
        {"quality": "damaged", "why": "cracked lid 123", "sharp": 4, "count": 12},
    ]
    assert stored == sorted(json.dumps(v, sort_keys=True) for v in expected)


def test_markdown_in_item_data_is_shown_as_text_and_runs_nothing(new_page):
    body = (
        "# Report\n\n**Bold** and *soft* text <script>window.__ran = 1; alert(1)</script>\n\n"
        '<img src="x" onerror="window.__ran = 2; alert(2)">\n\n'
        "- [a safe link](https://example.org/a)\n- [a bad link](javascript:alert(3))\n\n```\n<b>code</b>\n```"
    )
    make_form_job([{"id": "m1", "body": body}], [{"type": "markdown", "column": "body"}], QUESTIONS[:1])
    page = open_work(new_page, "mia")
    markdown = page.locator("#task .item-markdown")
    expect(markdown).to_have_count(1, timeout=15_000)
    expect(markdown.locator("h3")).to_have_text("Report")
    expect(markdown.locator("strong")).to_have_text("Bold")
    expect(markdown.locator("em")).to_have_text("soft")
    expect(markdown).to_contain_text("<script>window.__ran = 1; alert(1)</script>")
    expect(markdown).to_contain_text('<img src="x" onerror="window.__ran = 2; alert(2)">')
    expect(markdown.locator("pre code")).to_have_text("<b>code</b>")
    assert markdown.locator("script, img, b").count() == 0
    link = markdown.get_by_role("link", name="a safe link")
    expect(link).to_have_attribute("href", "https://example.org/a")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_attribute("target", "_blank")
    assert markdown.locator("a").count() == 1  # the javascript: link is text
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__ran") is None
    screenshot(page, "work-markdown")


def test_the_builder_makes_a_form_job_and_its_preview_shows_the_questions(new_page, celery_worker_process, tmp_path):
    factories.make_requester("fay")
    page = new_page()
    sign_in(page, "fay", factories.PASSWORD)
    page.goto("/jobs/new/")
    path = tmp_path / "parts.csv"
    rows = [{"id": f"p{i}", "title": f"Part {i}", "note": f"note {i}", "gold": ""} for i in range(3)]
    path.write_bytes(factories.csv_bytes(rows))
    page.get_by_label("Items file").set_input_files(str(path))
    expect(page.locator("#preview-rows th")).to_have_text(["id", "title", "note", "gold"])
    page.get_by_label("Job name").fill("Parts form")
    page.get_by_label("Question shown above each item").fill("Is the part damaged?")
    page.get_by_label("Options, one per line").fill("ok\ndamaged")

    # The builder starts from the simple question and the shown column.
    page.get_by_label("Column shown to workers", exact=True).select_option("title")
    page.get_by_label(re.compile("Build a form")).check()
    blocks, questions = page.locator("#display-blocks > li"), page.locator("#questions > li")
    expect(blocks).to_have_count(1)
    expect(blocks.first.get_by_label("Column")).to_have_value("title")
    expect(questions).to_have_count(1)
    expect(questions.first.get_by_label("Prompt")).to_have_value("Is the part damaged?")
    expect(questions.first.get_by_label("Options, one per line")).to_have_value("ok\ndamaged")
    # A second display block, moved above the first.
    page.get_by_role("button", name="Add display block").click()
    blocks.nth(1).get_by_label("Show as").select_option("markdown")
    blocks.nth(1).get_by_label("Column").select_option("note")
    blocks.nth(1).get_by_label("Label (optional)").fill("Inspector's note")
    blocks.nth(1).get_by_role("button", name="Move display block up").click()
    expect(blocks.first.get_by_label("Column")).to_have_value("note")
    # A rating question, and a free-text one asked only for damaged parts.
    page.get_by_role("button", name="Add question").click()
    second = questions.nth(1)
    second.get_by_label("Name").fill("sharp")
    second.get_by_label("Type").select_option("rating")
    second.get_by_label("Prompt").fill("How sharp is the photo?")
    second.get_by_label("Points on the scale").fill("4")
    page.get_by_role("button", name="Add question").click()
    third = questions.nth(2)
    third.get_by_label("Name").fill("why")
    third.get_by_label("Type").select_option("free_text")
    third.get_by_label("Prompt").fill("What is damaged?")
    third.get_by_label("Ask only when").select_option("answer")
    third.get_by_label("has the answer").select_option("damaged")

    preview = page.locator("#worker-preview")
    expect(preview.locator(".block-label")).to_have_text(["Inspector's note", "title"])
    expect(preview.get_by_text("Is the part damaged?")).to_be_visible()
    expect(preview.get_by_text("How sharp is the photo?")).to_be_visible()
    expect(preview.get_by_role("radio")).to_have_count(6)
    expect(preview.get_by_label("What is damaged?")).to_be_hidden()
    preview.get_by_role("radio", name="damaged").check()
    expect(preview.get_by_label("What is damaged?")).to_be_visible()
    screenshot(page, "job-new-builder")

    page.get_by_role("button", name="Create job and upload").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    expect(page.locator("#s-items")).to_have_text("0 / 3", timeout=30_000)
    job = Job.objects.get(name="Parts form")
    assert [(b["type"], b["column"]) for b in job.display] == [("markdown", "note"), ("text", "title")]
    assert [(q["name"], q["type"]) for q in job.questions] == [
        ("answer", "single_choice"),
        ("sharp", "rating"),
        ("why", "free_text"),
    ]
    assert job.questions[1]["scale"] == 4
    assert job.questions[2]["show_if"] == {"question": "answer", "equals": "damaged"}


def png(width: int, height: int) -> bytes:
    """A plain grey PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\x99" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_an_image_fits_a_phone_screen(new_page, server):
    photo = f"{server}/media-test/wide.png"
    display = [{"type": "image", "column": "photo", "label": "Photo of the part"}, {"type": "text", "column": "title"}]
    make_form_job([{"id": "w1", "photo": photo, "title": "A wide photo"}], display, QUESTIONS, media_origins=[server])
    factories.make_worker("pia")
    page = new_page(viewport={"width": 375, "height": 740})
    sign_in(page, "pia", factories.PASSWORD)
    page.route(
        "**/media-test/wide.png", lambda route: route.fulfill(status=200, content_type="image/png", body=png(1600, 300))
    )
    image = page.get_by_role("img", name="Photo of the part")
    expect(image).to_be_visible(timeout=15_000)
    page.wait_for_function("() => document.querySelector('#task img').naturalWidth === 1600")
    assert image.bounding_box()["width"] <= 375
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    screenshot(page, "work-form-phone")


def test_the_results_of_a_form_show_each_question(new_page):
    xss = "<img src=x onerror=alert(1)>"
    rows = [{"id": "r1", "title": "Part 1", "body": "b"}, {"id": "r2", "title": "Part 2", "body": "b"}]
    job = make_form_job(rows, [{"type": "text", "column": "title"}], QUESTIONS)
    item = job.items.get(external_id="r1")
    item.result = {"quality": "damaged", "why": xss, "sharp": 4, "count": 12}
    item.results = {
        "quality": {"result": "damaged", "confidence": 0.91, "method": "dawid_skene", "answers": 3, "agreement": 0.67},
        "why": {"result": xss, "confidence": 0.5, "method": "text_vote", "answers": 2, "agreement": 0.5},
        "sharp": {"result": 4, "confidence": 0.8, "method": "dawid_skene", "answers": 3, "agreement": 1.0},
        "count": {"result": 12, "confidence": 0.7, "method": "median", "answers": 3, "agreement": 0.67},
    }
    item.confidence = 0.5
    item.save()
    page = new_page()
    sign_in(page, job.owner.username, factories.PASSWORD)
    page.goto(f"/jobs/{job.pk}/")
    expect(page.get_by_text("A form of 4 questions")).to_be_visible()
    page.goto(f"/jobs/{job.pk}/results/")
    table = page.locator("#results-table tbody tr", has_text="Part 1").locator(".question-results")
    expect(table.locator("tbody th")).to_have_text(["quality", "why", "sharp", "count"])
    expect(table.locator("tbody tr", has_text="quality")).to_contain_text("damaged")
    expect(table.locator("tbody tr", has_text="quality")).to_contain_text("0.91")
    expect(table.locator("tbody tr", has_text="why")).to_contain_text(xss)
    expect(table.locator("tbody tr", has_text="count")).to_contain_text("median")
    assert page.locator("#results-table img").count() == 0
    screenshot(page, "results-form")
    page.locator("#results-table tbody tr", has_text="Part 1").get_by_role("link").first.click()
    expect(page.locator(".question-results tbody th")).to_have_text(["quality", "why", "sharp", "count"])


def test_a_media_archive_previews_its_items_and_images_and_is_uploaded(new_page, celery_worker_process, tmp_path):
    factories.make_requester("ada")
    archive = tmp_path / "parts.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        rows = [{"id": "a1", "photo": "images/wide.png", "title": "Part A"}]
        z.writestr("data/parts.csv", factories.csv_bytes(rows))
        z.writestr("images/wide.png", png(800, 200), compress_type=zipfile.ZIP_STORED)
    page = new_page(viewport={"width": 375, "height": 740})
    sign_in(page, "ada", factories.PASSWORD)
    page.goto("/jobs/new/")
    page.get_by_label(re.compile("Or a media archive")).set_input_files(str(archive))
    expect(page.locator("#preview-rows th")).to_have_text(["id", "photo", "title"])
    expect(page.locator("#file-preview")).to_contain_text("From data/parts.csv in the archive")
    page.get_by_label(re.compile("Build a form")).check()
    blocks = page.locator("#display-blocks > li")
    expect(blocks).to_have_count(2)  # every column but the id one, as text
    blocks.first.get_by_label("Show as").select_option("image")
    blocks.first.get_by_label("Label (optional)").fill("Photo")
    image = page.locator("#worker-preview").get_by_role("img", name="Photo")
    expect(image).to_be_visible()
    page.wait_for_function("() => document.querySelector('#worker-preview img').naturalWidth === 800")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    screenshot(page, "job-new-archive-phone")

    # Created and uploaded from the page: the archive's images are stored and its item shows one.
    page.get_by_label("Job name").fill("Parts from an archive")
    page.locator("#questions > li").first.get_by_label("Prompt").fill("Is the part damaged?")
    page.locator("#questions > li").first.get_by_label("Options, one per line").fill("ok\ndamaged")
    page.get_by_role("button", name="Create job and upload").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get(name="Parts from an archive")
    deadline = time.monotonic() + 60
    while not job.uploads.filter(status="done").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    # The live counter moves with the ingest; a page opened after it (a reload) shows it too.
    if page.locator("#s-items").inner_text().strip() != "0 / 1":
        page.reload()
    expect(page.locator("#s-items")).to_have_text("0 / 1", timeout=15_000)
    assert list(job.media_files.values_list("name", flat=True)) == ["images/wide.png"]
    assert job.items.get().data["photo"] == "images/wide.png"


def test_options_that_are_digits_are_picked_by_their_own_digit(new_page):
    digits = [
        {"name": "digit", "type": "single_choice", "prompt": "Which digit?", "options": [str(d) for d in range(10)]}
    ]
    rows = [{"id": f"d{i}", "text": f"digit {i}"} for i in range(2)]
    job = make_form_job(rows, [{"type": "text", "column": "text"}], digits)
    page = open_work(new_page, "dora")
    options = page.locator("#task .option kbd")
    expect(options).to_have_text([str(d) for d in range(10)])  # each digit is its own key, 0 included
    page.keyboard.press("0")
    expect(page.locator("#task").get_by_role("radio", name="0")).to_be_checked()
    page.keyboard.press("Enter")
    expect(page.locator("#history li")).to_have_count(1, timeout=10_000)
    page.keyboard.press("9")
    expect(page.locator("#task").get_by_role("radio", name="9")).to_be_checked()
    page.keyboard.press("Enter")
    expect(page.locator("#history li")).to_have_count(2, timeout=10_000)
    assert sorted(Answer.objects.filter(job=job).values_list("value", flat=True)) == ["0", "9"]
