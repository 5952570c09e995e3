"""The Kubernetes manifests (deploy/k8s): every overlay renders with kubectl's Kustomize, every
object validates against the Kubernetes 1.32 schemas (kubernetes-validate, strict: unknown
fields are errors), and the objects agree with the CLI, the settings and the rules of
docs/operations.md (probes, resources, disruption budgets, workers <= partitions, secrets
only as placeholders)."""

from __future__ import annotations

import copy
import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ioc.cli import build_parser
from ioc.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
KUBERNETES_VERSION = "1.32.0"  # the kubectl on these machines; a version the validator ships
KNOWN_SETTINGS = {f"IOC_{name.upper()}" for name in Settings.model_fields}


def render(target: Path) -> list[dict[str, Any]]:
    """The rendered objects (a fresh copy each call: tests may change them)."""
    return copy.deepcopy(_render(target))


@functools.cache
def _render(target: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (which renders Kustomize) is not installed on this machine")
    out = subprocess.run([kubectl, "kustomize", str(target)], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_there_are_overlays() -> None:
    assert {"production", "staging"} <= set(OVERLAYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_the_kubernetes_schemas(overlay: str) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is in the dev extras (pip install -e .[dev])")
    objects = render(K8S / "overlays" / overlay)
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "Job", "PodDisruptionBudget", "ConfigMap", "Secret",
            "HorizontalPodAutoscaler", "PersistentVolumeClaim", "Namespace"} <= kinds
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)  # raises on any fault


def test_the_validator_does_catch_a_fault() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    objects = render(K8S / "overlays" / "production")
    api = by_kind(objects, "Deployment")["ioc-api"]
    api["spec"]["template"]["spec"]["containers"][0]["readinessProb"] = {}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(api, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_objects_agree_with_the_cli_settings_and_operating_rules(overlay: str) -> None:
    objects = render(K8S / "overlays" / overlay)
    config = next(iter(by_kind(objects, "ConfigMap").values()))["data"]
    secret = next(iter(by_kind(objects, "Secret").values()))["data"]
    assert set(config) <= KNOWN_SETTINGS, set(config) - KNOWN_SETTINGS
    assert set(secret) <= KNOWN_SETTINGS, set(secret) - KNOWN_SETTINGS
    assert "IOC_DATABASE_URL" in secret and "IOC_DATABASE_URL" not in config
    parser = build_parser()

    deployments = by_kind(objects, "Deployment")
    assert {"ioc-api", "ioc-worker", "ioc-connect-dvc", "ioc-connect-payments",
            "ioc-connect-sensors"} <= set(deployments)
    pods = [d["spec"]["template"] for d in deployments.values()]
    pods.extend(j["spec"]["template"] for j in by_kind(objects, "Job").values())
    for pod in pods:
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            parser.parse_args(container["args"])  # exits on an unknown command or option
            env = {e["name"] for e in container.get("env", [])}
            assert env <= KNOWN_SETTINGS, env - KNOWN_SETTINGS
            refs = {next(iter(r.values()))["name"] for r in container["envFrom"]}
            assert refs == {next(iter(by_kind(objects, "ConfigMap"))),
                            next(iter(by_kind(objects, "Secret")))}  # the generated (hashed) names
            resources = container["resources"]
            assert resources["requests"]["cpu"] and resources["requests"]["memory"]
            assert resources["limits"]["memory"]

    migrate = next(iter(by_kind(objects, "Job").values()))
    assert migrate["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]

    api = deployments["ioc-api"]["spec"]
    container = api["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["replicas"] >= 2  # horizontally scaled behind the Service
    service = by_kind(objects, "Service")["ioc-api"]["spec"]
    assert service["selector"].items() <= api["template"]["metadata"]["labels"].items()

    worker = deployments["ioc-worker"]["spec"]
    container = worker["template"]["spec"]["containers"][0]
    worker_env = {e["name"]: e["value"] for e in container["env"]}
    assert container["livenessProbe"]["httpGet"]["port"] == "metrics"
    metrics_port = int(worker_env["IOC_WORKER_METRICS_PORT"])
    assert {"name": "metrics", "containerPort": metrics_port} in container["ports"]
    assert 1 <= worker["replicas"] <= int(config["IOC_EVENT_PARTITIONS"])
    assert worker["strategy"]["rollingUpdate"]["maxSurge"] == 0  # never more than partitions
    requests = container["resources"]["requests"]
    assert requests["cpu"] == "1"  # ~1 core per worker at ~9,000 events/s (README)

    budgets = by_kind(objects, "PodDisruptionBudget")
    for name in ("ioc-api", "ioc-worker"):
        selector = budgets[name]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployments[name]["spec"]["template"]["metadata"]["labels"].items()
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["ioc-api"]["spec"]
    assert hpa["minReplicas"] <= api["replicas"] <= hpa["maxReplicas"]

    for name in ("ioc-connect-dvc", "ioc-connect-payments", "ioc-connect-sensors"):
        spec = deployments[name]["spec"]
        assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
        volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
        assert volumes["data"]["persistentVolumeClaim"]["claimName"] == name


def test_secrets_are_placeholders_only() -> None:
    for path in K8S.rglob("*.env"):
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#") and "secret" in path.name:
                assert "REPLACE_ME" in line.split("=", 1)[1], (path.name, line.split("=", 1)[0])
    generators = [yaml.safe_load(p.read_text()).get("secretGenerator", [])
                  for p in K8S.rglob("kustomization.yaml")]
    for generator in (g for gs in generators for g in gs):
        assert "literals" not in generator  # real values never sit in a kustomization
