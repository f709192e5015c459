"""Password reset by email: the real view sends a real mail over SMTP to a local server, whose link sets a new
password that then signs in; requests are limited per client address and per email, and the page tells nothing
about which addresses have accounts."""

import os
import re
import subprocess
import sys
import threading

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.test import Client

from tests import factories
from tests.servers import ROOT, free_port

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a-brand-new-passphrase"


class Inbox:
    """An aiosmtpd handler that keeps every message it is sent."""

    def __init__(self):
        self.messages: list[tuple[list[str], str]] = []
        self.received = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        self.received.set()
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_inbox(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD, settings.EMAIL_USE_TLS = "", "", False
    settings.DEFAULT_FROM_EMAIL = "Quorum <noreply@quorum.test>"
    yield inbox
    controller.stop()


def worker_with_email(username: str, email: str):
    user = factories.make_worker(username)
    user.email = email
    user.save(update_fields=["email"])
    return user


def test_a_reset_mail_arrives_over_smtp_and_its_link_sets_a_password_that_signs_in(smtp_inbox):
    worker_with_email("forgetful", "forgetful@example.com")
    client = Client()
    assert 'href="/password-reset/"' in client.get("/login/").content.decode()  # the way in from the sign-in page
    sent = client.post("/password-reset/", {"email": "Forgetful@Example.com"})
    assert sent.status_code == 302 and sent["Location"] == "/password-reset/sent/"
    assert smtp_inbox.received.wait(10)
    [(recipients, message)] = smtp_inbox.messages
    assert recipients == ["forgetful@example.com"]
    assert "Subject: Your Quorum password" in message and '"forgetful"' in message and "60 minutes" in message
    link = re.search(r"http://testserver(/password-reset/[^/\s]+/[^/\s]+/)", message).group(1)

    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and 'name="new_password1"' in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    mismatch = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": "something else entirely"})
    assert mismatch.status_code == 200 and "didn’t match" in mismatch.content.decode()
    done = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done["Location"] == "/password-reset/done/"
    assert "Your new password works now." in client.get(done["Location"]).content.decode()

    assert Client().post("/login/", {"username": "forgetful", "password": factories.PASSWORD}).status_code == 200
    signed_in = Client().post("/login/", {"username": "forgetful", "password": NEW_PASSWORD})
    assert signed_in.status_code == 302
    # The link works once.
    assert "This link does not work" in Client().get(link, follow=True).content.decode()


def test_an_unknown_address_gets_the_same_answer_and_no_mail(smtp_inbox):
    worker_with_email("known", "known@example.com")
    unknown = Client().post("/password-reset/", {"email": "nobody@example.com"})
    known = Client().post("/password-reset/", {"email": "known@example.com"})
    assert (unknown.status_code, unknown["Location"]) == (known.status_code, known["Location"])
    assert smtp_inbox.received.wait(10)
    assert [recipients for recipients, _ in smtp_inbox.messages] == [["known@example.com"]]


def test_requests_are_limited_per_email_and_per_client_address(settings):
    settings.QUORUM_PASSWORD_RESETS_PER_EMAIL_PER_HOUR = 2
    settings.QUORUM_PASSWORD_RESETS_PER_ADDRESS_PER_HOUR = 4
    worker_with_email("target", "target@example.com")
    for n in range(2):
        client = Client(REMOTE_ADDR=f"198.51.100.{n}")
        assert client.post("/password-reset/", {"email": "target@example.com"}).status_code == 302
    # A third request for the address from anywhere: refused, no mail; the same for an address with no account.
    refused = Client(REMOTE_ADDR="198.51.100.9").post("/password-reset/", {"email": "TARGET@example.com"})
    assert refused.status_code == 429 and "Too many password-reset requests" in refused.content.decode()
    assert int(refused["Retry-After"]) > 3500
    assert len(mail.outbox) == 2
    # One client address spraying many addresses stops at its own limit.
    sprayer = Client(REMOTE_ADDR="198.51.100.20")
    codes = [sprayer.post("/password-reset/", {"email": f"x{n}@example.com"}).status_code for n in range(5)]
    assert codes == [302, 302, 302, 302, 429]
    # A form with no valid address is an error, not a request.
    invalid = Client(REMOTE_ADDR="198.51.100.30").post("/password-reset/", {"email": "not-an-address"})
    assert invalid.status_code == 200 and "Enter a valid email address." in invalid.content.decode()


def test_mail_goes_by_smtp_only_when_a_mail_server_is_set(tmp_path):
    def backend(**env) -> str:
        code = "import django; django.setup(); from django.conf import settings; print(settings.EMAIL_BACKEND)"
        environ = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "EMAIL_HOST")}
        environ.update(DJANGO_SETTINGS_MODULE="quorum.settings", QUORUM_VAR_DIR=str(tmp_path), **env)
        return subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert backend() == "django.core.mail.backends.console.EmailBackend"
    assert backend(EMAIL_HOST="smtp.example.com") == "django.core.mail.backends.smtp.EmailBackend"
