"""API tokens expire, end on a password change and on sign-out, and can be revoked, for the API and the
worker WebSocket alike."""

from datetime import timedelta

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.test import Client
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories
from tests.scheduling import run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_hashes(settings):
    # The hash's cost is not under test here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def token_of(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def age(key: str, hours: float) -> None:
    Token.objects.filter(pk=key).update(created=timezone.now() - timedelta(hours=hours))


def me(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/me/")


def sign_in_for_token(username: str, password: str = factories.PASSWORD, **headers):
    return APIClient().post("/api/auth/token/", {"username": username, "password": password}, format="json", **headers)


def test_a_token_older_than_the_ttl_is_refused_and_signing_in_again_gives_a_new_one(settings):
    settings.QUORUM_TOKEN_TTL_HOURS = 24
    user = factories.make_requester()
    key = token_of(user)
    age(key, 23)
    assert me(key).status_code == 200
    age(key, 25)
    refused = me(key)
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]
    # A script that still sends its old token can post its password for a new one.
    fresh = sign_in_for_token(user.username, HTTP_AUTHORIZATION=f"Token {key}")
    assert fresh.status_code == 200 and fresh.json()["token"] != key
    assert fresh.json()["expires_at"] is not None
    assert me(fresh.json()["token"]).status_code == 200
    assert not Token.objects.filter(pk=key).exists()
    # While it is valid, signing in again gives the same token.
    assert sign_in_for_token(user.username).json()["token"] == fresh.json()["token"]


def test_a_ttl_of_zero_means_tokens_never_expire(settings):
    settings.QUORUM_TOKEN_TTL_HOURS = 0
    user = factories.make_requester()
    key = token_of(user)
    age(key, 24 * 3650)
    assert me(key).status_code == 200
    assert sign_in_for_token(user.username).json() == {"token": key, "expires_at": None}


@pytest.mark.django_db(transaction=True)
def test_the_worker_socket_refuses_an_expired_token(settings):
    settings.QUORUM_TOKEN_TTL_HOURS = 1
    worker = factories.make_worker()
    key = token_of(worker)

    async def connect() -> dict:
        from quorum.asgi import application

        ws = WebsocketCommunicator(application, "/ws/work/", headers=[(b"authorization", f"Token {key}".encode())])
        await ws.connect(timeout=10)
        first = await ws.receive_output(5)
        await ws.disconnect()
        return first

    assert run(connect)["type"] != "websocket.close"
    age(key, 2)
    assert run(connect) == {"type": "websocket.close", "code": 4401}


def test_a_password_change_on_any_path_ends_the_token():
    user = factories.make_requester()
    key = token_of(user)
    user.set_password("another-long-passphrase")
    user.save()
    assert me(key).status_code == 401
    key = token_of(user)
    form = AdminPasswordChangeForm(user, {"password1": "yet-another-passphrase", "password2": "yet-another-passphrase"})
    assert form.is_valid(), form.errors
    form.save()
    assert me(key).status_code == 401
    # Saving the user for any other reason keeps the token.
    key = token_of(user)
    user.refresh_from_db()
    user.email = "new@example.org"
    user.save()
    assert me(key).status_code == 200


def test_signing_out_of_the_site_ends_the_token():
    user = factories.make_requester()
    browser = Client()
    assert browser.post("/login/", {"username": user.username, "password": factories.PASSWORD}).status_code == 302
    key = token_of(user)
    assert me(key).status_code == 200
    browser.post("/logout/")
    assert me(key).status_code == 401


def test_delete_on_the_token_endpoint_revokes_the_callers_token():
    user = factories.make_requester()
    other = factories.make_requester()
    key, other_key = token_of(user), token_of(other)
    client = APIClient()
    assert client.delete("/api/auth/token/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.delete("/api/auth/token/").status_code == 204
    assert me(key).status_code == 401
    assert client.delete("/api/auth/token/").status_code == 401
    assert me(other_key).status_code == 200


def test_the_tokens_page_shows_the_expiry_and_revokes(settings):
    settings.QUORUM_TOKEN_TTL_HOURS = 48
    user = factories.make_requester()
    browser = Client()
    browser.force_login(user)
    browser.post("/account/tokens/")
    key = Token.objects.get(user=user).key
    page = browser.get("/account/tokens/").content.decode()
    assert "Expires " in page and "Revoke token" in page
    age(key, 49)
    assert "It has expired" in browser.get("/account/tokens/").content.decode()
    browser.post("/account/tokens/", {"action": "revoke"})
    assert not Token.objects.filter(user=user).exists()
    assert "You have no token yet" in browser.get("/account/tokens/").content.decode()
