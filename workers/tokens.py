"""API tokens: how long one lasts, and the writes that issue, replace and revoke them.

A user has at most one token (DRF's ``authtoken``). It expires ``QUORUM_TOKEN_TTL_HOURS`` after it was made
(0: never); the DRF authentication class and the WebSocket lookup both ask ``token_expired``. It is revoked when
the user's password changes (``User.save``), when they sign out (``workers.apps``), and on request
(``DELETE /api/auth/token/``, the tokens page). A WebSocket already open with a token that is then revoked stays
open until it closes; the next connect is refused.
"""

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

# What DRF makes a key look like (40 hex digits): anything else is no key, and is never looked up.
TOKEN_KEY = re.compile(r"[0-9a-f]{40}")


def token_ttl() -> timedelta | None:
    hours = settings.QUORUM_TOKEN_TTL_HOURS
    return timedelta(hours=hours) if hours > 0 else None


def token_expires_at(created: datetime) -> datetime | None:
    ttl = token_ttl()
    return created + ttl if ttl else None


def token_expired(created: datetime) -> bool:
    expires_at = token_expires_at(created)
    return expires_at is not None and expires_at <= timezone.now()


def token_for_signin(user) -> Token:
    """The user's token after they proved their password: the one they have, or a new one if it expired."""
    token = Token.objects.filter(user=user).first()
    if token is not None and not token_expired(token.created):
        return token
    if token is not None:
        # By key: a concurrent sign-in may already have replaced it, and that new token stays.
        Token.objects.filter(pk=token.pk).delete()
    return Token.objects.get_or_create(user=user)[0]


def token_replace(user) -> Token:
    """A new token for the user; the old one stops working."""
    token_revoke_all(user)
    return Token.objects.create(user=user)


def token_revoke_all(user) -> int:
    """End the user's token, if any. Returns how many were deleted."""
    return Token.objects.filter(user=user).delete()[0]
