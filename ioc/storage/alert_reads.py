"""Reading alerts from PostgreSQL: alerts by id or filtered, an alert's history, notifications
with their attempts. Rows come back as stored; :func:`ioc.alerts.presentation.alert_json`
shapes an alert for the API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

ALERT_COLUMNS = """a.id, a.rule_id, r.name AS rule_name, r.spec->>'kpi' AS kpi,
    r.spec->>'bucket' AS bucket, r.spec->>'metric' AS metric, a.scope, a.state, a.severity,
    r.spec->>'comparison' AS comparison, (r.spec->>'threshold')::float8 AS threshold,
    coalesce((r.spec->>'recovery')::float8, (r.spec->>'threshold')::float8) AS recovery,
    a.value, a.cell_start, a.since, a.pending_at, a.fired_at, a.acknowledged_at,
    a.acknowledged_by, a.resolved_at, a.resolved_by, a.escalation_level, a.updated_at"""
ALERT_FROM = "alerts a JOIN alert_rules r ON r.id = a.rule_id"


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
