"""Alert rules and notifications, pure parts: validation, which values a rule judges,
escalation steps, webhook signatures, retry schedule, e-mail text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ioc.alerts.delivery import (
    Outcome,
    email_message,
    http_outcome,
    next_attempt,
    webhook_body,
    webhook_headers,
)
from ioc.alerts.machine import Comparison
from ioc.alerts.rules import (
    Rule,
    RuleCheckError,
    RuleSpec,
    check_rule,
    default_rules,
    escalation_due,
    is_current,
    observations,
)
from ioc.changes import index_messages
from ioc.signing import verify

OFFSET = timedelta(hours=7)
NOW = datetime(2026, 11, 23, 3, 30, tzinfo=UTC)  # 10:30 in Hai Duong
DAY = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)  # local midnight
CODES = frozenset({"288", "290", "291"})


def spec(**fields: Any) -> RuleSpec:
    base: dict[str, Any] = {"name": "r", "kpi": "dossier.on_time_rate", "bucket": "1d",
                            "scope": "areas", "comparison": "below", "threshold": 95}
    return RuleSpec.model_validate({**base, **fields})


def kpi(value: float | None, area: str | None = "288", start: datetime = DAY, version: int = 1,
        **more: Any) -> dict[str, Any]:
    return {"type": "kpi", "kpi": "dossier.on_time_rate", "area": area, "bucket": "1d",
            "start": start.astimezone(UTC).isoformat(), "value": value, "version": version, **more}


def test_the_shipped_rules_are_valid() -> None:
    for rule in default_rules():
        check_rule(rule, CODES)
    assert len({r.name for r in default_rules()}) == 5


@pytest.mark.parametrize(("fields", "field"), [
    ({"kpi": "dossier.nope"}, "kpi"),
    ({"bucket": "now"}, "bucket"),
    ({"kpi": "dossier.open", "bucket": "1h"}, "bucket"),
    ({"kpi": "sensor.avg", "bucket": "1h"}, "metric"),
    ({"metric": "pm2_5"}, "metric"),
    ({"kpi": "dossier.received", "min_count": 3}, "min_count"),
    ({"scope": "province", "areas": ["288"]}, "areas"),
    ({"areas": ["999"]}, "areas"),
    ({"areas": []}, "areas"),
    ({"recovery": 90}, "recovery"),
    ({"scope": "stations"}, "scope"),
    ({"scope": "stations", "kpi": "sensor.avg", "bucket": "1h", "metric": "pm2_5", "stations": []},
     "stations"),
    ({"stations": ["ST-1"]}, "stations"),
    ({"escalation": [{"after_minutes": 5, "targets": [{"kind": "email", "to": ["a@b.vn"]}]}]},
     "escalation"),
    ({"severity": "critical", "escalation": [
        {"after_minutes": 10, "targets": [{"kind": "email", "to": ["a@b.vn"]}]},
        {"after_minutes": 5, "targets": [{"kind": "email", "to": ["c@b.vn"]}]}]}, "escalation"),
])
def test_a_rule_that_cannot_work_is_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(RuleCheckError, match=f"^{field}:"):
        check_rule(spec(**fields), CODES)


def test_targets_are_checked_by_the_model() -> None:
    with pytest.raises(ValueError, match="e-mail"):
        spec(targets=[{"kind": "email", "to": ["not-an-address"]}])
    with pytest.raises(ValueError, match="at least 16"):
        spec(targets=[{"kind": "webhook", "url": "https://x.vn/h", "secret": "short"}])
    with pytest.raises(ValueError):
        spec(targets=[{"kind": "webhook", "url": "ftp://x.vn/h", "secret": "s" * 16}])


def test_only_current_buckets_are_judged() -> None:
    assert is_current("1d", DAY, NOW, OFFSET)
    assert not is_current("1d", DAY - timedelta(days=1), NOW, OFFSET)
    assert is_current("1h", datetime(2026, 11, 23, 3, tzinfo=UTC), NOW, OFFSET)
    assert not is_current("1m", datetime(2026, 11, 23, 3, 29, tzinfo=UTC), NOW, OFFSET)
    assert is_current("now", datetime(2020, 1, 1, tzinfo=UTC), NOW, OFFSET)


def test_observations_pick_the_newest_value_per_rule_and_scope() -> None:
    rules = [Rule(1, spec(areas=["288", "290"], min_count=10)),
             Rule(2, spec(scope="province")),
             Rule(3, spec(kpi="dossier.online_rate")),
             Rule(4, spec(), enabled=False)]
    messages = [
        kpi(90.0, version=3, denominator=20), kpi(80.0, version=2, denominator=20),  # older after newer
        kpi(50.0, "290", denominator=4),                       # below min_count: not judgeable
        kpi(91.0, "291", denominator=40),                      # not in rule 1's areas
        kpi(99.0, None, denominator=100),                      # the province
        kpi(10.0, "288", start=DAY - timedelta(days=1), version=9, denominator=50),  # yesterday
        {"type": "alert", "id": 5},
    ]
    seen = observations(rules, messages, NOW, OFFSET)
    assert {k: (o.value, o.version) for k, o in seen.items()} == {
        (1, "288"): (90.0, 3), (1, "290"): (None, 1), (2, ""): (99.0, 1)}


def test_an_areas_index_today_below_70_is_judged_from_the_workers_index_messages() -> None:
    """Issue 15: index.value (and each group) is alerted on like any KPI, per day; the
    messages are those the worker publishes (ioc.changes.index_messages)."""
    check_rule(spec(kpi="index.value", threshold=70), CODES)
    check_rule(spec(kpi="index.satisfaction", threshold=10, scope="province"), CODES)
    with pytest.raises(RuleCheckError, match="bucket"):
        check_rule(spec(kpi="index.value", bucket="1h", threshold=70), CODES)
    with pytest.raises(RuleCheckError, match="min_count"):
        check_rule(spec(kpi="index.value", threshold=70, min_count=5), CODES)
    rows = [("dossier.on_time_rate", "288", DAY, 1, 2, 3), ("dossier.synced_rate", "288", DAY, 2, 2, 1),
            ("dossier.on_time_rate", "290", DAY, 9, 10, 4)]
    messages = index_messages(rows, "1d", OFFSET, {("288", DAY): 4, ("290", DAY): 7})
    rule = Rule(1, spec(kpi="index.value", threshold=70))
    seen = observations([rule], messages, NOW, OFFSET)
    # 288: 100 × (20 × 1/2 + 18 × 1) / 38 = 73.68…; 290: 90; the versions the batch raised
    assert {scope: (round(o.value or 0, 6), o.version) for (_, scope), o in seen.items()} == {
        "288": (round(2800 / 38, 6), 4), "290": (90.0, 7)}
    assert not observations([rule], messages, NOW + timedelta(days=1), OFFSET)  # today only


def test_sensor_rules_match_their_metric() -> None:
    rules = [Rule(1, spec(kpi="sensor.avg", bucket="1h", metric="pm2_5", comparison="above",
                          threshold=50))]
    hour = datetime(2026, 11, 23, 3, tzinfo=UTC).isoformat()
    messages = [{"type": "kpi", "kpi": "sensor.avg", "metric": "pm10", "area": "288", "bucket": "1h",
                 "start": hour, "value": 80.0, "version": 1},
                {"type": "kpi", "kpi": "sensor.avg", "metric": "pm2_5", "area": "288", "bucket": "1h",
                 "start": hour, "value": 61.5, "version": 4}]
    seen = observations(rules, messages, NOW, OFFSET)
    assert [(k, o.value) for k, o in seen.items()] == [((1, "288"), 61.5)]


def test_station_rules_judge_station_values_only() -> None:
    hour = datetime(2026, 11, 23, 3, tzinfo=UTC).isoformat()
    base = {"type": "kpi", "kpi": "sensor.avg", "metric": "pm2_5", "bucket": "1h", "start": hour,
            "version": 1}
    stations = Rule(1, spec(kpi="sensor.avg", bucket="1h", metric="pm2_5", scope="stations",
                            stations=["HD-01", "HD-02"], comparison="above", threshold=50))
    every = Rule(2, spec(kpi="sensor.avg", bucket="1h", metric="pm2_5", scope="stations",
                         comparison="above", threshold=50))
    areas = Rule(3, spec(kpi="sensor.avg", bucket="1h", metric="pm2_5", comparison="above",
                             threshold=50))
    for rule in (stations, every, areas):
        check_rule(rule.spec, CODES)
    messages = [{**base, "area": None, "station": "HD-01", "value": 70.0},
                {**base, "area": None, "station": "HD-09", "value": 20.0},
                {**base, "area": "288", "value": 40.0}]
    seen = observations([stations, every, areas], messages, NOW, OFFSET)
    assert {k: o.value for k, o in seen.items()} == {
        (1, "station:HD-01"): 70.0, (2, "station:HD-01"): 70.0, (2, "station:HD-09"): 20.0,
        (3, "288"): 40.0}


def test_escalation_steps_are_reached_in_turn() -> None:
    target = {"kind": "email", "to": ["a@b.vn"]}
    rule = spec(severity="critical", escalation=[
        {"after_minutes": 10, "targets": [target]},
        {"after_minutes": 30, "targets": [{"kind": "email", "to": ["giam.doc@b.vn"]}]}])
    fired = NOW
    assert escalation_due(rule, fired, 0, NOW + timedelta(minutes=9)) == (0, [])
    level, targets = escalation_due(rule, fired, 0, NOW + timedelta(minutes=10))
    assert level == 1 and [t.label() for t in targets] == ["mailto:a@b.vn"]
    assert escalation_due(rule, fired, 1, NOW + timedelta(minutes=20)) == (1, [])
    level, targets = escalation_due(rule, fired, 0, NOW + timedelta(hours=1))  # both at once
    assert level == 2 and [t.label() for t in targets] == ["mailto:a@b.vn", "mailto:giam.doc@b.vn"]


def test_a_webhook_is_signed_over_its_exact_body() -> None:
    alert = {"id": 7, "state": "firing", "area_name": "Thành phố Hải Dương"}
    body = webhook_body(alert, "fired", 42, 1, NOW)
    headers = webhook_headers("s" * 20, body, NOW, 42)
    assert verify(b"s" * 20, headers["X-Signature"], body, NOW.timestamp(), 60)[0] == int(NOW.timestamp())
    assert json.loads(body) == {"type": "alert.fired", "notification_id": 42, "attempt": 1,
                                "sent_at": NOW.isoformat(), "alert": alert}
    assert headers["X-IOC-Delivery"] == "42"
    with pytest.raises(ValueError, match="does not match"):
        verify(b"t" * 20, headers["X-Signature"], body, NOW.timestamp(), 60)


def test_answers_and_the_retry_schedule() -> None:
    assert [http_outcome(s) for s in (200, 204, 408, 429, 500, 503, 400, 404, 410)] == [
        Outcome.SENT, Outcome.SENT, Outcome.RETRY, Outcome.RETRY, Outcome.RETRY, Outcome.RETRY,
        Outcome.DEAD, Outcome.DEAD, Outcome.DEAD]
    delays = [next_attempt(n, NOW, 2.0, 60.0, 8) for n in range(1, 9)]
    assert [(d - NOW).total_seconds() for d in delays if d] == [2, 4, 8, 16, 32, 60, 60]
    assert delays[-1] is None  # the eighth failure: dead-lettered


def test_the_email_says_what_crossed_what_in_both_languages() -> None:
    alert = {"id": 3, "rule_name": "Tỷ lệ đúng hạn", "kpi": "dossier.on_time_rate", "bucket": "1d",
             "area": "288", "area_name": "Thành phố Hải Dương", "value": 93.456,
             "comparison": Comparison.BELOW.value, "threshold": 95.0, "recovery": 96.0,
             "severity": "critical", "state": "firing", "fired_at": NOW.isoformat()}
    mail = email_message(alert, "fired", "ioc@hd.vn", ["a@hd.vn", "b@hd.vn"], 11)
    assert mail["Subject"] == "[IOC][CRITICAL][FIRING] Tỷ lệ đúng hạn — Thành phố Hải Dương: 93.46"
    assert mail["To"] == "a@hd.vn, b@hd.vn"
    text = mail.get_content()
    assert "ngưỡng < 95, khôi phục tại 96" in text and "threshold < 95, recovers at 96" in text
