"""Delivers queued alert notifications: webhooks over HTTP, e-mail over SMTP (run by the
worker, :mod:`streams.alerting`; what a message says is decided in :mod:`ioc.alerts.delivery`).

The outbox is the ``alert_notifications`` table, filled in the same transaction as the alert
change that caused it, so a notification is never lost between the two. Each notifier leases
what it takes (other workers skip leased rows), records every attempt, and queues a failed
one again after a growing delay until ``alert_max_attempts``; then it is dead-lettered
(state ``dead``, listed by the API, retried by hand).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import time
from collections.abc import Awaitable, Callable, Mapping
from email.message import EmailMessage
from typing import Any, TypeVar

import httpx
from prometheus_client import Counter, Histogram
from psycopg import AsyncConnection

from ioc.alerts.delivery import (
    Outcome,
    email_message,
    http_outcome,
    next_attempt,
    webhook_body,
    webhook_headers,
)
from ioc.alerts.presentation import alert_json
from ioc.alerts.rules import EmailTarget, WebhookTarget
from ioc.clock import Clock
from ioc.settings import Settings
from ioc.storage import alert_outbox as outbox
from ioc.storage.alert_reads import alerts_by_id

log = logging.getLogger(__name__)
T = TypeVar("T")
Run = Callable[[Callable[[AsyncConnection], Awaitable[T]]], Awaitable[T]]

ATTEMPTS = Counter("ioc_alert_notification_attempts_total", "Notification attempts", ["kind", "outcome"])
SECONDS = Histogram("ioc_alert_notification_seconds", "Time to deliver one notification", ["kind"])
LEASE_S = 120.0


class Notifier:
    def __init__(self, settings: Settings, clock: Clock, run: Run[Any],
                 area_names: Mapping[str, str]) -> None:
        self._settings = settings
        self._clock = clock
        self._run = run
        self._names = area_names
        self._wakeup = asyncio.Event()
        self._http: httpx.AsyncClient | None = None

    def wake(self) -> None:
        """Look for due notifications now (called after an evaluation queued some)."""
        self._wakeup.set()

    async def run_forever(self) -> None:
        self._http = httpx.AsyncClient(timeout=self._settings.alert_webhook_timeout_s)
        try:
            while True:
                try:
                    await self.run_once()
                except Exception:
                    log.exception("notifier round failed; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._settings.alert_notify_poll_s)
                self._wakeup.clear()
        finally:
            await self._http.aclose()

    async def run_once(self) -> int:
        """Send every notification due now; returns how many were tried."""
        now = self._clock.now()
        due = await self._run(lambda c: outbox.claim_due(c, now, LEASE_S, 100))
        if not due:
            return 0
        alert_rows = await self._run(lambda c: alerts_by_id(c, sorted({d.alert_id for d in due})))
        alerts = {r["id"]: alert_json(r, self._names) for r in alert_rows}
        await asyncio.gather(*(self._deliver(d, alerts[d.alert_id]) for d in due))
        return len(due)

    async def _deliver(self, due: outbox.Due, alert: dict[str, Any]) -> None:
        started = time.perf_counter()
        status: int | None
        try:
            if isinstance(due.target, WebhookTarget):
                status = await self._post(due, due.target, alert)
            else:
                status = await asyncio.to_thread(self._mail, due, due.target, alert)
            outcome = http_outcome(status) if isinstance(due.target, WebhookTarget) else Outcome.SENT
            error = None if outcome is Outcome.SENT else f"answered {status}"
        except (httpx.HTTPError, OSError, smtplib.SMTPException) as exc:
            status = getattr(exc, "smtp_code", None)
            outcome, error = Outcome.RETRY, f"{type(exc).__name__}: {exc}"[:1000]
        duration_ms = (time.perf_counter() - started) * 1000
        kind = due.target.kind
        SECONDS.labels(kind).observe(duration_ms / 1000)
        at = self._clock.now()
        retry_at = None if outcome is not Outcome.RETRY else next_attempt(
            due.attempt, at, self._settings.alert_retry_base_s, self._settings.alert_retry_cap_s,
            self._settings.alert_max_attempts)
        state = await self._run(lambda c: outbox.record_attempt(
            c, due, at, outcome is Outcome.SENT, status, error, duration_ms, retry_at))
        ATTEMPTS.labels(kind, state).inc()
        if state == "dead":
            log.error("alert notification dead-lettered", extra={
                "notification": due.id, "alert": due.alert_id, "target": due.target.label(),
                "attempts": due.attempt, "error": error})
        elif state == "queued":
            log.warning("alert notification failed; will retry", extra={
                "notification": due.id, "target": due.target.label(), "attempt": due.attempt,
                "error": error, "retry_at": retry_at.isoformat() if retry_at else None})

    async def _post(self, due: outbox.Due, target: WebhookTarget, alert: dict[str, Any]) -> int:
        assert self._http is not None
        at = self._clock.now()
        body = webhook_body(alert, due.event, due.id, due.attempt, at)
        answer = await self._http.post(target.url, content=body,
                                       headers=webhook_headers(target.secret, body, at, due.id))
        return answer.status_code

    def _mail(self, due: outbox.Due, target: EmailTarget, alert: dict[str, Any]) -> int:
        settings = self._settings
        if not settings.smtp_host:
            raise smtplib.SMTPException("no SMTP server is configured (IOC_SMTP_HOST)")
        message: EmailMessage = email_message(alert, due.event, settings.smtp_from, target.to, due.id)
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            refused = smtp.send_message(message)
        if refused:  # some recipients took it (all refusing raises): sending again would repeat it
            log.warning("some e-mail recipients refused", extra={"notification": due.id,
                                                                 "refused": sorted(refused)})
        return 250
