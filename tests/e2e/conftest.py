"""Browser tests: one uvicorn server and one headless Chromium per test module, screenshots as artefacts."""

import os
from pathlib import Path

import pytest

from tests.servers import asgi_server


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


# Playwright's sync API runs an event loop in this thread; Django's ORM calls in the test body are still
# synchronous and safe, so lift the guard that would refuse them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        with asgi_server() as url:
            yield url


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, server):
    """Opens pages in fresh browser contexts (one per user); every page fails the test on a JS error."""
    contexts = []
    errors = []

    def make(viewport=None, locale=None):
        context = browser.new_context(
            base_url=server,
            viewport=viewport or {"width": 1280, "height": 900},
            accept_downloads=True,
            **({"locale": locale} if locale else {}),
        )
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # A CSP violation (an inline script or style) shows up only as a console error.
        page.on(
            "console",
            lambda msg: (
                errors.append(msg.text) if msg.type == "error" and "Content Security Policy" in msg.text else None
            ),
        )
        page.on("dialog", lambda dialog: on_dialog(dialog, errors))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, errors


def on_dialog(dialog, errors: list) -> None:
    """Confirmations are accepted, as a user who meant the click would; an alert is a failure (an XSS canary)."""
    if dialog.type == "confirm":
        dialog.accept()
        return
    errors.append(f"{dialog.type}: {dialog.message}")
    dialog.dismiss()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def send_event(group: str, event_type: str, payload: dict) -> None:
    """Send a channel-layer event from a test (another thread: Playwright's loop owns this one)."""
    from concurrent.futures import ThreadPoolExecutor

    from quorum import events

    with ThreadPoolExecutor(1) as pool:
        pool.submit(events.send_to_group, group, event_type, payload).result()


def send_burst(group: str, messages: list[dict], per_second: int) -> None:
    """Send channel-layer events at a steady rate (from another thread, as in send_event)."""
    import asyncio
    import time
    from concurrent.futures import ThreadPoolExecutor

    from channels.layers import get_channel_layer

    async def burst():
        layer = get_channel_layer()
        started = time.monotonic()
        for n, message in enumerate(messages):
            delay = started + n / per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await layer.group_send(group, message)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, burst()).result()
