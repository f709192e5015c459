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
        "/api/auth/signup/", {"username": f"new-{role}", "password": factories.PASSWORD, "role": role}, format="json"
    )


def test_an_open_crowd_lets_workers_sign_up_but_not_requesters(settings):
    settings.QUORUM_SIGNUP_ROLES = ["worker"]
    assert api_signup("worker").status_code == 201
    refused = api_signup("requester")
    assert refused.status_code == 400
    assert "sign-up as a requester is closed" in refused.json()["role"][0]
    page = Client().get("/signup/").content.decode()
    assert 'value="worker"' in page and 'value="requester"' not in page
    response = Client().post("/signup/", {"username": "rita", "password": factories.PASSWORD, "role": "requester"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not User.objects.filter(username__in=["new-requester", "rita"]).exists()


def test_a_closed_server_creates_no_accounts(settings):
    settings.QUORUM_SIGNUP_ROLES = []
    refused = api_signup("worker")
    assert refused.status_code == 403 and "closed" in refused.json()["detail"]
    assert "Sign-up is closed" in Client().get("/signup/").content.decode()
    response = Client().post("/signup/", {"username": "wendy", "password": factories.PASSWORD, "role": "worker"})
    assert response.status_code == 403
    assert not User.objects.filter(username__in=["new-worker", "wendy"]).exists()
