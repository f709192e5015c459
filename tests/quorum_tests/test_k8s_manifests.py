"""The Kubernetes manifests (docker/k8s/): kubectl builds them offline, and each process gets what it needs to run
(its image and command, the shared environment, probes, resources, the GPU for automation, two beats)."""

import shutil
import subprocess

import pytest
import yaml

from tests.servers import ROOT

K8S = ROOT / "docker" / "k8s"
APP_LABEL = {"app.kubernetes.io/name": "quorum"}


def documents() -> list[dict]:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    docs = []
    for name in listed:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def by_name(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents() if d["kind"] == kind}


def containers(workload: dict) -> list[dict]:
    return workload["spec"]["template"]["spec"]["containers"]


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl is not installed")
def test_kubectl_builds_the_manifests():
    built = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=False)
    assert built.returncode == 0, built.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(built.stdout) if d)
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "Deployment", "Deployment", "Deployment", "Ingress",
                     "Job", "Secret", "Service"]  # fmt: skip


def test_every_object_is_well_formed():
    known = {
        "ConfigMap": "v1", "Secret": "v1", "Service": "v1", "Deployment": "apps/v1", "Job": "batch/v1",
        "Ingress": "networking.k8s.io/v1",
    }  # fmt: skip
    for doc in documents():
        assert doc["apiVersion"] == known[doc["kind"]], doc["metadata"]["name"]
        assert APP_LABEL.items() <= doc["metadata"]["labels"].items()
        if doc["kind"] in ("Deployment", "Job"):
            template_labels = doc["spec"]["template"]["metadata"]["labels"]
            if doc["kind"] == "Deployment":
                assert doc["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
            for container in containers(doc):
                assert container["image"].startswith("quorum-")
                assert container["command"]
                refs = [next(iter(r.values()))["name"] for r in container["envFrom"]]
                assert refs == ["quorum-config", "quorum-secrets"]
                assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
                assert "memory" in container["resources"]["limits"]


def test_the_environment_names_every_setting_a_process_reads():
    secret = by_name("Secret")["quorum-secrets"]["stringData"]
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CHANNEL_REDIS_URL", "SCHEDULER_REDIS_URL",
                 "CACHE_REDIS_URL", "SECRET_KEY", "QUORUM_METRICS_TOKEN"):  # fmt: skip
        assert name in secret
    config = by_name("ConfigMap")["quorum-config"]["data"]
    assert all(isinstance(v, str) for v in config.values()), "ConfigMap values must be strings"
    assert {"ALLOWED_HOSTS", "QUORUM_REDIS_PREFIX", "DB_POOL_MAX_SIZE", "PROMETHEUS_MULTIPROC_DIR"} <= config.keys()


def test_web_is_probed_on_healthz_and_reached_through_the_ingress():
    web = by_name("Deployment")["quorum-web"]
    (container,) = containers(web)
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    assert "migrate" not in " ".join(container["command"])  # the Job migrates
    service = by_name("Service")["quorum-web"]
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    ingress = by_name("Ingress")["quorum-web"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "2049m"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600  # WebSockets stay open
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "quorum-web"


def test_background_processes():
    deployments = by_name("Deployment")
    assert deployments["quorum-beat"]["spec"]["replicas"] == 2  # RedBeat's lock keeps one active
    assert containers(deployments["quorum-celery"])[0]["command"] == ["/app/docker/entrypoint-celery.sh"]
    gpu = deployments["quorum-automation"]
    (container,) = containers(gpu)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu["spec"]["template"]["spec"]["nodeSelector"]
    assert containers(deployments["quorum-automation-cpu"])[0]["image"] == "quorum-automation:latest"
    job = by_name("Job")["quorum-migrate"]
    assert containers(job)[0]["command"] == ["python", "manage.py", "migrate", "--noinput"]
