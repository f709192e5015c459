"""Writes about people: sign-up and profiles."""

from django.contrib.auth import get_user_model
from django.db import transaction

from .models import WorkerProfile

User = get_user_model()


@transaction.atomic
def user_create(*, username: str, password: str | None, role: str, email: str = "") -> User:
    """A new user; a worker also gets a profile. No password (None) means token or admin-set login only."""
    user = User.objects.create_user(username=username, password=password, email=email, role=role)
    if role == User.Role.WORKER:
        WorkerProfile.objects.create(user=user)
    return user


def worker_profile_get_or_create(user) -> WorkerProfile:
    profile, _ = WorkerProfile.objects.get_or_create(user=user)
    return profile
