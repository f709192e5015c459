"""Writes about people: sign-up, profiles, blocking."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils.translation import gettext_lazy

from .models import WorkerProfile
from .usernames import TAKEN_MESSAGE, username_skeleton, username_taken

User = get_user_model()


ROLE_REQUIRED_MESSAGE = gettext_lazy("Choose whether you will work on tasks or post them.")


class UsernameTaken(ValueError):
    """The name, or one that looks like it, was taken meanwhile (by a sign-up running at the same moment)."""


@transaction.atomic
def user_create(*, username: str, password: str | None, role: str, email: str = "") -> User:
    """A new user; a worker also gets a profile. No password (None) means token or admin-set login only.

    Sign-ups of names with one skeleton take turns (a transaction lock on the skeleton) and look again, so two
    look-alikes sent at the same moment cannot both be made; the second raises UsernameTaken.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(7302, hashtext(%s))", [username_skeleton(username)])
    if username_taken(username):
        raise UsernameTaken(TAKEN_MESSAGE)
    user = User.objects.create_user(username=username, password=password, email=email, role=role)
    if role == User.Role.WORKER:
        WorkerProfile.objects.create(user=user)
    return user


def signup_roles() -> list[str]:
    """The roles anyone may sign up for on this server (QUORUM_SIGNUP_ROLES), in the order of User.Role."""
    allowed = set(settings.QUORUM_SIGNUP_ROLES)
    return [role for role in User.Role.values if role in allowed]


def worker_profile_get_or_create(user) -> WorkerProfile:
    profile, _ = WorkerProfile.objects.get_or_create(user=user)
    return profile


STAFF_BLOCK = "blocked by staff"


def worker_block(worker) -> WorkerProfile:
    """Block a worker on every job: no new leases, live sessions stop, and on each job they worked on their
    answers stop counting (except those a requester accepted) and those microtasks are answered again."""
    from tasks import quality
    from tasks.models import Assignment

    profile = worker_profile_get_or_create(worker)
    WorkerProfile.objects.filter(pk=profile.pk).update(blocked=True)
    for job_id in Assignment.objects.filter(worker=worker).values_list("job_id", flat=True).distinct():
        quality.worker_block_for_job(job_id, worker.pk, STAFF_BLOCK)
    # Also when they never worked on a job: a live session must stop taking leases now.
    transaction.on_commit(lambda: quality.worker_changed(worker.pk))
    profile.refresh_from_db()
    return profile


def worker_unblock(worker) -> WorkerProfile:
    """Let a worker take work again (answers set aside while blocked stay set aside: others replaced them)."""
    from tasks import quality
    from tasks.models import JobWorker

    profile = worker_profile_get_or_create(worker)
    WorkerProfile.objects.filter(pk=profile.pk).update(blocked=False)
    for job_id in JobWorker.objects.filter(worker=worker, blocked_reason=STAFF_BLOCK).values_list("job_id", flat=True):
        quality.worker_unblock_for_job(job_id, worker.pk)
    quality.worker_changed(worker.pk)
    profile.refresh_from_db()
    return profile
