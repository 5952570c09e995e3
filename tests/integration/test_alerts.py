"""Alerts end to end on the real stack: events → KPI change → the worker's alert agent →
a signed webhook received by a local HTTP server and an e-mail received by a real SMTP
server (aiosmtpd); escalation, acknowledgement, comments, recovery, retries and dead
letters, the audit log, the wall feed, and a worker killed in the middle of a pending period."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from websockets.sync.client import connect

from ioc.embedded.processes import free_port, wait_until
from ioc.signing import verify
from tests.integration.conftest import Pipeline, Services, running_pipeline

pytestmark = pytest.mark.integration

SECRET = "alert-test-secret-0123456789"


class Receiver:
    """A local webhook endpoint: records every delivery; answers what it is told to, per path."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.answers: dict[str, list[int]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                planned = receiver.answers.get(self.path, [])
                status = planned.pop(0) if planned else 200
                receiver.deliveries.append({"path": self.path, "body": body, "status": status,
                                            "headers": dict(self.headers), "at": time.time()})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, path: str, kind: str, timeout_s: float = 60) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for d in self.deliveries:
                if d["path"] == path and d["status"] == 200 and json.loads(d["body"])["type"] == kind:
                    return d
            return None
        wait_until(lambda: found() is not None, timeout_s=timeout_s, what=f"{kind} at {path}",
                   interval_s=0.1)
        delivery = found()
        assert delivery is not None
        return delivery


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(scope="module")
def pipe(services: Services, mailbox: tuple[Mailbox, int]) -> Iterator[Pipeline]:
    env = {"IOC_SMTP_HOST": "127.0.0.1", "IOC_SMTP_PORT": str(mailbox[1]),
           "IOC_SMTP_FROM": "ioc@haiduong.test", "IOC_ALERT_RULES_REFRESH_S": "0.3",
           "IOC_ALERT_TICK_S": "0.5", "IOC_ALERT_RETRY_BASE_S": "0.2",
           "IOC_ALERT_MAX_ATTEMPTS": "3", "IOC_ALERT_NOTIFY_POLL_S": "0.2"}
    with running_pipeline(services, "p_alerts", env=env) as pipeline:
        yield pipeline


def call(pipe: Pipeline, method: str, path: str, role: str = "admin", **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{pipe.api_url}{path}", timeout=30,
                         headers={"Authorization": f"Bearer {pipe.tokens[role]}"}, **kwargs)


def dossier(kind: str, area: str, when: datetime, *, late: bool = False) -> bytes:
    n = uuid.uuid4().hex[:12]
    due = when - timedelta(hours=1) if late and kind == "dossier.resolved" else when + timedelta(days=2)
    data: dict[str, Any] = {"dossier_id": f"AL-{n}", "service_code": "S", "agency_code": "A",
                            "area": area, "due_at": due.isoformat()}
    if kind == "dossier.received":
        data.update(channel="online", service_level="full_online")
    return json.dumps({"specversion": "1.0", "id": f"al-{n}", "source": "alerts.test", "type": kind,
                       "time": when.isoformat(), "data": data}).encode()


def rule(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "kpi": "dossier.on_time_rate", "bucket": "1d", "scope": "areas",
            "comparison": "below", "threshold": 50, "recovery": 60, "severity": "warning", **fields}


def wait_alert(pipe: Pipeline, rule_id: int, state: str, timeout_s: float = 60) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        alerts = call(pipe, "GET", "/api/v1/alerts", "operator",
                      params={"rule_id": rule_id, "state": state}).json()
        return alerts[0] if alerts else None
    wait_until(lambda: found() is not None, timeout_s=timeout_s, what=f"a {state} alert of rule {rule_id}",
               interval_s=0.2)
    alert = found()
    assert alert is not None
    return alert


def test_rules_are_validated_and_defaults_shipped(pipe: Pipeline) -> None:
    names = {r["name"] for r in call(pipe, "GET", "/api/v1/alert-rules").json()}
    assert "Area on-time rate today below 95%" in names and len(names) >= 5
    bad = [({"kpi": "no.such"}, "kpi"), ({"bucket": "now"}, "bucket"),
           ({"recovery": 40}, "recovery"), ({"areas": ["999"]}, "areas"),
           ({"escalation": [{"after_minutes": 5, "targets": [{"kind": "email", "to": ["a@b.vn"]}]}]},
            "escalation"), ({"min_count": 5, "kpi": "dossier.received"}, "min_count")]
    for change, field in bad:
        answer = call(pipe, "POST", "/api/v1/alert-rules", json={**rule("bad"), **change})
        assert answer.status_code == 422 and field in answer.text, (change, answer.text)
    assert call(pipe, "POST", "/api/v1/alert-rules", "operator", json=rule("x")).status_code == 403
    weak = {**rule("weak"), "targets": [{"kind": "webhook", "url": "http://x", "secret": "short"}]}
    assert call(pipe, "POST", "/api/v1/alert-rules", json=weak).status_code == 422


def test_breach_notifies_by_webhook_and_email_escalates_acks_and_recovers(
        pipe: Pipeline, receiver: Receiver, mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    created = call(pipe, "POST", "/api/v1/alert-rules", json=rule(
        "on-time 298", areas=["298"], severity="critical",
        targets=[{"kind": "webhook", "url": f"{receiver.url}/ops", "secret": SECRET},
                 {"kind": "email", "to": ["lanh.dao@haiduong.test"]}],
        escalation=[{"after_minutes": 0.05,
                     "targets": [{"kind": "webhook", "url": f"{receiver.url}/chief", "secret": SECRET}]}]))
    assert created.status_code == 201, created.text
    made = created.json()
    assert made["targets"][0]["secret"] == "*" * 16
    time.sleep(1)  # the worker re-reads rules every 0.3 s
    with connect(pipe.api_url.replace("http://", "ws://") + f"/ws?token={pipe.tokens['operator']}",
                 open_timeout=10) as ws:
        snapshot = json.loads(ws.recv(timeout=10))
        assert snapshot["type"] == "snapshot" and isinstance(snapshot["alerts"], list)
        now = datetime.now(UTC)
        pipe.publish([dossier("dossier.received", "298", now),
                      dossier("dossier.resolved", "298", now, late=True)])

        fired = receiver.wait("/ops", "alert.fired")
        body = json.loads(fired["body"])
        verify(SECRET.encode(), fired["headers"]["X-Signature"], fired["body"], time.time(), 60)
        assert fired["headers"]["X-IOC-Delivery"] == str(body["notification_id"])
        alert = body["alert"]
        assert (alert["rule_id"], alert["area"], alert["state"], alert["value"]) == \
            (made["id"], "298", "firing", 0.0)
        assert alert["area_name"] and alert["severity"] == "critical"

        wait_until(lambda: len(box.messages) >= 1, timeout_s=30, what="the e-mail", interval_s=0.1)
        mail = box.messages[0]
        assert mail["To"] == "lanh.dao@haiduong.test" and "[CRITICAL][FIRING]" in mail["Subject"]
        text = mail.get_payload(decode=True).decode()
        assert "on-time 298" in text and "Phạm vi" in text and "threshold < 50" in text

        seen = None
        deadline = time.monotonic() + 30
        while seen is None and time.monotonic() < deadline:
            frame = json.loads(ws.recv(timeout=30))
            for m in frame["messages"] if frame["type"] == "batch" else [frame]:
                if m.get("type") == "alert" and m["id"] == alert["id"] and m["state"] == "firing":
                    seen = m
        assert seen is not None, "the wall feed did not carry the alert"

    escalated = receiver.wait("/chief", "alert.escalated", timeout_s=30)
    assert json.loads(escalated["body"])["alert"]["escalation_level"] == 1

    # only operators and admins acknowledge; a leader may comment
    assert call(pipe, "POST", f"/api/v1/alerts/{alert['id']}/ack", "leader").status_code == 403
    acked = call(pipe, "POST", f"/api/v1/alerts/{alert['id']}/ack", "operator",
                 json={"comment": "đang xử lý"})
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    assert call(pipe, "POST", f"/api/v1/alerts/{alert['id']}/ack", "operator").status_code == 409
    assert call(pipe, "POST", f"/api/v1/alerts/{alert['id']}/comments", "leader",
                json={"comment": "báo cáo trước 17h"}).status_code == 201

    later = datetime.now(UTC)
    pipe.publish([dossier("dossier.resolved", "298", later), dossier("dossier.resolved", "298", later)])
    resolved = receiver.wait("/ops", "alert.resolved")
    assert json.loads(resolved["body"])["alert"]["state"] == "resolved"
    detail = call(pipe, "GET", f"/api/v1/alerts/{alert['id']}", "leader").json()
    assert [h["kind"] for h in detail["history"]] == ["fired", "escalated", "acknowledged", "commented",
                                                       "resolved"]
    assert detail["history"][2]["actor"] == detail["acknowledged_by"]
    assert abs(detail["value"] - 200 / 3) < 1e-9  # 2 of 3 on time
    sent = {(n["event"], n["target"]): n for n in detail["notifications"]}
    assert sent[("fired", f"{receiver.url}/ops")]["state"] == "sent"
    assert sent[("fired", "mailto:lanh.dao@haiduong.test")]["attempt_log"][0]["ok"] is True
    assert sent[("escalated", f"{receiver.url}/chief")]["state"] == "sent"
    audit = call(pipe, "GET", "/api/v1/audit").json()
    actions = [(e["action"], e["object"]) for e in audit]
    assert ("alert.acknowledge", f"alert:{alert['id']}") in actions
    assert ("alert.comment", f"alert:{alert['id']}") in actions
    assert ("alert_rule.create", f"alert_rule:{made['id']}") in actions
    assert call(pipe, "GET", "/api/v1/audit", "operator").status_code == 403


def test_failed_webhooks_are_retried_then_dead_lettered(pipe: Pipeline, receiver: Receiver) -> None:
    receiver.answers["/flaky"] = [500, 503]
    receiver.answers["/broken"] = [410]
    made = call(pipe, "POST", "/api/v1/alert-rules", json=rule(
        "on-time 290", areas=["290"],
        targets=[{"kind": "webhook", "url": f"{receiver.url}/flaky", "secret": SECRET},
                 {"kind": "webhook", "url": f"{receiver.url}/broken", "secret": SECRET}])).json()
    time.sleep(1)
    now = datetime.now(UTC)
    pipe.publish([dossier("dossier.resolved", "290", now, late=True)])
    receiver.wait("/flaky", "alert.fired")
    alert = wait_alert(pipe, made["id"], "firing")
    detail = call(pipe, "GET", f"/api/v1/alerts/{alert['id']}").json()
    notes = {n["target"]: n for n in detail["notifications"]}
    flaky = notes[f"{receiver.url}/flaky"]
    assert flaky["state"] == "sent" and [a["status"] for a in flaky["attempt_log"]] == [500, 503, 200]
    wait_until(lambda: call(pipe, "GET", "/api/v1/alert-notifications", params={"state": "dead"}).json(),
               timeout_s=30, what="the dead letter", interval_s=0.2)
    dead = call(pipe, "GET", "/api/v1/alert-notifications", params={"state": "dead"}).json()
    assert [(d["target"], d["attempts"], d["attempt_log"][0]["status"]) for d in dead] == \
        [(f"{receiver.url}/broken", 1, 410)]
    assert call(pipe, "POST", f"/api/v1/alert-notifications/{dead[0]['id']}/retry").status_code == 202
    receiver.wait("/broken", "alert.fired")  # the second try is answered 200
    # a disabled rule resolves its alert
    changed = call(pipe, "PUT", f"/api/v1/alert-rules/{made['id']}",
                   json={**{k: v for k, v in made.items() if k in rule("x") or k in ("targets",
                                                                                     "areas")},
                         "enabled": False})
    assert changed.status_code == 200, changed.text
    assert call(pipe, "GET", f"/api/v1/alerts/{alert['id']}").json()["state"] == "resolved"


def test_a_worker_killed_mid_pending_fires_on_time_after_restart(pipe: Pipeline) -> None:
    made = call(pipe, "POST", "/api/v1/alert-rules", json=rule(
        "on-time 291 pending", areas=["291"], pending_minutes=0.25)).json()
    time.sleep(1)
    pipe.publish([dossier("dossier.resolved", "291", datetime.now(UTC), late=True)])
    pending = wait_alert(pipe, made["id"], "pending")
    pipe.stop("worker", signal.SIGKILL)
    time.sleep(3)
    pipe.start_worker()
    fired = wait_alert(pipe, made["id"], "firing", timeout_s=90)
    assert fired["id"] == pending["id"]  # the same alert: the period was not restarted
    waited = datetime.fromisoformat(fired["fired_at"]) - datetime.fromisoformat(fired["pending_at"])
    assert timedelta(seconds=15) <= waited < timedelta(seconds=40)
    history = call(pipe, "GET", f"/api/v1/alerts/{fired['id']}").json()["history"]
    assert [h["kind"] for h in history] == ["pending", "fired"]
    assert len(call(pipe, "GET", "/api/v1/alerts", params={"rule_id": made["id"]}).json()) == 1


def test_key_changes_are_audited(pipe: Pipeline) -> None:
    made = call(pipe, "POST", "/api/v1/keys", json={"name": "audited", "role": "operator"}).json()
    assert call(pipe, "POST", f"/api/v1/keys/{made['id']}/revoke").status_code == 200
    entries = [(e["action"], e["object"], e["role"]) for e in call(pipe, "GET", "/api/v1/audit").json()]
    assert entries[:2] == [("key.revoke", f"key:{made['id']}", "admin"),
                           ("key.create", f"key:{made['id']}", "admin")]


def test_a_station_rule_fires_for_that_station(pipe: Pipeline) -> None:
    made = call(pipe, "POST", "/api/v1/alert-rules", json={
        "name": "PM2.5 at HD-ALERT-1", "kpi": "sensor.avg", "metric": "pm2_5", "bucket": "1h",
        "scope": "stations", "stations": ["HD-ALERT-1"], "comparison": "above", "threshold": 50,
        "recovery": 45, "severity": "warning"}).json()
    time.sleep(1)
    now = datetime.now(UTC)
    readings = [json.dumps({"specversion": "1.0", "id": f"pm-{station}-{now.timestamp()}",
                            "source": "alerts.test", "type": "sensor.reading", "time": now.isoformat(),
                            "data": {"station_id": station, "area": "292", "metric": "pm2_5",
                                     "value": 80.5}}).encode()
                for station in ("HD-ALERT-1", "HD-ALERT-2")]
    pipe.publish(readings)
    alert = wait_alert(pipe, made["id"], "firing")
    assert (alert["station"], alert["area"], alert["value"]) == ("HD-ALERT-1", None, 80.5)
    by_station = call(pipe, "GET", "/api/v1/alerts", params={"station": "HD-ALERT-1"}).json()
    assert [a["id"] for a in by_station] == [alert["id"]]
    assert call(pipe, "GET", "/api/v1/alerts", params={"station": "HD-ALERT-2"}).json() == []
