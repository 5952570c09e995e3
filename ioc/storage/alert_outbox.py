"""The alert notification outbox (``alert_notifications``) in PostgreSQL: queued in the same
transaction as the alert change that caused it, leased by a notifier, every attempt recorded,
dead-lettered after the last one and queued again by hand. Delivery itself is done by
:mod:`streams.notifier`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from ioc.alerts.rules import EmailTarget, WebhookTarget
from ioc.storage.alert_errors import Conflict
from ioc.storage.audit import audit
from ioc.tokens import Principal


async def enqueue(conn: AsyncConnection, alert_id: int, event: str,
                  targets: Iterable[WebhookTarget | EmailTarget], now: datetime) -> None:
    """Queue one notification per target (inside the caller's transaction)."""
    for target in targets:
        await conn.execute(
            "INSERT INTO alert_notifications (alert_id, event, target, target_label, next_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            (alert_id, event, Jsonb(target.model_dump(mode="json")), target.label(), now))


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
