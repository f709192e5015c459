"""What a new account may be: passwords pass Django's validators, usernames are a safe set and not look-alikes,
and every input is bounded before anything is hashed."""

import time

import pytest
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.test import Client
from rest_framework.test import APIClient

from quorum import demo
from tests import factories
from workers.models import User
from workers.usernames import username_skeleton

pytestmark = pytest.mark.django_db


def api_signup(username: str, password: str = factories.PASSWORD, **extra):
    return APIClient().post(
        "/api/auth/signup/",
        {"username": username, "password": password, "email": "new@example.com", "role": "worker", **extra},
        format="json",
    )


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("12345678", "too short"),
        ("1234567890123", "entirely numeric"),
        ("password", "too common"),
        ("qwertyuiop", "too common"),
        ("rosalind-kepler", "too similar to the username"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason_on_the_api(password, says):
    response = api_signup("rosalind-kepler", password)
    assert response.status_code == 400
    assert any(says in message for message in response.json()["password"]), response.json()
    assert not User.objects.filter(username="rosalind-kepler").exists()


def test_weak_passwords_are_refused_with_the_reason_on_the_page():
    page = Client().post(
        "/signup/", {"username": "wendy-w", "password": "wendy-w", "email": "w@example.com", "role": "worker"}
    )
    body = page.content.decode()
    assert page.status_code == 200
    assert "too short" in body and "too similar to the username" in body
    assert "at least 10 characters" in Client().get("/signup/").content.decode()
    assert not User.objects.filter(username="wendy-w").exists()


def test_an_admin_password_change_uses_the_validators_too():
    user = factories.make_worker()
    form = AdminPasswordChangeForm(user, {"password1": "password", "password2": "password"})
    assert not form.is_valid() and "too common" in str(form.errors)


def test_the_demo_requester_and_test_accounts_made_in_code_still_sign_in(settings):
    settings.QUORUM_SIGNUP_ROLES = ["worker"]
    user = User.objects.create_user(username=demo.DEMO_USERNAME, password=demo.DEMO_PASSWORD, role="requester")
    response = APIClient().post(
        "/api/auth/token/", {"username": user.username, "password": demo.DEMO_PASSWORD}, format="multipart"
    )
    assert response.status_code == 200 and len(response.json()["token"]) == 40
    assert APIClient().post("/api/auth/signup/", {"username": "good-name", "password": factories.PASSWORD,
                                                   "email": "g@example.com", "role": "worker"}, format="json").status_code == 201  # fmt: skip


@pytest.mark.parametrize(
    ("username", "says"),
    [
        ("<b>bold</b>", "use only ASCII letters, digits and . _ -"),
        ("ann\u202eevil", "use only ASCII letters"),
        ("ann\x07bell", "use only ASCII letters"),
        ("zero\u200bwidth", "use only ASCII letters"),
        ("\u0430lice", "use only ASCII letters"),  # a Cyrillic "а"
        ("has space", "use only ASCII letters"),
        ("ab", "use 3 to 30 characters"),
        ("x" * 31, "use 3 to 30 characters"),
        (".hidden", "start and end with a letter or a digit"),
    ],
)
def test_usernames_outside_the_safe_set_are_refused_with_the_reason(username, says):
    response = api_signup(username)
    assert response.status_code == 400
    assert says in response.json()["username"][0], response.json()
    assert not User.objects.filter(username=username).exists()


@pytest.mark.parametrize("look_alike", ["Demo", "DEMO", "dem0", "d.emo", "de_mo", "dEm0"])
def test_a_username_that_looks_like_an_existing_one_is_refused(look_alike):
    factories.make_requester("demo")
    response = api_signup(look_alike)
    assert response.status_code == 400
    assert "looks too much like one that is" in response.json()["username"][0]
    page = Client().post(
        "/signup/", {"username": look_alike, "password": factories.PASSWORD, "email": "l@example.com", "role": "worker"}
    )
    assert "looks too much like one that is" in page.content.decode()
    assert User.objects.filter(username__iexact=look_alike).count() == (1 if look_alike.lower() == "demo" else 0)


def test_similar_but_distinct_names_are_free():
    factories.make_requester("demo")
    assert api_signup("demo2").status_code == 201
    assert api_signup("democrat").status_code == 201


def test_the_skeleton_folds_what_a_reader_would_confuse():
    assert username_skeleton("ＤＥＭＯ") == username_skeleton("demo")  # full-width forms
    assert username_skeleton("rnary") == username_skeleton("mary")
    assert username_skeleton("A1ice") == username_skeleton("alice") == username_skeleton("AIice")
    assert username_skeleton("vvill") == username_skeleton("will")


def test_a_renamed_user_gets_a_new_skeleton():
    user = factories.make_worker("first-name")
    user.username = "Second.Name"
    user.save(update_fields=["username"])
    assert User.objects.get(pk=user.pk).username_skeleton == username_skeleton("secondname")


def test_a_huge_password_or_username_gets_a_clear_400_before_any_hashing(settings):
    settings.QUORUM_SIGNUP_ROLES = ["worker"]
    factories.make_worker("someone")
    huge = "x" * 1_000_000
    started = time.perf_counter()
    signup = api_signup("big-pass", huge)
    token = APIClient().post("/api/auth/token/", {"username": "someone", "password": huge}, format="json")
    long_name = APIClient().post("/api/auth/token/", {"username": huge, "password": "x"}, format="json")
    page = Client().post("/login/", {"username": "someone", "password": huge})
    elapsed = time.perf_counter() - started
    assert signup.status_code == 400 and "no more than 4096 characters" in signup.json()["password"][0]
    assert token.status_code == 400 and "no more than 4096 characters" in token.json()["password"][0]
    assert long_name.status_code == 400 and "no more than 150 characters" in long_name.json()["username"][0]
    assert page.status_code == 200 and "at most 4096 characters" in page.content.decode()
    assert elapsed < 2.0  # no hashing: one PBKDF2 alone takes about 0.25 s


def test_staff_creating_or_renaming_users_in_the_admin_follow_the_same_rules():
    staff = User.objects.create_superuser(username="root-admin", password=factories.PASSWORD)
    factories.make_requester("demo")
    browser = Client()
    browser.force_login(staff)
    form = {"username": "dem0", "password1": "", "password2": "", "usable_password": "false"}
    page = browser.post("/admin/workers/user/add/", form)
    assert page.status_code == 200 and "looks too much like one that is" in page.content.decode()
    form = {"username": "<script>", "password1": "password", "password2": "password", "usable_password": "true"}
    body = browser.post("/admin/workers/user/add/", form).content.decode()
    assert "use only ASCII letters" in body and "too common" in body
    assert not User.objects.filter(username__in=["dem0", "<script>"]).exists()
    # Renaming a user to a look-alike of another is refused; keeping their own name is not.
    worker = factories.make_worker("someone-else")
    change = {"username": "DEMO", "role": "worker", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    body = browser.post(f"/admin/workers/user/{worker.pk}/change/", change).content.decode()
    assert "looks too much like one that is" in body
    change["username"] = "someone-else"
    assert browser.post(f"/admin/workers/user/{worker.pk}/change/", change).status_code == 302
