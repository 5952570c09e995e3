"""What an alert notification says and when a failed one is tried again. Pure: no I/O.

Webhooks get a JSON POST signed like the payment gateways' (``X-Signature: t=…,v1=…``,
HMAC-SHA256 of ``"<t>." + body``) with ``X-IOC-Delivery`` naming the notification, so a
receiver can drop a retried delivery it already has. E-mails are plain text, Vietnamese
first, then English.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum
from typing import Any

from ioc.signing import sign


class Outcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    DEAD = "dead"


def webhook_body(alert: dict[str, Any], event: str, notification_id: int, attempt: int,
                 sent_at: datetime) -> bytes:
    return json.dumps({"type": f"alert.{event}", "notification_id": notification_id,
                       "attempt": attempt, "sent_at": sent_at.isoformat(), "alert": alert},
                      separators=(",", ":"), ensure_ascii=False).encode()


def webhook_headers(secret: str, body: bytes, at: datetime, notification_id: int) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-IOC-Delivery": str(notification_id),
            "X-Signature": sign(secret.encode(), int(at.timestamp()), body),
            "User-Agent": "ioc-alerts/1"}


def http_outcome(status: int) -> Outcome:
    """2xx delivered; 408, 429 and 5xx tried again; any other answer will not change."""
    if 200 <= status < 300:
        return Outcome.SENT
    if status in (408, 429) or status >= 500:
        return Outcome.RETRY
    return Outcome.DEAD


def next_attempt(attempts: int, now: datetime, base_s: float, cap_s: float, max_attempts: int
                 ) -> datetime | None:
    """When to try again after ``attempts`` failed tries (base, 2×base, 4×base … capped);
    None once ``max_attempts`` were made: the notification is dead-lettered."""
    if attempts >= max_attempts:
        return None
    return now + timedelta(seconds=min(cap_s, base_s * 2 ** (attempts - 1)))


_EVENT_VI = {"fired": "CẢNH BÁO", "resolved": "ĐÃ KHÔI PHỤC", "escalated": "CHUYỂN CẤP"}
_EVENT_EN = {"fired": "FIRING", "resolved": "RESOLVED", "escalated": "ESCALATED"}
_SIGN = {"above": ">", "below": "<"}


def _scope(alert: dict[str, Any]) -> str:
    return str(alert.get("area_name") or alert.get("area") or "Toàn tỉnh / Province")


def email_message(alert: dict[str, Any], event: str, sender: str, to: list[str],
                  notification_id: int) -> EmailMessage:
    value = alert.get("value")
    shown = "—" if value is None else f"{value:.4g}"
    subject = (f"[IOC][{str(alert['severity']).upper()}][{_EVENT_EN.get(event, event.upper())}] "
               f"{alert['rule_name']} — {_scope(alert)}: {shown}")
    lines = [
        f"{_EVENT_VI.get(event, event)}: {alert['rule_name']}",
        f"Phạm vi: {_scope(alert)}",
        f"Chỉ số: {alert['kpi']} ({alert['bucket']}) = {shown}; ngưỡng {_SIGN[alert['comparison']]} "
        f"{alert['threshold']:g}, khôi phục tại {alert['recovery']:g}",
        f"Mức độ: {alert['severity']}; trạng thái: {alert['state']}",
        "",
        f"{_EVENT_EN.get(event, event)}: {alert['rule_name']}",
        f"Scope: {_scope(alert)}",
        f"KPI: {alert['kpi']} ({alert['bucket']}) = {shown}; threshold {_SIGN[alert['comparison']]} "
        f"{alert['threshold']:g}, recovers at {alert['recovery']:g}",
        f"Severity: {alert['severity']}; state: {alert['state']}; fired at {alert.get('fired_at')}",
        f"Alert #{alert['id']}, notification #{notification_id}.",
    ]
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["X-IOC-Delivery"] = str(notification_id)
    message.set_content("\n".join(lines))
    return message
