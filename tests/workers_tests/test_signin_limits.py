"""Password guessing and mass sign-up are limited (counts in the real Redis): failed sign-ins lock a username
or an address out of every sign-in path, and one address may make only so many accounts an hour."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests import factories
from workers.models import User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_limits(settings):
    settings.QUORUM_SIGNIN_FAILURES_PER_USERNAME = 3
    settings.QUORUM_SIGNIN_FAILURES_PER_ADDRESS = 5
    settings.QUORUM_SIGNIN_WINDOW_MINUTES = 15
    settings.QUORUM_SIGNUPS_PER_ADDRESS_PER_HOUR = 2
    # The hash's cost is not under test here, and these tests check many passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def api_sign_in(username: str, password: str, address: str = "203.0.113.7"):
    return APIClient(REMOTE_ADDR=address).post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )


def page_sign_in(username: str, password: str, address: str = "203.0.113.7"):
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def test_failed_sign_ins_lock_the_username_on_the_api_and_the_page_even_with_the_right_password():
    user = factories.make_requester()
    assert api_sign_in(user.username, "wrong-guess-1").status_code == 400
    assert page_sign_in(user.username, "wrong-guess-2").status_code == 200
    # Counted per username whatever its case, and from another address too.
    assert api_sign_in(user.username.upper(), "wrong-guess-3", address="198.51.100.9").status_code == 400
    locked = api_sign_in(user.username, factories.PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-ins; try again in 15 minutes" in locked.json()["detail"]
    assert 850 < int(locked["Retry-After"]) <= 900
    page = page_sign_in(user.username, factories.PASSWORD)
    assert page.status_code == 429 and "Too many failed sign-ins; try again in 15 minutes" in page.content.decode()
    assert "_auth_user_id" not in page.wsgi_request.session
    # Other users are not affected.
    other = factories.make_requester()
    assert api_sign_in(other.username, factories.PASSWORD).status_code == 200


def test_the_admin_login_honours_the_lockout_too():
    staff = User.objects.create_user(username="staffer", password=factories.PASSWORD, is_staff=True)
    for n in range(3):
        api_sign_in(staff.username, f"wrong-guess-{n}")
    browser = Client(REMOTE_ADDR="203.0.113.7")
    browser.post("/admin/login/", {"username": staff.username, "password": factories.PASSWORD})
    assert "_auth_user_id" not in browser.session


def test_a_successful_sign_in_clears_the_usernames_count():
    user = factories.make_requester()
    for n in range(2):
        assert api_sign_in(user.username, f"wrong-guess-{n}").status_code == 400
    assert page_sign_in(user.username, factories.PASSWORD).status_code == 302
    for n in range(2):
        assert api_sign_in(user.username, f"wrong-again-{n}").status_code == 400
    assert api_sign_in(user.username, factories.PASSWORD).status_code == 200


def test_one_address_guessing_many_usernames_is_locked_out():
    user = factories.make_requester()
    for n in range(5):
        assert api_sign_in(f"nobody-{n}", "some-guess", address="2001:db8:1:2::1").status_code == 400
    # Same /64, another host: still that address.
    assert api_sign_in(user.username, factories.PASSWORD, address="2001:db8:1:2::ff").status_code == 429
    assert page_sign_in(user.username, factories.PASSWORD, address="2001:db8:1:2::ff").status_code == 429
    assert api_sign_in(user.username, factories.PASSWORD, address="2001:db8:1:3::1").status_code == 200


def test_sign_ups_are_limited_per_address_on_the_api_and_the_page():
    address = "192.0.2.50"
    api = APIClient(REMOTE_ADDR=address)
    for n in range(2):
        made = api.post(
            "/api/auth/signup/",
            {"username": f"crowd-{n}", "password": factories.PASSWORD, "email": "c@example.com", "role": "worker"},
        )
        assert made.status_code == 201, made.json()
    refused = api.post(
        "/api/auth/signup/",
        {"username": "crowd-x", "password": factories.PASSWORD, "email": "c@example.com", "role": "worker"},
    )
    assert refused.status_code == 429 and "Too many new accounts" in refused.json()["detail"]
    assert int(refused["Retry-After"]) > 3500
    page = Client(REMOTE_ADDR=address).post(
        "/signup/", {"username": "crowd-y", "password": factories.PASSWORD, "email": "c@example.com", "role": "worker"}
    )
    assert page.status_code == 429 and "Too many new accounts from your address" in page.content.decode()
    assert not User.objects.filter(username__in=["crowd-x", "crowd-y"]).exists()
    # Refused attempts do not count; other addresses are free.
    other = APIClient(REMOTE_ADDR="192.0.2.51").post(
        "/api/auth/signup/",
        {"username": "crowd-z", "password": factories.PASSWORD, "email": "c@example.com", "role": "worker"},
    )
    assert other.status_code == 201


def at_once(calls: list) -> list:
    """Run the calls in threads released together, as a burst of parallel requests would arrive."""
    import threading

    from django.db import connection

    barrier, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(at, call):
        try:
            barrier.wait(10)
            results[at] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(at, call)) for at, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_parallel_guesses_checks_no_more_passwords_than_the_limit():
    user = factories.make_requester()
    guesses = [lambda n=n: api_sign_in(user.username, f"wrong-guess-{n}") for n in range(12)]
    codes = [r.status_code for r in at_once(guesses)]
    # Only the first 3 attempts (the username's limit) get their password checked; the others are refused.
    assert codes.count(400) <= 3, codes
    assert codes.count(429) >= 9, codes
    # The username is locked now: even its password is not checked. (A right password inside the burst would
    # clear the count as any successful sign-in does, so it is sent after it.)
    assert api_sign_in(user.username, factories.PASSWORD).status_code == 429


@pytest.mark.django_db(transaction=True)
def test_parallel_sign_ups_make_no_more_accounts_than_the_limit_nor_two_look_alikes():
    names = ["burst.a", "burst_a", "BURSTA", "burst-b", "burst_b"]

    def sign_up(name):
        return lambda: APIClient(REMOTE_ADDR="203.0.113.50").post(
            "/api/auth/signup/",
            {"username": name, "password": "Zx9!qwLmpo77", "email": "c@example.com", "role": "worker"},
            format="json",
        )

    codes = [r.status_code for r in at_once([sign_up(name) for name in names])]
    assert codes.count(201) <= 2, codes  # QUORUM_SIGNUPS_PER_ADDRESS_PER_HOUR
    made = list(User.objects.filter(username__in=names).values_list("username_skeleton", flat=True))
    assert len(made) == len(set(made)) == codes.count(201)


@pytest.mark.django_db(transaction=True)
def test_look_alike_names_sent_at_the_same_moment_make_one_account(settings):
    settings.QUORUM_SIGNUPS_PER_ADDRESS_PER_HOUR = 10
    names = ["twin.a", "twin_a", "TWINA", "tw1na"]
    codes = [
        r.status_code
        for r in at_once(
            [
                lambda name=name: APIClient(REMOTE_ADDR="203.0.113.51").post(
                    "/api/auth/signup/",
                    {"username": name, "password": "Zx9!qwLmpo77", "email": "c@example.com", "role": "worker"},
                    format="json",
                )
                for name in names
            ]
        )
    ]
    assert sorted(codes) == [201, 400, 400, 400], codes
    assert User.objects.filter(username_skeleton="twlna").count() == 1
