"""Alert storage against real PostgreSQL, with time passed in: values read twice are judged
once, the pending period survives a restart of the evaluator, escalation and the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from psycopg import AsyncConnection

from ioc.alerts.rules import Observation, Rule, RuleSpec
from ioc.storage import alert_episodes as episodes
from ioc.storage import alert_reads as reads
from ioc.storage import alert_rules as rules
from ioc.storage.migrate import migrate
from ioc.tokens import Principal, Role
from tests.integration.conftest import Services

pytestmark = pytest.mark.integration
T = TypeVar("T")
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DAY = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
ADMIN = Principal(Role.ADMIN, "admin", None)


@pytest.fixture(scope="module")
def database(services: Services) -> str:
    url = services.create_database("alert_store")
    migrate(url, layout="postgres")
    return url


def with_conn(url: str, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    async def run() -> T:
        async with await AsyncConnection.connect(url, autocommit=True) as conn:
            return await work(conn)
    return asyncio.run(run())


def make_rule(url: str, name: str, **fields: Any) -> Rule:
    spec = RuleSpec.model_validate({"name": name, "kpi": "dossier.on_time_rate", "bucket": "1d",
                                    "scope": "areas", "comparison": "below", "threshold": 95,
                                    "recovery": 97, **fields})
    return with_conn(url, lambda c: rules.create_rule(c, spec, True, ADMIN)).rule


def judge(url: str, rule: Rule, value: float | None, version: int, at: datetime, scope: str = "288"
          ) -> list[int]:
    seen = {(rule.id, scope): Observation(rule.id, scope, value, DAY, version)}
    return with_conn(url, lambda c: episodes.evaluate(c, {rule.id: rule}, seen, at))


def states(url: str, rule: Rule) -> list[str]:
    rows = with_conn(url, lambda c: reads.list_alerts(c, states=None, rule_id=rule.id, scope=None,
                                                       severity=None, before_id=None, limit=100))
    return [r["state"] for r in reversed(rows)]


def test_a_value_read_again_is_not_judged_again(database: str) -> None:
    rule = make_rule(database, "replay", targets=[{"kind": "email", "to": ["a@b.vn"]}])
    assert judge(database, rule, 90.0, 1, T0)                      # fires
    assert judge(database, rule, 98.0, 2, T0 + timedelta(seconds=1))  # resolves
    assert judge(database, rule, 90.0, 1, T0 + timedelta(seconds=2)) == []  # the breach again: old
    assert judge(database, rule, 96.0, 3, T0 + timedelta(seconds=3)) == []  # between: nothing
    assert states(database, rule) == ["resolved"]
    assert judge(database, rule, 94.0, 4, T0 + timedelta(seconds=4))  # a newer breach: a new alert
    assert states(database, rule) == ["resolved", "firing"]
    notes = with_conn(database, lambda c: reads.alert_notifications(c))
    assert sorted((n["event"], n["state"]) for n in notes if n["target"] == "mailto:a@b.vn") == [
        ("fired", "queued"), ("fired", "queued"), ("resolved", "queued")]


def test_pending_survives_a_restart_and_fires_when_its_period_ends(database: str) -> None:
    rule = make_rule(database, "pending", pending_minutes=5)
    assert judge(database, rule, 90.0, 1, T0)
    assert states(database, rule) == ["pending"]
    # a new evaluator (after a restart) knows only the database; time passes without values
    tick = lambda at: with_conn(database, lambda c: episodes.tick(c, {rule.id: rule}, at))  # noqa: E731
    assert judge(database, rule, 91.0, 2, T0 + timedelta(minutes=3)) == []  # still breached
    assert tick(T0 + timedelta(minutes=4, seconds=59)) == []
    fired = tick(T0 + timedelta(minutes=5))
    assert len(fired) == 1 and states(database, rule) == ["firing"]
    alert = with_conn(database, lambda c: reads.alerts_by_id(c, fired))[0]
    assert alert["fired_at"] - alert["pending_at"] == timedelta(minutes=5) and alert["value"] == 91.0


def test_flapping_between_the_thresholds_opens_one_alert(database: str) -> None:
    rule = make_rule(database, "flapping")
    for version, value in enumerate([94.0, 96.0, 94.5, 96.9, 90.0, 95.5], start=1):
        judge(database, rule, value, version, T0 + timedelta(seconds=version))
    assert states(database, rule) == ["firing"]
    judge(database, rule, 97.0, 7, T0 + timedelta(seconds=7))
    assert states(database, rule) == ["resolved"]


def test_unacknowledged_critical_alerts_escalate_step_by_step(database: str) -> None:
    rule = make_rule(database, "escalate", severity="critical", escalation=[
        {"after_minutes": 10, "targets": [{"kind": "email", "to": ["truong.phong@b.vn"]}]},
        {"after_minutes": 30, "targets": [{"kind": "email", "to": ["giam.doc@b.vn"]}]}])
    [alert_id] = judge(database, rule, 80.0, 1, T0)
    tick = lambda at: with_conn(database, lambda c: episodes.tick(c, {rule.id: rule}, at))  # noqa: E731
    assert tick(T0 + timedelta(minutes=9)) == []
    assert tick(T0 + timedelta(minutes=10)) == [alert_id]
    assert tick(T0 + timedelta(minutes=11)) == []
    operator = Principal(Role.OPERATOR, "operator", None)
    with_conn(database, lambda c: episodes.acknowledge_alert(c, alert_id, operator,
                                                             T0 + timedelta(minutes=12), None))
    assert tick(T0 + timedelta(minutes=40)) == []  # acknowledged: no second step
    notes = with_conn(database, lambda c: reads.alert_notifications(c, alert_id=alert_id))
    assert [(n["event"], n["target"]) for n in notes] == [("escalated", "mailto:truong.phong@b.vn")]
    history = with_conn(database, lambda c: reads.alert_history(c, alert_id))
    assert [(h["kind"], h["actor"]) for h in history] == [("fired", None), ("escalated", None),
                                                          ("acknowledged", "operator")]
