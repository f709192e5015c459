"""The SECRET_KEY: the one configured, refused if it is a well-known or weak value in production; with none
configured, a random key created once in the var folder, so ``make run`` needs no configuration and every
process of one installation (web, Celery, tests' servers) signs with the same key."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# Keys that were shipped as defaults: anyone can sign sessions, password-reset links and cookies with them.
WELL_KNOWN_KEYS = {"quorum-insecure-development-key-change-me", "change-me"}
# Django's own measure of a strong key (its security check W009).
MIN_LENGTH = 50
MIN_UNIQUE_CHARACTERS = 5


def is_weak(key: str) -> bool:
    return (
        key in WELL_KNOWN_KEYS
        or key.startswith("django-insecure-")
        or len(key) < MIN_LENGTH
        or len(set(key)) < MIN_UNIQUE_CHARACTERS
    )


def secret_key(configured: str, var_dir: Path, debug: bool) -> str:
    """``configured`` is SECRET_KEY from the environment ("" when unset)."""
    if not configured:
        return stored_secret_key(var_dir / "secret_key")
    if is_weak(configured) and not debug:
        raise ImproperlyConfigured(
            "SECRET_KEY is a well-known or weak value (it must be at least 50 characters, not a published default)."
            " Set a random one, e.g. python -c 'import secrets; print(secrets.token_urlsafe(64))', or unset"
            " SECRET_KEY to use the key kept in $QUORUM_VAR_DIR/secret_key."
        )
    return configured


def stored_secret_key(path: Path) -> str:
    """The key in ``path``, created (mode 0600) by whichever process comes first."""
    if not path.exists():
        from django.core.management.utils import get_random_secret_key

        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(get_random_secret_key() + "\n")
        try:
            os.link(draft, path)  # atomic, and fails if another process got there first: its key wins
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it to make a new key, or set SECRET_KEY")
    return key
