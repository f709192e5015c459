"""Annotation questions in the browser (docs/ANNOTATION.md): a worker compares a pair, marks spans and draws boxes
with the mouse and the keyboard, and the stored answers are what the server expects (code-point offsets,
fractions of the image); the New job page's builder makes a spans job."""

import re

import pytest
from playwright.sync_api import expect

from tasks.forms import check_questions, complete_display
from tasks.models import Answer, Job
from tests import factories

from .conftest import screenshot, sign_in
from .test_forms_browser import make_form_job, open_work, png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def annotation_job(rows: list[dict], questions: list[dict], display: list[dict] | None = None, **fields) -> Job:
    """A published job whose display is completed as the API completes it (a block for each claimed column)."""
    blocks = complete_display(display or [], check_questions(questions, "gold"))
    return make_form_job(rows, blocks, questions, **fields)


def stored(job: Job) -> list:
    return [a.value for a in Answer.objects.filter(job=job).order_by("pk")]


def test_a_pair_is_answered_with_the_arrow_key_and_with_the_mouse(new_page):
    rows = [{"id": "p1", "a": "A short answer", "b": "A long answer"}, {"id": "p2", "a": "Yes", "b": "No"}]
    question = {"name": "better", "type": "pairwise", "prompt": "Which answer is better?", "left": "a", "right": "b"}
    job = annotation_job(rows, [question])
    page = open_work(new_page, "pat")
    task = page.locator("#task")
    expect(task.locator(".pair-candidate")).to_have_count(2, timeout=15_000)
    # The candidates are drawn by the question, not above it too.
    expect(task.locator(".item-display .block")).to_have_count(0)
    expect(task.get_by_role("button", name="= Equal")).to_have_count(0)
    first = task.locator(".pair-candidate-left").inner_text()
    page.keyboard.press("ArrowRight")
    expect(task.get_by_role("button", name="Right is better →")).to_have_attribute("aria-pressed", "true")
    screenshot(page, "work-pairwise")
    page.keyboard.press("Enter")
    expect(page.locator("#w-answers")).to_have_text("1", timeout=15_000)
    expect(task.locator(".pair-candidate-left")).not_to_have_text(first, timeout=15_000)
    task.get_by_role("button", name="← Left is better").click()
    page.get_by_role("button", name="Submit (Enter)").click()
    expect(page.locator("#w-answers")).to_have_text("2", timeout=15_000)
    assert stored(job) == ["right", "left"]


def test_spans_are_marked_by_mouse_and_by_keyboard_in_code_points(new_page):
    text = "Hi 👋 Ada Lovelace met Charles in London."
    question = {
        "name": "entities",
        "type": "spans",
        "prompt": "Mark people and places",
        "column": "sentence",
        "labels": ["PER", "LOC"],
    }
    job = annotation_job([{"id": "s1", "sentence": text}], [question])
    page = open_work(new_page, "sam")
    box = page.locator("#task .span-box")
    expect(box).to_be_visible(timeout=15_000)
    expect(page.locator("#task .item-display .block")).to_have_count(0)
    # Mouse: LOC, then a drag over part of "London" marks the whole word.
    page.locator("#task .label-button", has_text="LOC").click()
    london = box.locator(".piece", has_text="London")
    where = london.bounding_box()
    page.mouse.move(where["x"] + 3, where["y"] + where["height"] / 2)
    page.mouse.down()
    page.mouse.move(where["x"] + where["width"] - 8, where["y"] + where["height"] / 2, steps=4)
    page.mouse.up()
    expect(box.locator(".piece.marked")).to_have_text(["London"])
    # Keyboard: → moves the cursor to "Ada", 1 marks it PER, Shift+→ takes in "Lovelace".
    page.keyboard.press("ArrowRight")
    page.keyboard.press("1")
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator("#task .span-pick")).to_have_text(["PER Ada Lovelace", "LOC London"])
    screenshot(page, "work-spans")
    page.keyboard.press("Enter")
    expect(page.locator("#w-answers")).to_have_text("1", timeout=15_000)
    # Python's string offsets are code points: the emoji counts one, as in the browser's Array.from.
    assert stored(job) == [
        [
            {"start": text.index("Ada"), "end": text.index(" met"), "label": "PER"},
            {"start": text.index("London"), "end": text.index("London") + 6, "label": "LOC"},
        ]
    ]


def test_a_box_is_drawn_by_mouse_and_nudged_and_labelled_by_keyboard(new_page, server):
    photo = f"{server}/media-test/street.png"
    question = {
        "name": "objects",
        "type": "boxes",
        "prompt": "Box the cars",
        "column": "photo",
        "labels": ["car", "person"],
    }
    job = annotation_job([{"id": "b1", "photo": photo}], [question], media_origins=[server])
    factories.make_worker("bo")
    page = new_page(viewport={"width": 420, "height": 800})  # a phone: pointer events, so touch draws the same
    sign_in(page, "bo", factories.PASSWORD)
    page.route(
        "**/media-test/street.png", lambda r: r.fulfill(status=200, content_type="image/png", body=png(400, 300))
    )
    layer = page.locator("#task .box-layer")
    expect(layer).to_be_visible(timeout=15_000)
    page.wait_for_function("() => document.querySelector('#task .box-stage img').naturalWidth === 400")
    area = layer.bounding_box()
    assert area["width"] <= 420
    at = lambda fx, fy: (area["x"] + fx * area["width"], area["y"] + fy * area["height"])  # noqa: E731
    page.mouse.move(*at(0.1, 0.2))
    page.mouse.down()
    page.mouse.move(*at(0.5, 0.7), steps=5)
    page.mouse.up()
    expect(layer.locator(".box")).to_have_count(1)
    page.keyboard.press("2")  # the selected box becomes a person
    page.keyboard.press("Shift+ArrowRight")  # 10% to the right
    page.keyboard.press("Alt+ArrowUp")  # 1% shorter
    expect(layer.locator(".box-tag")).to_have_text("person")
    screenshot(page, "work-boxes")
    page.keyboard.press("Enter")
    expect(page.locator("#w-answers")).to_have_text("1", timeout=15_000)
    [[box]] = stored(job)
    assert box["label"] == "person"
    assert box["x"] == pytest.approx(0.2, abs=0.02) and box["y"] == pytest.approx(0.2, abs=0.02)
    assert box["w"] == pytest.approx(0.4, abs=0.02) and box["h"] == pytest.approx(0.49, abs=0.02)
    assert 0 <= box["x"] and box["x"] + box["w"] <= 1 and 0 <= box["y"] and box["y"] + box["h"] <= 1


def test_the_builder_makes_a_spans_job(new_page, tmp_path):
    factories.make_requester("sid")
    page = new_page()
    sign_in(page, "sid", factories.PASSWORD)
    page.goto("/jobs/new/")
    path = tmp_path / "sentences.csv"
    path.write_bytes(factories.csv_bytes([{"id": "s1", "sentence": "Ada met Charles in London."}]))
    page.get_by_label("Items file").set_input_files(str(path))
    expect(page.locator("#preview-rows th")).to_have_text(["id", "sentence"])
    page.get_by_label("Job name").fill("Entities")
    page.get_by_label(re.compile("Build a form")).check()
    question = page.locator("#questions > li").first
    question.get_by_label("Type").select_option("spans")
    question.get_by_label("Prompt").fill("Mark people and places")
    question.get_by_label("Text column").fill("sentence")
    question.get_by_label("Labels, one per line").fill("PER\nLOC")
    preview = page.locator("#worker-preview")
    expect(preview.locator(".label-button")).to_have_text(["1PER", "2LOC"])
    expect(preview.locator(".span-box")).to_have_text("Ada met Charles in London.")
    page.get_by_role("button", name="Create job and upload").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get(name="Entities")
    [spans] = job.questions
    assert (spans["type"], spans["column"], spans["labels"], spans["overlap"]) == (
        "spans",
        "sentence",
        ["PER", "LOC"],
        False,
    )
    assert {"type": "text", "column": "sentence", "label": ""} in job.display


def test_results_show_spans_on_the_text_and_the_ranking_of_a_pairwise_job(new_page):
    text = "Hi 👋 Ada met <b>Charles</b>"
    spans_q = {"name": "entities", "type": "spans", "prompt": "People", "column": "sentence", "labels": ["PER"]}
    pair_q = {"name": "better", "type": "pairwise", "prompt": "Better?", "left": "a", "right": "b"}
    job = annotation_job([{"id": "r1", "sentence": text, "a": "Tea", "b": "Coffee"}], [spans_q, pair_q])
    item = job.items.get()
    start = text.index("Ada")
    merged = [{"start": start, "end": start + 3, "label": "PER", "confidence": 0.83, "workers": 3}]
    item.result = {"entities": merged, "better": "right"}
    item.results = {
        "entities": {"result": merged, "confidence": 0.83, "method": "spans", "answers": 3, "agreement": 0.8},
        "better": {"result": "right", "confidence": 0.9, "method": "dawid_skene", "answers": 3, "agreement": 1.0},
    }
    item.save()
    page = new_page()
    sign_in(page, job.owner.username, factories.PASSWORD)
    ranking = {
        "method": "noisy_bt",
        "groups": [{"group": "", "candidates": [
            {"rank": 1, "candidate": "Coffee", "score": 0.4, "std_error": 0.2, "wins": 3, "losses": 0, "ties": 0, "comparisons": 3},
            {"rank": 2, "candidate": "<i>Tea</i>", "score": -0.4, "std_error": 0.2, "wins": 0, "losses": 3, "ties": 0, "comparisons": 3},
        ]}],
    }  # fmt: skip
    page.route(f"**/api/jobs/{job.pk}/ranking/", lambda r: r.fulfill(status=200, json=ranking))
    page.goto(f"/jobs/{job.pk}/results/")
    row = page.locator("#results-table tbody tr").first
    expect(row.locator(".piece.marked")).to_have_text(["Ada"])
    expect(row.locator(".piece[data-tag]")).to_have_attribute("data-tag", "PER 0.83")
    expect(row.locator(".pair-result")).to_have_text("Right")
    expect(row.locator(".pair-result + .block")).to_have_text("Coffee")
    expect(page.locator("#ranking tbody tr")).to_have_count(2)
    expect(page.locator("#ranking tbody tr").nth(1)).to_contain_text("<i>Tea</i>")
    expect(page.get_by_role("link", name="Export ranking (CSV)")).to_have_attribute(
        "href", f"/api/jobs/{job.pk}/export/?format=ranking&spreadsheet=1"
    )
    assert page.locator("#results-table b, #ranking i").count() == 0
    screenshot(page, "results-annotation")
    # The ranking endpoint failing leaves a quiet note; the item page draws the spans too.
    page.unroute(f"**/api/jobs/{job.pk}/ranking/")
    page.route(f"**/api/jobs/{job.pk}/ranking/", lambda r: r.fulfill(status=500, body="{}"))
    page.reload()
    expect(page.locator("#ranking-body")).to_have_text("The ranking is not available yet.")
    page.goto(f"/jobs/{job.pk}/items/{item.pk}/")
    expect(page.locator(".question-results .piece.marked")).to_have_text(["Ada"])
