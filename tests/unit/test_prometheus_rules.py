"""The Prometheus alert rules (deploy/prometheus/alerts.yml): loaded by deploy/prometheus.yml
where compose mounts them, every expression names metrics the code really exports, every
alert has a runbook section in docs/operations.md, and the Grafana dashboards show what the
alerts watch. With `promtool` on the machine (Debian: apt-get install prometheus) the file
is also checked by Prometheus itself and its unit tests (tests/prometheus) are run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
BUILT_IN = {"up"}  # Prometheus's own series
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def exported_metrics() -> set[str]:
    import prometheus_client

    import api.app  # noqa: F401 - registers the API's metrics
    import connectors.metrics  # noqa: F401
    import streams.metrics
    import streams.notifier  # noqa: F401

    return {m.name for m in prometheus_client.REGISTRY.collect()}


def metric_names(expr: str) -> set[str]:
    """The ioc_ series an expression reads, as registered (counter names without _total)."""
    names = set()
    for token in re.findall(r"\b(ioc_[a-z0-9_]+)", expr):
        for suffix in SUFFIXES:
            if token.endswith(suffix):
                token = token.removesuffix(suffix)
                break
        names.add(token)
    return names


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    out = set()
    for heading in re.findall(r"^#+ +(.+?) *$", markdown, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_prometheus_loads_the_rules_where_compose_mounts_them() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["prometheus"]["volumes"])
    assert mounts["./deploy/prometheus"] == "/etc/prometheus/rules"
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]


def test_the_alerts_cover_what_operators_watch() -> None:
    watched = {m for rule in rules() for m in metric_names(rule["expr"])}
    assert {"ioc_consumer_lag", "ioc_events", "ioc_alert_notification_attempts",
            "ioc_feed_delay_seconds", "ioc_worker_database_up", "ioc_connector_errors",
            "ioc_sensor_spool_backlog_messages"} <= watched


def test_every_rule_reads_real_metrics_and_has_a_runbook() -> None:
    metrics = exported_metrics()
    operations = (ROOT / "docs" / "operations.md").read_text()
    documented = anchors(operations)
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    for rule in rules():
        used = metric_names(rule["expr"])
        assert used <= metrics, (rule["alert"], used - metrics)
        others = {n for n in re.findall(r"\b([a-z_:]+)\{", rule["expr"]) if not n.startswith("ioc_")}
        assert others <= BUILT_IN, (rule["alert"], others)
        assert used or others, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        runbook = rule["annotations"]["runbook_url"]
        assert runbook == f"docs/operations.md#{rule['alert'].lower()}", runbook
        assert rule["alert"].lower() in documented, f"no runbook section for {rule['alert']}"


def test_the_dashboards_show_what_the_alerts_watch() -> None:
    shown: set[str] = set()
    for path in (ROOT / "dashboards" / "grafana").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                shown |= metric_names(target.get("expr", ""))
    watched = {m for rule in rules() for m in metric_names(rule["expr"])}
    watched.discard("ioc_consumer_lag_checked_timestamp_seconds")  # freshness of the lag panel
    assert watched <= shown, watched - shown


def test_promtool_accepts_the_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed; the rules are checked against the code above")
    subprocess.run([promtool, "check", "rules", str(RULES)], check=True, timeout=60)
    subprocess.run([promtool, "check", "config", str(ROOT / "deploy" / "prometheus.yml")],
                   check=True, timeout=60, capture_output=True)
    # the alerts fire on the series they are meant for, and not before (tests/prometheus)
    subprocess.run([promtool, "test", "rules", "alerts_test.yml"], check=True, timeout=60,
                   cwd=ROOT / "tests" / "prometheus")
