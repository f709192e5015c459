"""Start-up refuses a published or weak SECRET_KEY in production; with none set, one key is made and kept."""

import os
import stat
import subprocess
import sys

import pytest

from tests.servers import ROOT

PRINT_KEY = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"


def start(tmp_path, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    environ.update(DJANGO_SETTINGS_MODULE="quorum.settings", QUORUM_VAR_DIR=str(tmp_path), **env)
    return subprocess.run([sys.executable, "-c", PRINT_KEY], cwd=ROOT, env=environ, capture_output=True, text=True)


@pytest.mark.parametrize("key", ["quorum-insecure-development-key-change-me", "change-me", "s3cret-but-short"])
def test_a_published_or_weak_key_stops_start_up_when_debug_is_off(tmp_path, key):
    started = start(tmp_path, SECRET_KEY=key)
    assert started.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is a well-known or weak value" in started.stderr
    assert start(tmp_path, SECRET_KEY=key, DEBUG="1").stdout.strip() == key  # development may use anything


def test_without_a_key_one_is_made_once_and_kept_private(tmp_path):
    first = start(tmp_path)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert len(key) >= 50
    kept = tmp_path / "secret_key"
    assert kept.read_text().strip() == key
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert start(tmp_path).stdout.strip() == key  # the next process, and the next start, sign with the same key


def test_a_strong_key_is_used_as_given(tmp_path):
    key = "k" * 30 + "ey-with-enough-different-characters"
    assert start(tmp_path, SECRET_KEY=key).stdout.strip() == key
    assert not (tmp_path / "secret_key").exists()
