"""Alert episodes in PostgreSQL: stepping alerts on new values and on the passing of time, and
the actions of people (acknowledge, comment, resolve by hand).

The database is the one place an alert's state lives: the evaluator, the timer and people
(through the API) each change an alert inside a transaction that locks its row, so they
never overwrite each other, and a worker that restarts finds its pending alerts where it
left them. The decisions are made by the pure functions of :mod:`ioc.alerts`. Each change
writes its history entry and queues its notifications (:mod:`ioc.storage.alert_outbox`) in
the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from ioc.alerts.machine import OPEN_STATES, AlertState, Event, Track, acknowledge, step, track_state
from ioc.alerts.rules import Observation, Rule, RuleSpec, escalation_due
from ioc.storage.alert_errors import Conflict, NotFound
from ioc.storage.alert_outbox import enqueue
from ioc.storage.audit import audit
from ioc.tokens import Principal

OPEN: tuple[str, ...] = tuple(s.value for s in OPEN_STATES)
"""The open states, as stored."""
NOTIFIED_EVENTS = {Event.FIRED: "fired", Event.RESOLVED: "resolved"}


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
    return {(r[1], r[2]): _Open(r[0], Track(track_state(r[3]), r[4], r[5]), r[6], r[7], r[8], r[9])
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
                await record_history(conn, current.id, now, "escalated", None, current.track.value,
                               f"level {level}")
                await enqueue(conn, current.id, "escalated", targets, now)
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
        state = AlertState.CANCELLED.value if event is Event.CANCELLED else after.state.value
        await conn.execute(
            "UPDATE alerts SET state = %s, since = %s, value = %s,"
            " cell_start = coalesce(%s, cell_start), cell_version = coalesce(%s, cell_version),"
            " fired_at = CASE WHEN %s THEN %s ELSE fired_at END,"
            " resolved_at = CASE WHEN %s THEN %s ELSE resolved_at END, updated_at = now()"
            " WHERE id = %s",
            (state, after.since, after.value, start, version, event is Event.FIRED, now,
             event is Event.RESOLVED, now, alert_id))
    if event is not None:
        await record_history(conn, alert_id, now, event.value, None, after.value, None)
        if event in NOTIFIED_EVENTS:
            await enqueue(conn, alert_id, NOTIFIED_EVENTS[event], rule.spec.targets, now)
    return alert_id


async def record_history(conn: AsyncConnection, alert_id: int, at: datetime, kind: str, actor: str | None,
                   value: float | None, note: str | None) -> None:
    await conn.execute("INSERT INTO alert_history (alert_id, at, kind, actor, value, note)"
                       " VALUES (%s, %s, %s, %s, %s, %s)", (alert_id, at, kind, actor, value, note))


# -- people's actions ------------------------------------------------------------------------

async def _lock_one(conn: AsyncConnection, alert_id: int) -> tuple[str, Track]:
    cur = await conn.execute("SELECT state, since, value FROM alerts WHERE id = %s FOR UPDATE",
                             (alert_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    state = row[0]
    return state, Track(track_state(state), row[1], row[2])


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
        await record_history(conn, alert_id, now, "acknowledged", who.name, track.value, comment)
        await audit(conn, who, "alert.acknowledge", f"alert:{alert_id}", {"comment": comment})


async def comment_alert(conn: AsyncConnection, alert_id: int, who: Principal, now: datetime,
                        text: str) -> None:
    async with conn.transaction():
        await _lock_one(conn, alert_id)
        await record_history(conn, alert_id, now, "commented", who.name, None, text)
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
        await record_history(conn, alert_id, now, "resolved", who.name, track.value, comment)
        if state != "pending":
            await enqueue(conn, alert_id, "resolved", RuleSpec.model_validate(row[0]).targets, now)
        await audit(conn, who, "alert.resolve", f"alert:{alert_id}", {"comment": comment})


async def close_rule_alerts(conn: AsyncConnection, rule_id: int, who: Principal, now: datetime,
                            note: str) -> list[int]:
    """Close a disabled or retired rule's open alerts: a pending one is cancelled, the others
    resolved by ``who``. Returns the alerts closed."""
    cur = await conn.execute(
        "UPDATE alerts SET state = CASE WHEN state = 'pending' THEN 'cancelled' ELSE 'resolved' END,"
        " since = %s, resolved_at = CASE WHEN state = 'pending' THEN NULL ELSE %s END,"
        " resolved_by = %s, updated_at = now() WHERE rule_id = %s AND state = ANY(%s) RETURNING id, state",
        (now, now, who.name, rule_id, list(OPEN)))
    rows = await cur.fetchall()
    for alert_id, state in rows:
        await record_history(conn, alert_id, now, state, who.name, None, note)
    return [r[0] for r in rows]
