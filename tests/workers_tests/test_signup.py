"""Who may create an account: QUORUM_SIGNUP_ROLES, on the sign-up page and the API alike."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from tests import factories

pytestmark = pytest.mark.django_db
User = get_user_model()


def api_signup(role: str):
    return APIClient().post(
        "/api/auth/signup/",
        {"username": f"new-{role}", "password": factories.PASSWORD, "email": "n@example.com", "role": role},
        format="json",
    )


def test_an_open_crowd_lets_workers_sign_up_but_not_requesters(settings):
    settings.QUORUM_SIGNUP_ROLES = ["worker"]
    assert api_signup("worker").status_code == 201
    refused = api_signup("requester")
    assert refused.status_code == 400
    assert "sign-up as a requester is closed" in refused.json()["role"][0]
    page = Client().get("/signup/").content.decode()
    assert 'value="worker"' in page and 'value="requester"' not in page
    response = Client().post(
        "/signup/", {"username": "rita", "password": factories.PASSWORD, "email": "r@example.com", "role": "requester"}
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not User.objects.filter(username__in=["new-requester", "rita"]).exists()


def test_a_closed_server_creates_no_accounts(settings):
    settings.QUORUM_SIGNUP_ROLES = []
    refused = api_signup("worker")
    assert refused.status_code == 403 and "closed" in refused.json()["detail"]
    assert "Sign-up is closed" in Client().get("/signup/").content.decode()
    response = Client().post(
        "/signup/", {"username": "wendy", "password": factories.PASSWORD, "email": "w@example.com", "role": "worker"}
    )
    assert response.status_code == 403
    assert not User.objects.filter(username__in=["new-worker", "wendy"]).exists()


def test_the_page_preselects_no_role_and_asks_for_one(settings):
    settings.QUORUM_SIGNUP_ROLES = ["requester", "worker"]
    page = Client().get("/signup/").content.decode()
    assert 'value="worker"' in page and 'value="requester"' in page and "checked" not in page
    response = Client().post("/signup/", {"username": "nora", "password": factories.PASSWORD, "email": "n@example.com"})
    assert response.status_code == 200
    assert "Choose whether you will work on tasks or post them." in response.content.decode()
    assert not User.objects.filter(username="nora").exists()


def test_the_page_needs_a_valid_email_and_keeps_it():
    body = {"username": "edna", "password": factories.PASSWORD, "role": "worker"}
    missing = Client().post("/signup/", body).content.decode()
    invalid = Client().post("/signup/", {**body, "email": "not-an-address"}).content.decode()
    assert "This field is required." in missing and "Enter a valid email address." in invalid
    assert 'value="not-an-address"' in invalid  # what was typed stays in the form
    assert not User.objects.filter(username="edna").exists()
    made = Client().post("/signup/", {**body, "email": "edna@example.com"})
    assert made.status_code == 302 and User.objects.get(username="edna").email == "edna@example.com"


def test_the_api_needs_a_valid_email_and_a_role():
    body = {"username": "api-eve", "password": factories.PASSWORD, "role": "worker"}
    missing = APIClient().post("/api/auth/signup/", body, format="json")
    assert missing.status_code == 400 and "email" in missing.json()
    invalid = APIClient().post("/api/auth/signup/", {**body, "email": "eve@"}, format="json")
    assert invalid.status_code == 400 and "valid email" in invalid.json()["email"][0]
    no_role = APIClient().post(
        "/api/auth/signup/", {"username": "api-eve", "password": factories.PASSWORD, "email": "eve@example.com"}
    )
    assert no_role.status_code == 400
    assert no_role.json()["role"] == ["Choose whether you will work on tasks or post them."]
    made = APIClient().post("/api/auth/signup/", {**body, "email": "eve@example.com"}, format="json")
    assert made.status_code == 201 and made.json()["email"] == "eve@example.com"
    assert User.objects.get(username="api-eve").email == "eve@example.com"
