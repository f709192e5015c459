"""Staff manage people in the Django admin: the user list shows who is blocked, and a user's role can be set when
the account is made and changed later."""

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth import get_user_model
from django.test import Client

from tests import factories
from workers import services

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def staff_browser():
    browser = Client()
    browser.force_login(User.objects.create_superuser(username="root-admin", password=factories.PASSWORD))
    return browser


def test_the_user_list_has_a_blocked_column(staff_browser):
    blocked, free = factories.make_worker("blocked-one"), factories.make_worker("free-one")
    requester = factories.make_requester("asks-work")
    services.worker_block(blocked)
    admin = site._registry[User]
    assert admin.blocked.boolean is True
    assert [admin.blocked(User.objects.get(pk=u.pk)) for u in (blocked, free, requester)] == [True, False, None]
    page = staff_browser.get("/admin/workers/user/").content.decode()
    assert "column-blocked" in page and 'alt="True"' in page and 'alt="False"' in page


def test_staff_change_a_role_and_a_new_worker_gets_a_profile(staff_browser):
    user = factories.make_requester("turns-worker")
    form = staff_browser.get(f"/admin/workers/user/{user.pk}/change/").content.decode()
    assert 'name="role"' in form
    change = {"username": "turns-worker", "role": "worker", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    assert staff_browser.post(f"/admin/workers/user/{user.pk}/change/", change).status_code == 302
    user.refresh_from_db()
    assert user.role == "worker" and user.worker_profile.blocked is False


def test_staff_choose_the_role_and_email_of_an_account_they_make(staff_browser):
    form = {
        "username": "made-by-staff", "email": "made@example.com", "role": "requester",
        "usable_password": "true", "password1": factories.PASSWORD, "password2": factories.PASSWORD,
    }  # fmt: skip
    assert staff_browser.post("/admin/workers/user/add/", form).status_code == 302
    made = User.objects.get(username="made-by-staff")
    assert (made.role, made.email) == ("requester", "made@example.com")
