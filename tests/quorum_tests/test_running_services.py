"""`make superuser` / `make manage` from a second shell find the database of a running `make run`: the launcher
notes its services' URLs in var/services.json, and `python -m quorum.embedded --join` uses them."""

import json
import os
import stat
import subprocess
import sys

from quorum import embedded
from quorum.launcher import SUPERUSER_COMMAND
from tests.servers import ROOT

DATABASE = "postgres://postgres@%2Ftmp%2Fpg-sock/quorum"
REDIS = "redis://127.0.0.1:6399/0"
PRINT_URLS = "import os; print(os.environ['DATABASE_URL'], os.environ['REDIS_URL'])"


def test_the_file_holds_the_urls_for_its_owner_only_and_goes_when_the_launcher_stops(tmp_path):
    path = embedded.running_services_write(tmp_path, {"DATABASE_URL": DATABASE, "REDIS_URL": REDIS, "PATH": "/bin"})
    assert json.loads(path.read_text()) == {"pid": os.getpid(), "DATABASE_URL": DATABASE, "REDIS_URL": REDIS}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert embedded.running_services(tmp_path) == {"DATABASE_URL": DATABASE, "REDIS_URL": REDIS}
    embedded.running_services_remove(tmp_path)
    assert not path.exists() and embedded.running_services(tmp_path) == {}


def test_a_file_left_by_a_killed_launcher_or_written_by_another_is_not_used_nor_removed(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path = tmp_path / embedded.SERVICES_FILE
    path.write_text(json.dumps({"pid": gone.pid, "DATABASE_URL": DATABASE}))
    assert embedded.running_services(tmp_path) == {}
    path.write_text(json.dumps({"pid": os.getppid(), "DATABASE_URL": DATABASE}))  # alive, not us
    embedded.running_services_remove(tmp_path)
    assert path.exists() and embedded.running_services(tmp_path) == {"DATABASE_URL": DATABASE}
    path.write_text("{half a fi")
    assert embedded.running_services(tmp_path) == {}


def join(tmp_path, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environ.update(QUORUM_VAR_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-m", "quorum.embedded", "--join", sys.executable, "-c", PRINT_URLS],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_join_runs_the_command_with_the_running_platforms_urls_and_an_explicit_url_wins(tmp_path):
    # This test process stands in for the launcher: the file names a live process.
    embedded.running_services_write(tmp_path, {"DATABASE_URL": DATABASE, "REDIS_URL": REDIS})
    joined = join(tmp_path)
    assert joined.returncode == 0, joined.stderr
    assert joined.stdout.split() == [DATABASE, REDIS]
    assert "using the running platform's database" in joined.stderr
    own = "postgres://postgres@127.0.0.1:5432/elsewhere"
    explicit = join(tmp_path, DATABASE_URL=own)
    assert explicit.stdout.split() == [own, REDIS]


def test_the_makefile_and_the_banner_name_the_command():
    makefile = (ROOT / "Makefile").read_text()
    assert "superuser: install\n\t$(PY) -m quorum.embedded --join $(PY) manage.py createsuperuser" in makefile
    assert SUPERUSER_COMMAND == "make superuser"
