"""Limits on guessing passwords and on making accounts, counted in Redis.

Failed sign-ins are counted per username and per client address in fixed windows of
``QUORUM_SIGNIN_WINDOW_MINUTES``; once either count reaches its limit, sign-ins for that username or from that
address are refused (429) until the window ends, without checking the password. A successful sign-in clears
the username's count (not the address's: one good account must not buy more guesses at others). Sign-ups are
counted per address per hour; password-reset requests per client address and per email address per hour (every
request counts, whether or not the email has an account, so a refusal tells nothing about accounts).

The client address is ``REMOTE_ADDR``; IPv6 addresses count per /64, the block one host usually gets. Behind a
reverse proxy, every client has the proxy's address unless the proxy sets ``REMOTE_ADDR`` (e.g. uvicorn's
``--proxy-headers`` with ``--forwarded-allow-ips``).

Redis holding nothing (flushed, restarted) only forgets counts: nobody is locked out by a lost key.
"""

import hashlib
import ipaddress
import math

from django.conf import settings
from django.utils.translation import gettext, ngettext

from quorum.redis import get_redis

# Inputs are bounded before anything is hashed or looked up: Django's own forms cap nothing on the password, and
# DRF's token serializer caps neither field. 4096 is far beyond any passphrase and what Django once used.
PASSWORD_MAX_LENGTH = 4096
USERNAME_MAX_LENGTH = 150  # the model's column
EMAIL_MAX_LENGTH = 254  # the model's column, and the longest address SMTP carries


def _auth_key(*parts: object) -> str:
    """Every count under one Redis Cluster hash tag: a sign-in counts the username and the address in one
    transaction, which a cluster runs only on keys of one slot."""
    return ":".join([f"{{{settings.REDIS_PREFIX}:auth}}", *map(str, parts)])


def client_address(request) -> str:
    """The address counts are kept for: the client's IPv4 address, or its IPv6 /64."""
    raw = request.META.get("REMOTE_ADDR") or "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _username_key(username: str) -> str:
    # Hashed: a key of bounded length whatever was typed; casefolded: "Demo" and "demo" share one count.
    digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
    return _auth_key("signin-failures", "user", digest)


def _address_key(address: str) -> str:
    return _auth_key("signin-failures", "addr", address)


def _signup_key(address: str) -> str:
    return _auth_key("signups", "addr", address)


def _reset_address_key(address: str) -> str:
    return _auth_key("password-resets", "addr", address)


def _reset_email_key(email: str) -> str:
    digest = hashlib.sha256(email.strip().casefold().encode()).hexdigest()[:32]  # no addresses kept in Redis
    return _auth_key("password-resets", "email", digest)


def _wait_if_over(keys_and_limits: list[tuple[str, int]]) -> int:
    """Seconds until every listed count is under its limit again; 0 if all are under now."""
    pipe = get_redis().pipeline(transaction=False)
    for name, _ in keys_and_limits:
        pipe.get(name)
        pipe.ttl(name)
    replies = pipe.execute()
    wait = 0
    for (_, limit), count, ttl in zip(keys_and_limits, replies[0::2], replies[1::2], strict=True):
        if count is not None and int(count) >= limit:
            wait = max(wait, ttl if ttl > 0 else 1)
    return wait


def signin_locked_for(username: str, address: str) -> int:
    """Seconds until this username may try to sign in from this address again; 0: it may now."""
    return _wait_if_over(
        [
            (_username_key(username), settings.QUORUM_SIGNIN_FAILURES_PER_USERNAME),
            (_address_key(address), settings.QUORUM_SIGNIN_FAILURES_PER_ADDRESS),
        ]
    )


def _take(keys_and_limits: list[tuple[str, int]], window_seconds: int) -> int:
    """Count one more attempt in each count, first (so that a burst of parallel attempts cannot all pass a check
    made before any of them was counted); if that takes a count past its limit, the attempt is given back and
    refused: the seconds to wait. 0: go ahead."""
    pipe = get_redis().pipeline(transaction=True)
    for name, _ in keys_and_limits:
        pipe.set(name, 0, ex=window_seconds, nx=True)
        pipe.incr(name)
        pipe.ttl(name)
    replies = pipe.execute()
    wait = 0
    for (_, limit), count, ttl in zip(keys_and_limits, replies[1::3], replies[2::3], strict=True):
        if count > limit:
            wait = max(wait, ttl if ttl > 0 else 1)
    if wait:
        _give_back([name for name, _ in keys_and_limits])
    return wait


def _give_back(names: list[str]) -> None:
    pipe = get_redis().pipeline(transaction=True)
    for name in names:
        pipe.decr(name)
    pipe.execute()


def signin_attempt(username: str, address: str) -> int:
    """Count a sign-in attempt before its password is checked; seconds to wait if the username or the address is
    locked (then the password is not checked). A failed attempt stays counted."""
    return _take(
        [
            (_username_key(username), settings.QUORUM_SIGNIN_FAILURES_PER_USERNAME),
            (_address_key(address), settings.QUORUM_SIGNIN_FAILURES_PER_ADDRESS),
        ],
        settings.QUORUM_SIGNIN_WINDOW_MINUTES * 60,
    )


def signin_succeeded(username: str, address: str) -> None:
    """A good sign-in clears the username's count and is not held against the address."""
    pipe = get_redis().pipeline(transaction=True)
    pipe.delete(_username_key(username))
    pipe.decr(_address_key(address))
    pipe.execute()


def signup_blocked_for(address: str) -> int:
    """Seconds until this address may create another account; 0: it may now."""
    return _wait_if_over([(_signup_key(address), settings.QUORUM_SIGNUPS_PER_ADDRESS_PER_HOUR)])


def signup_reserve(address: str) -> int:
    """Take one of this address's sign-ups for the hour before the account is made; seconds to wait if none is
    left. Give it back with ``signup_release`` when no account was made."""
    return _take([(_signup_key(address), settings.QUORUM_SIGNUPS_PER_ADDRESS_PER_HOUR)], 3600)


def signup_release(address: str) -> None:
    _give_back([_signup_key(address)])


def password_reset_attempt(address: str, email: str) -> int:
    """Count a password-reset request from this client address for this email before any mail is sent; seconds to
    wait if either has had its share this hour (then no mail is sent). A request counts even if no mail goes out."""
    return _take(
        [
            (_reset_address_key(address), settings.QUORUM_PASSWORD_RESETS_PER_ADDRESS_PER_HOUR),
            (_reset_email_key(email), settings.QUORUM_PASSWORD_RESETS_PER_EMAIL_PER_HOUR),
        ],
        3600,
    )


def minutes_text(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def signin_locked_message(seconds: int) -> str:
    return gettext("Too many failed sign-ins; try again in %(wait)s.") % {"wait": minutes_text(seconds)}


def signup_blocked_message(seconds: int) -> str:
    return gettext("Too many new accounts from your address; try again in %(wait)s.") % {"wait": minutes_text(seconds)}


def password_reset_blocked_message(seconds: int) -> str:
    return gettext("Too many password-reset requests; try again in %(wait)s.") % {"wait": minutes_text(seconds)}
