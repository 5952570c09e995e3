"""Alerts in PostgreSQL: rules, episodes, history, the notification outbox, the audit log.

The database is the one place an alert's state lives: the evaluator, the timer and people
(through the API) each change an alert inside a transaction that locks its row, so they
never overwrite each other, and a worker that restarts finds its pending alerts where it
left them. The decisions are made by the pure functions of :mod:`ioc.alerts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from ioc.alerts.machine import Event, State, Track, acknowledge, step
from ioc.alerts.rules import (
    STATION_SCOPE,
    EmailTarget,
    Observation,
    Rule,
    RuleSpec,
    WebhookTarget,
    default_rules,
    escalation_due,
)
from ioc.storage.audit import audit
from ioc.tokens import Principal

OPEN = ("pending", "firing", "acknowledged")
SECRET_MASK = "*" * 16
"""What the API shows for a webhook secret; sent back unchanged, it keeps the stored one."""
NOTIFIED_EVENTS = {Event.FIRED: "fired", Event.RESOLVED: "resolved"}

ALERT_COLUMNS = """a.id, a.rule_id, r.name AS rule_name, r.spec->>'kpi' AS kpi,
    r.spec->>'bucket' AS bucket, r.spec->>'metric' AS metric, a.scope, a.state, a.severity,
    r.spec->>'comparison' AS comparison, (r.spec->>'threshold')::float8 AS threshold,
    coalesce((r.spec->>'recovery')::float8, (r.spec->>'threshold')::float8) AS recovery,
    a.value, a.cell_start, a.since, a.pending_at, a.fired_at, a.acknowledged_at,
    a.acknowledged_by, a.resolved_at, a.resolved_by, a.escalation_level, a.updated_at"""
ALERT_FROM = "alerts a JOIN alert_rules r ON r.id = a.rule_id"


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    """The alert is not in a state that allows the action."""


STATION = STATION_SCOPE
def alert_json(row: Mapping[str, Any], district_names: Mapping[str, str]) -> dict[str, Any]:
    out = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if k != "scope"}
    scope: str = row["scope"]
    station = scope.removeprefix(STATION) if scope.startswith(STATION) else None
    district = scope if scope and station is None else None
    out["district"] = district
    out["district_name"] = district_names.get(district) if district else None
    out["station"] = station
    return out


# -- rules -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StoredRule:
    rule: Rule
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None

    def as_json(self) -> dict[str, Any]:
        spec = self.rule.spec.model_dump(mode="json")
        for target in [*spec["targets"], *(t for s in spec["escalation"] for t in s["targets"])]:
            if "secret" in target:
                target["secret"] = SECRET_MASK
        return {"id": self.rule.id, "enabled": self.rule.enabled, "version": self.rule.version,
                **spec, "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "updated_at": self.updated_at.isoformat(), "updated_by": self.updated_by}


_RULE_COLUMNS = "id, spec, enabled, version, created_at, created_by, updated_at, updated_by"


def _stored_rule(row: Sequence[Any]) -> StoredRule:
    return StoredRule(Rule(row[0], RuleSpec.model_validate(row[1]), row[2], row[3]),
                      row[4], row[5], row[6], row[7])


def seed_default_rules(conn: psycopg.Connection) -> int:
    """Add the shipped rules (run once, by the migration that creates the tables)."""
    for spec in default_rules():
        conn.execute("INSERT INTO alert_rules (name, spec, created_by, updated_by)"
                     " VALUES (%s, %s, 'ioc migrate', 'ioc migrate')",
                     (spec.name, Jsonb(spec.model_dump(mode="json"))))
    return len(default_rules())


async def load_rules(conn: AsyncConnection) -> list[StoredRule]:
    cur = await conn.execute(f"SELECT {_RULE_COLUMNS} FROM alert_rules"
                             " WHERE deleted_at IS NULL ORDER BY id")
    return [_stored_rule(r) for r in await cur.fetchall()]


async def get_rule(conn: AsyncConnection, rule_id: int) -> StoredRule:
    cur = await conn.execute(f"SELECT {_RULE_COLUMNS} FROM alert_rules"
                             " WHERE id = %s AND deleted_at IS NULL", (rule_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no alert rule {rule_id}")
    return _stored_rule(row)


async def create_rule(conn: AsyncConnection, spec: RuleSpec, enabled: bool, who: Principal) -> StoredRule:
    async with conn.transaction():
        cur = await conn.execute(
            "INSERT INTO alert_rules (name, spec, enabled, created_by, updated_by)"
            f" VALUES (%s, %s, %s, %s, %s) RETURNING {_RULE_COLUMNS}",
            (spec.name, Jsonb(spec.model_dump(mode="json")), enabled, who.name, who.name))
        row = await cur.fetchone()
        assert row is not None
        stored = _stored_rule(row)
        await audit(conn, who, "alert_rule.create", f"alert_rule:{stored.rule.id}",
                    {"rule": stored.as_json()})
    return stored


async def update_rule(conn: AsyncConnection, rule_id: int, spec: RuleSpec, enabled: bool,
                      who: Principal, now: datetime) -> tuple[StoredRule, list[int]]:
    """Replace a rule; disabling it resolves its open alerts. Returns the rule and the
    alerts it changed."""
    async with conn.transaction():
        before = await get_rule(conn, rule_id)
        cur = await conn.execute(
            "UPDATE alert_rules SET name = %s, spec = %s, enabled = %s, version = version + 1,"
            " updated_at = now(), updated_by = %s WHERE id = %s AND deleted_at IS NULL"
            f" RETURNING {_RULE_COLUMNS}",
            (spec.name, Jsonb(spec.model_dump(mode="json")), enabled, who.name, rule_id))
        row = await cur.fetchone()
        assert row is not None
        stored = _stored_rule(row)
        closed = [] if enabled else await _close_rule_alerts(conn, rule_id, who, now, "rule disabled")
        await audit(conn, who, "alert_rule.update", f"alert_rule:{rule_id}",
                    {"before": before.as_json(), "after": stored.as_json()})
    return stored, closed


async def delete_rule(conn: AsyncConnection, rule_id: int, who: Principal, now: datetime) -> list[int]:
    """Retire a rule (kept for its alerts' history); its open alerts are resolved."""
    async with conn.transaction():
        before = await get_rule(conn, rule_id)
        await conn.execute("UPDATE alert_rules SET deleted_at = now(), deleted_by = %s, enabled = false"
                           " WHERE id = %s", (who.name, rule_id))
        closed = await _close_rule_alerts(conn, rule_id, who, now, "rule deleted")
        await audit(conn, who, "alert_rule.delete", f"alert_rule:{rule_id}", {"rule": before.as_json()})
    return closed


async def _close_rule_alerts(conn: AsyncConnection, rule_id: int, who: Principal, now: datetime,
                             note: str) -> list[int]:
    cur = await conn.execute(
        "UPDATE alerts SET state = CASE WHEN state = 'pending' THEN 'cancelled' ELSE 'resolved' END,"
        " since = %s, resolved_at = CASE WHEN state = 'pending' THEN NULL ELSE %s END,"
        " resolved_by = %s, updated_at = now() WHERE rule_id = %s AND state = ANY(%s) RETURNING id, state",
        (now, now, who.name, rule_id, list(OPEN)))
    rows = await cur.fetchall()
    for alert_id, state in rows:
        await _history(conn, alert_id, now, state, who.name, None, note)
    return [r[0] for r in rows]


# -- evaluation ------------------------------------------------------------------------------

@dataclass(slots=True)
class _Open:
    id: int
    track: Track
    cell_start: datetime | None
    cell_version: int | None
    fired_at: datetime | None
    escalation_level: int


_OPEN_COLUMNS = ("SELECT id, rule_id, scope, state, since, value, cell_start, cell_version, fired_at,"
                 " escalation_level FROM alerts")
_PAIRS = "(rule_id, scope) IN (SELECT * FROM unnest(%s::bigint[], %s::text[]))"
"""Rows of the given (rule, scope) pairs; parameters from :func:`_pair_arrays`."""


def _pair_arrays(pairs: Sequence[tuple[int, str]]) -> tuple[list[int], list[str]]:
    return [rule_id for rule_id, _ in pairs], [scope for _, scope in pairs]


async def _open_rows(conn: AsyncConnection, query: str, params: Sequence[Any]
                     ) -> dict[tuple[int, str], _Open]:
    cur = await conn.execute(query, params)
    return {(r[1], r[2]): _Open(r[0], Track(State(r[3]), r[4], r[5]), r[6], r[7], r[8], r[9])
            for r in await cur.fetchall()}


async def _lock_open(conn: AsyncConnection, pairs: Sequence[tuple[int, str]]) -> dict[tuple[int, str], _Open]:
    """The open alerts of these (rule, scope) pairs, locked (waiting for other holders)."""
    return await _open_rows(conn, f"{_OPEN_COLUMNS} WHERE {_PAIRS} AND state = ANY(%s)"
                            " ORDER BY id FOR UPDATE", (*_pair_arrays(pairs), list(OPEN)))


async def _lock_in_state(conn: AsyncConnection, state: str) -> dict[tuple[int, str], _Open]:
    """The alerts in ``state`` that no other evaluator holds, locked."""
    return await _open_rows(conn, f"{_OPEN_COLUMNS} WHERE state = %s ORDER BY id FOR UPDATE SKIP LOCKED",
                            (state,))


async def evaluate(conn: AsyncConnection, rules: Mapping[int, Rule],
                   observations: Mapping[tuple[int, str], Observation], now: datetime) -> list[int]:
    """Step each observed (rule, scope) in one transaction; returns the alerts that changed
    state. A value older than the one an open alert last judged is ignored."""
    if not observations:
        return []
    changed: list[int] = []
    async with conn.transaction():
        open_ = await _lock_open(conn, sorted(observations))
        closed = await _last_judged(conn, sorted(set(observations) - set(open_)))
        for pair, seen in sorted(observations.items()):
            rule = rules[seen.rule_id]
            current = open_.get(pair)
            judged = (current.cell_start, current.cell_version) if current is not None else closed.get(pair)
            if judged is not None and not seen.newer_than(*judged):
                continue  # a value already judged (a change record read again after a restart)
            track = current.track if current is not None else Track()
            after, event = step(rule.spec.condition, track, seen.value, now)
            alert_id = await _apply(conn, rule, seen.scope, current, after, event, now,
                                    (seen.start, seen.version))
            if event is not None and alert_id is not None:
                changed.append(alert_id)
    return changed


async def _last_judged(conn: AsyncConnection, pairs: Sequence[tuple[int, str]]
                       ) -> dict[tuple[int, str], tuple[datetime | None, int | None]]:
    """The cell last judged by the latest closed alert of each (rule, scope)."""
    if not pairs:
        return {}
    cur = await conn.execute(
        "SELECT DISTINCT ON (rule_id, scope) rule_id, scope, cell_start, cell_version FROM alerts"
        f" WHERE {_PAIRS} ORDER BY rule_id, scope, id DESC", _pair_arrays(pairs))
    return {(r[0], r[1]): (r[2], r[3]) for r in await cur.fetchall()}


async def tick(conn: AsyncConnection, rules: Mapping[int, Rule], now: datetime) -> list[int]:
    """What time alone changes: pending alerts whose period has passed fire (judged on their
    last value), critical alerts nobody acknowledged escalate. Rows another evaluator holds
    are left to it."""
    changed: list[int] = []
    async with conn.transaction():
        for (rule_id, scope), current in (await _lock_in_state(conn, "pending")).items():
            rule = rules.get(rule_id)
            if rule is None or not rule.enabled:
                continue
            after, event = step(rule.spec.condition, current.track, current.track.value, now)
            if event is not None:
                await _apply(conn, rule, scope, current, after, event, now, None)
                changed.append(current.id)
        for (rule_id, _), current in (await _lock_in_state(conn, "firing")).items():
            rule = rules.get(rule_id)
            if rule is None or not rule.spec.escalation or current.fired_at is None:
                continue
            level, targets = escalation_due(rule.spec, current.fired_at, current.escalation_level, now)
            if level > current.escalation_level:
                await conn.execute("UPDATE alerts SET escalation_level = %s, updated_at = now()"
                                   " WHERE id = %s", (level, current.id))
                await _history(conn, current.id, now, "escalated", None, current.track.value,
                               f"level {level}")
                await _enqueue(conn, current.id, "escalated", targets, now)
                changed.append(current.id)
    return changed


async def _apply(conn: AsyncConnection, rule: Rule, scope: str, current: _Open | None, after: Track,
                 event: Event | None, now: datetime, cell: tuple[datetime, int] | None) -> int | None:
    start, version = cell if cell is not None else (None, None)
    if current is None:
        if event is None:
            return None  # inactive and staying so: nothing to keep
        cur = await conn.execute(
            "INSERT INTO alerts (rule_id, scope, state, severity, since, pending_at, fired_at,"
            " value, cell_start, cell_version) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING id",
            (rule.id, scope, after.state.value, rule.spec.severity.value, after.since, now,
             now if event is Event.FIRED else None, after.value, start, version))
        row = await cur.fetchone()
        assert row is not None
        alert_id = int(row[0])
    else:
        alert_id = current.id
        state = "cancelled" if event is Event.CANCELLED else after.state.value
        await conn.execute(
            "UPDATE alerts SET state = %s, since = %s, value = %s,"
            " cell_start = coalesce(%s, cell_start), cell_version = coalesce(%s, cell_version),"
            " fired_at = CASE WHEN %s THEN %s ELSE fired_at END,"
            " resolved_at = CASE WHEN %s THEN %s ELSE resolved_at END, updated_at = now()"
            " WHERE id = %s",
            (state, after.since, after.value, start, version, event is Event.FIRED, now,
             event is Event.RESOLVED, now, alert_id))
    if event is not None:
        await _history(conn, alert_id, now, event.value, None, after.value, None)
        if event in NOTIFIED_EVENTS:
            await _enqueue(conn, alert_id, NOTIFIED_EVENTS[event], rule.spec.targets, now)
    return alert_id


async def _history(conn: AsyncConnection, alert_id: int, at: datetime, kind: str, actor: str | None,
                   value: float | None, note: str | None) -> None:
    await conn.execute("INSERT INTO alert_history (alert_id, at, kind, actor, value, note)"
                       " VALUES (%s, %s, %s, %s, %s, %s)", (alert_id, at, kind, actor, value, note))


async def _enqueue(conn: AsyncConnection, alert_id: int, event: str,
                   targets: Iterable[WebhookTarget | EmailTarget], now: datetime) -> None:
    for target in targets:
        await conn.execute(
            "INSERT INTO alert_notifications (alert_id, event, target, target_label, next_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (alert_id, event, Jsonb(target.model_dump(mode="json")), target.label(), now))


# -- people's actions ------------------------------------------------------------------------

async def _lock_one(conn: AsyncConnection, alert_id: int) -> tuple[str, Track]:
    cur = await conn.execute("SELECT state, since, value FROM alerts WHERE id = %s FOR UPDATE",
                             (alert_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    state = row[0]
    return state, Track(State.INACTIVE if state == "cancelled" else State(state), row[1], row[2])


async def acknowledge_alert(conn: AsyncConnection, alert_id: int, who: Principal, now: datetime,
                            comment: str | None) -> None:
    async with conn.transaction():
        state, track = await _lock_one(conn, alert_id)
        after, event = acknowledge(track, now)
        if event is None:
            raise Conflict(f"alert {alert_id} is {state}; only a firing alert can be acknowledged")
        await conn.execute("UPDATE alerts SET state = 'acknowledged', since = %s, acknowledged_at = %s,"
                           " acknowledged_by = %s, updated_at = now() WHERE id = %s",
                           (after.since, now, who.name, alert_id))
        await _history(conn, alert_id, now, "acknowledged", who.name, track.value, comment)
        await audit(conn, who, "alert.acknowledge", f"alert:{alert_id}", {"comment": comment})


async def comment_alert(conn: AsyncConnection, alert_id: int, who: Principal, now: datetime,
                        text: str) -> None:
    async with conn.transaction():
        await _lock_one(conn, alert_id)
        await _history(conn, alert_id, now, "commented", who.name, None, text)
        await audit(conn, who, "alert.comment", f"alert:{alert_id}", {"comment": text})


async def resolve_alert(conn: AsyncConnection, alert_id: int, who: Principal, now: datetime,
                        comment: str | None) -> None:
    """Close an open alert by hand. If its condition still holds, the next value opens a
    new alert (after the pending period): closing by hand does not silence a rule."""
    async with conn.transaction():
        state, track = await _lock_one(conn, alert_id)
        if state not in OPEN:
            raise Conflict(f"alert {alert_id} is {state}; only an open alert can be resolved")
        cur = await conn.execute(
            "UPDATE alerts a SET state = 'resolved', since = %s, resolved_at = %s, resolved_by = %s,"
            " updated_at = now() FROM alert_rules r WHERE a.id = %s AND r.id = a.rule_id"
            " RETURNING r.spec", (now, now, who.name, alert_id))
        row = await cur.fetchone()
        assert row is not None
        await _history(conn, alert_id, now, "resolved", who.name, track.value, comment)
        if state != "pending":
            await _enqueue(conn, alert_id, "resolved", RuleSpec.model_validate(row[0]).targets, now)
        await audit(conn, who, "alert.resolve", f"alert:{alert_id}", {"comment": comment})


# -- reads -----------------------------------------------------------------------------------

async def alerts_by_id(conn: AsyncConnection, ids: Sequence[int]) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {ALERT_COLUMNS} FROM {ALERT_FROM} WHERE a.id = ANY(%s) ORDER BY a.id",
                          (list(ids),))
        return list(await cur.fetchall())


async def list_alerts(conn: AsyncConnection, *, states: Sequence[str] | None, rule_id: int | None,
                      scope: str | None, severity: str | None, before_id: int | None,
                      limit: int) -> list[dict[str, Any]]:
    where, params = ["true"], list[Any]()
    for clause, value in (("a.state = ANY(%s)", list(states) if states else None),
                          ("a.rule_id = %s", rule_id), ("a.scope = %s", scope),
                          ("a.severity = %s", severity), ("a.id < %s", before_id)):
        if value is not None:
            where.append(clause)
            params.append(value)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {ALERT_COLUMNS} FROM {ALERT_FROM} WHERE {' AND '.join(where)}"
                          " ORDER BY a.id DESC LIMIT %s", (*params, limit))
        return list(await cur.fetchall())


async def alert_history(conn: AsyncConnection, alert_id: int) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT at, kind, actor, value, note FROM alert_history"
                          " WHERE alert_id = %s ORDER BY id", (alert_id,))
        return [{**r, "at": r["at"].isoformat()} for r in await cur.fetchall()]


async def alert_notifications(conn: AsyncConnection, alert_id: int | None = None,
                              state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Notifications (targets without their secrets) and every attempt made."""
    where, params = ["true"], list[Any]()
    if alert_id is not None:
        where.append("n.alert_id = %s")
        params.append(alert_id)
    if state is not None:
        where.append("n.state = %s")
        params.append(state)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT n.id, n.alert_id, n.event, n.target->>'kind' AS kind, n.target_label AS target,"
            " n.state, n.attempts, n.next_at, n.created_at, n.sent_at, n.last_error,"
            " coalesce((SELECT json_agg(json_build_object('attempt', t.attempt, 'at', t.at, 'ok', t.ok,"
            " 'status', t.status, 'error', t.error, 'duration_ms', t.duration_ms) ORDER BY t.id)"
            " FROM alert_notification_attempts t WHERE t.notification_id = n.id), '[]') AS attempt_log"
            f" FROM alert_notifications n WHERE {' AND '.join(where)} ORDER BY n.id DESC LIMIT %s",
            (*params, limit))
        rows = await cur.fetchall()
    return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]


# -- the outbox ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Due:
    id: int
    alert_id: int
    event: str
    target: WebhookTarget | EmailTarget
    attempt: int
    """The number of this attempt (1 for the first)."""


async def claim_due(conn: AsyncConnection, now: datetime, lease_s: float, limit: int) -> list[Due]:
    """Take notifications that are due, leasing them so no other notifier sends them too."""
    cur = await conn.execute(
        "UPDATE alert_notifications SET next_at = %s::timestamptz + make_interval(secs => %s)"
        " WHERE id IN (SELECT id FROM alert_notifications WHERE state = 'queued' AND next_at <= %s"
        " ORDER BY next_at LIMIT %s FOR UPDATE SKIP LOCKED)"
        " RETURNING id, alert_id, event, target, attempts", (now, lease_s, now, limit))
    out = []
    for row in await cur.fetchall():
        raw = row[3]
        target: WebhookTarget | EmailTarget = (WebhookTarget.model_validate(raw) if raw["kind"] == "webhook"
                                               else EmailTarget.model_validate(raw))
        out.append(Due(row[0], row[1], row[2], target, row[4] + 1))
    return out


async def record_attempt(conn: AsyncConnection, due: Due, at: datetime, ok: bool, status: int | None,
                         error: str | None, duration_ms: float, retry_at: datetime | None) -> str:
    """Record one attempt; the notification is sent, queued again at ``retry_at``, or dead.
    Returns the notification's new state."""
    state = "sent" if ok else ("queued" if retry_at is not None else "dead")
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO alert_notification_attempts (notification_id, attempt, at, ok, status, error,"
            " duration_ms) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (due.id, due.attempt, at, ok, status, error, duration_ms))
        await conn.execute(
            "UPDATE alert_notifications SET state = %s, attempts = %s, last_error = %s,"
            " sent_at = CASE WHEN %s THEN %s ELSE sent_at END, next_at = coalesce(%s, next_at)"
            " WHERE id = %s", (state, due.attempt, error, ok, at, retry_at, due.id))
    return state


async def retry_dead(conn: AsyncConnection, notification_id: int, who: Principal, now: datetime) -> None:
    async with conn.transaction():
        cur = await conn.execute("UPDATE alert_notifications SET state = 'queued', next_at = %s"
                                 " WHERE id = %s AND state = 'dead' RETURNING id", (now, notification_id))
        if await cur.fetchone() is None:
            raise Conflict(f"notification {notification_id} is not dead-lettered")
        await audit(conn, who, "alert_notification.retry", f"alert_notification:{notification_id}", {})
