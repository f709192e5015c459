"""Writes about people: sign-up, profiles, blocking."""

from django.contrib.auth import get_user_model
from django.db import transaction

from quorum import events

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


def worker_block(worker) -> WorkerProfile:
    """Block a worker on every job: no new leases, live sessions told to stop, unreviewed answers stop counting.

    Answers a requester already accepted keep counting.
    """
    from tasks.models import Answer, Assignment

    with transaction.atomic():
        profile = worker_profile_get_or_create(worker)
        WorkerProfile.objects.filter(pk=profile.pk).update(blocked=True)
        Answer.objects.filter(worker_id=profile.user_id).exclude(assignment__review=Assignment.Review.ACCEPTED).update(
            counts=False
        )
        transaction.on_commit(lambda: events.worker_blocked(profile.user_id))
    profile.refresh_from_db()
    return profile


def worker_unblock(worker) -> WorkerProfile:
    """Let a worker take work again; answers not rejected by a requester count again."""
    from tasks.models import Answer, Assignment

    with transaction.atomic():
        profile = worker_profile_get_or_create(worker)
        WorkerProfile.objects.filter(pk=profile.pk).update(blocked=False)
        Answer.objects.filter(worker_id=profile.user_id).exclude(assignment__review=Assignment.Review.REJECTED).update(
            counts=True
        )
    profile.refresh_from_db()
    return profile
