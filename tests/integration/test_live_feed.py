"""The WebSocket feed against the real stack: auth, snapshot, live update, late correction,
subscription changes, reconnect."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration


def ws_url(pipeline: Pipeline, role: str | None = "operator") -> str:
    base = pipeline.api_url.replace("http://", "ws://") + "/ws"
    return f"{base}?token={pipeline.tokens[role]}" if role else base


@pytest.fixture
def feed(pipeline: Pipeline) -> Iterator[Inbox]:
    with connect(ws_url(pipeline), open_timeout=10) as ws:
        yield Inbox(ws)


class Inbox:
    """Messages read from a client connection, kept so that later waits see earlier ones."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict] = []

    def until(self, predicate: Any, timeout_s: float = 60) -> dict:
        for message in self.messages:
            if predicate(message):
                self.messages.remove(message)
                return message
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                break
            for one in message["messages"] if message.get("type") == "batch" else [message]:
                self.messages.append(one)
            for one in self.messages:
                if predicate(one):
                    self.messages.remove(one)
                    return one
        raise AssertionError(f"expected message not received; got {self.messages[:20]}")


def received_event(n: str, when: datetime, area: str = "288", channel: str = "online") -> bytes:
    return json.dumps({
        "specversion": "1.0", "id": f"feed-{n}", "source": "feed.test", "type": "dossier.received",
        "time": when.isoformat(),
        "data": {"dossier_id": f"FD-{n}", "service_code": "S", "agency_code": "A",
                 "area": area, "channel": channel, "service_level": "full_online",
                 "due_at": (when + timedelta(days=3)).isoformat()},
    }).encode()


def payment_event(n: str, when: datetime, area: str) -> bytes:
    return json.dumps({"specversion": "1.0", "id": f"feed-pay-{n}", "source": "feed.test",
                       "type": "payment.completed", "time": when.isoformat(),
                       "data": {"payment_id": f"FP-{n}", "area": area, "amount_vnd": 20000,
                                "method": "qr", "purpose": "fee"}}).encode()


def value_of(snapshot: dict, kpi: str, area: str | None) -> Any:
    for item in snapshot["values"]:
        if item["kpi"] == kpi and item["area"] == area:
            return item
    raise KeyError((kpi, area))


def test_snapshot_then_live_update_equal_to_the_api(pipeline: Pipeline, feed: Inbox) -> None:
    snapshot = feed.until(lambda m: m.get("type") == "snapshot", 10)
    assert snapshot["type"] == "snapshot"
    before = value_of(snapshot, "dossier.received", "288")["value"]
    pipeline.publish([received_event("live-1", datetime.now(UTC))])
    update = feed.until(lambda m: m.get("type") == "kpi" and m["kpi"] == "dossier.received"
                        and m["area"] == "288" and m["bucket"] == "1d")
    assert update["value"] == before + 1
    assert update["start"] == snapshot["day_start"]
    current = pipeline.get("/api/v1/kpis/dossier.received/current", area="288")
    assert current["value"] == update["value"]
    rate = feed.until(lambda m: m.get("type") == "kpi" and m["kpi"] == "dossier.online_rate"
                         and m["area"] is None and m["bucket"] == "1d")
    assert rate["numerator"] <= rate["denominator"] and rate["value"] is not None


def test_gauges_arrive_as_time_passes_and_events_come(pipeline: Pipeline, feed: Inbox) -> None:
    snapshot = feed.until(lambda m: m.get("type") == "snapshot", 10)
    before = value_of(snapshot, "dossier.open", "293")
    assert before["bucket"] == "now" and isinstance(before["value"], int)
    pipeline.publish([received_event("gauge-1", datetime.now(UTC), area="293")])
    update = feed.until(lambda m: m.get("type") == "kpi" and m["kpi"] == "dossier.open"
                        and m["area"] == "293" and m["value"] == before["value"] + 1)
    assert update["bucket"] == "now" and update["version"] > before["version"]
    # due in two seconds: it becomes overdue with no further event
    due_soon = json.loads(received_event("gauge-2", datetime.now(UTC), area="294"))
    due_soon["data"]["due_at"] = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    pipeline.publish([json.dumps(due_soon).encode()])
    overdue = feed.until(lambda m: m.get("type") == "kpi" and m["kpi"] == "dossier.overdue_open"
                         and m["area"] == "294" and m["value"] >= 1)
    assert datetime.fromisoformat(overdue["start"]) > datetime.fromisoformat(due_soon["data"]["due_at"])


def test_a_late_event_corrects_its_past_bucket_on_the_feed(pipeline: Pipeline,
                                                           feed: Inbox) -> None:
    feed.until(lambda m: m.get("type") == "snapshot", 10)
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    pipeline.publish([received_event("late-1", two_days_ago, area="290")])
    update = feed.until(lambda m: m.get("type") == "kpi" and m["kpi"] == "dossier.received"
                           and m["area"] == "290" and m["bucket"] == "1m")
    start = datetime.fromisoformat(update["start"])
    assert start <= two_days_ago < start + timedelta(minutes=1)
    series = pipeline.get("/api/v1/kpis/dossier.received/series", bucket="1m", area="290",
                          start=(two_days_ago - timedelta(minutes=5)).isoformat(),
                          end=(two_days_ago + timedelta(minutes=5)).isoformat())
    assert [p["value"] for p in series["points"]] == [update["value"]]


def test_subscription_narrows_what_is_sent(pipeline: Pipeline, feed: Inbox) -> None:
    feed.until(lambda m: m.get("type") == "snapshot", 10)
    feed.ws.send(json.dumps({"type": "subscribe", "kpis": ["payment.count"], "areas": ["291"]}))
    snapshot = feed.until(lambda m: m.get("type") == "snapshot")
    assert {(v["kpi"], v["area"]) for v in snapshot["values"]} == {("payment.count", "291")}
    pipeline.publish([received_event("sub-1", datetime.now(UTC), area="291")])
    pipeline.publish([payment_event("1", datetime.now(UTC), area="291")])
    update = feed.until(lambda m: m.get("type") == "kpi")
    assert (update["kpi"], update["area"]) == ("payment.count", "291")
    feed.ws.send(json.dumps({"type": "subscribe", "kpis": ["no.such"]}))
    error = feed.until(lambda m: m.get("type") == "error")
    assert "no.such" in error["error"]


def test_the_service_index_arrives_in_the_snapshot_and_live(pipeline: Pipeline, feed: Inbox) -> None:
    """index.value and its groups per area and day: in the snapshot (with the version the
    last batch raised) and after each change, with a higher version and the API's value."""
    feed.until(lambda m: m.get("type") == "snapshot", 10)
    feed.ws.send(json.dumps({"type": "subscribe", "kpis": ["index.value", "index.online_service"],
                             "areas": ["293"]}))
    snapshot = feed.until(lambda m: m.get("type") == "snapshot")
    first = value_of(snapshot, "index.value", "293")
    assert first["bucket"] == "1d" and first["start"] == snapshot["day_start"]
    versions = [first["version"]]
    for n, channel in enumerate(("online", "counter", "online")):
        pipeline.publish([received_event(f"index-{n}", datetime.now(UTC), area="293", channel=channel)])
        update = feed.until(lambda m: m.get("type") == "kpi" and m["kpi"] == "index.value"
                            and m["area"] == "293" and m["version"] > versions[-1])
        versions.append(update["version"])
        current = pipeline.get("/api/v1/kpis/index.value/current", area="293")
        assert update["value"] == current["value"] is not None
        version = update["version"]
        group = feed.until(lambda m, v=version: m.get("type") == "kpi"
                           and m["kpi"] == "index.online_service" and m["version"] == v)
        assert group["area"] == "293" and group["value"] is not None
    feed.ws.send(json.dumps({"type": "subscribe", "kpis": ["index.value"], "areas": ["293"]}))
    latest = value_of(feed.until(lambda m: m.get("type") == "snapshot"), "index.value", "293")
    assert latest["version"] == versions[-1] and latest["value"] == update["value"]


def test_a_subscription_with_parts_gets_each_part(pipeline: Pipeline, feed: Inbox) -> None:
    # as the wall subscribes: its tiles for the province, one KPI for every unit
    feed.until(lambda m: m.get("type") == "snapshot", 10)
    feed.ws.send(json.dumps({"type": "subscribe", "kpis": ["dossier.received", "payment.count"],
                             "areas": ["province"], "buckets": ["1d"],
                             "also": [{"kpis": ["dossier.received"], "areas": None, "buckets": ["1d"]}]}))
    snapshot = feed.until(lambda m: m.get("type") == "snapshot")
    units = pipeline.get("/api/v1/areas")["areas"]
    assert {(v["kpi"], v["area"], v["bucket"]) for v in snapshot["values"]} == {
        ("dossier.received", None, "1d"), ("payment.count", None, "1d"),
        *(("dossier.received", u["code"], "1d") for u in units)}
    pipeline.publish([received_event("parts-1", datetime.now(UTC), area="292")])
    pipeline.publish([payment_event("parts", datetime.now(UTC), area="292")])
    feed.until(lambda m: (m.get("kpi"), m.get("area"), m.get("bucket")) == ("dossier.received", "292", "1d"))
    feed.until(lambda m: (m.get("kpi"), m.get("area"), m.get("bucket")) == ("payment.count", None, "1d"))
    # the province's payment count came, so the unit's (the same batch or an earlier one) was
    # never sent: it is in no part
    assert not [m for m in feed.messages if m.get("type") == "kpi" and m["area"] is not None
                and (m["kpi"] != "dossier.received" or m["bucket"] != "1d")]
    feed.ws.send(json.dumps({"type": "subscribe", "also": [{"stations": None}]}))
    assert "not stations" in feed.until(lambda m: m.get("type") == "error")["error"]


def test_the_auth_message_may_carry_the_subscription(pipeline: Pipeline) -> None:
    # the wall's way: its first snapshot is already the one it wants, not every KPI's
    subscribe = {"kpis": ["payment.count"], "areas": ["province"], "buckets": ["1d"],
                 "also": [{"kpis": ["dossier.received"], "areas": ["291", "292"], "buckets": ["1d"]}]}
    with connect(ws_url(pipeline, None), open_timeout=10) as ws:
        ws.send(json.dumps({"type": "auth", "token": pipeline.tokens["leader"], "subscribe": subscribe}))
        snapshot = json.loads(ws.recv(timeout=10))
        assert snapshot["type"] == "snapshot"
        assert {(v["kpi"], v["area"]) for v in snapshot["values"]} == {
            ("payment.count", None), ("dossier.received", "291"), ("dossier.received", "292")}
        pipeline.publish([received_event("auth-sub-1", datetime.now(UTC), area="292")])
        inbox = Inbox(ws)
        inbox.until(lambda m: (m.get("kpi"), m.get("area")) == ("dossier.received", "292"))
    with connect(ws_url(pipeline, None), open_timeout=10) as ws:
        # a bad one: the default subscription (everything) stands, and an error says why
        ws.send(json.dumps({"type": "auth", "token": pipeline.tokens["leader"],
                            "subscribe": {"kpis": ["no.such"]}}))
        snapshot = json.loads(ws.recv(timeout=10))
        assert snapshot["type"] == "snapshot" and ("payment.count", "291") in {
            (v["kpi"], v["area"]) for v in snapshot["values"]}
        error = json.loads(ws.recv(timeout=10))
        assert error == {"type": "error", "error": "subscribe: unknown kpis: no.such"}
    with connect(ws_url(pipeline, "leader"), open_timeout=10) as ws:
        # after ?token=, an auth message's subscription is taken like a subscribe message
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
        ws.send(json.dumps({"type": "auth", "subscribe": {"kpis": ["payment.count"], "areas": ["province"]}}))
        # (values of the first subscription may still be on their way before the snapshot)
        snapshot = Inbox(ws).until(lambda m: m.get("type") == "snapshot", 10)
        assert {(v["kpi"], v["area"]) for v in snapshot["values"]} == {("payment.count", None)}


def test_token_in_first_message_and_refusals(pipeline: Pipeline) -> None:
    with connect(ws_url(pipeline, None), open_timeout=10) as ws:
        ws.send(json.dumps({"type": "auth", "token": pipeline.tokens["leader"]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"
    for role, code in (("integrator", 4403), (None, 4401)):
        with connect(ws_url(pipeline, role), open_timeout=10) as ws:
            if role is None:
                ws.send(json.dumps({"type": "auth", "token": "wrong"}))
            assert json.loads(ws.recv(timeout=10))["type"] == "error"
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == code


@pytest.mark.parametrize("first", [
    json.dumps({"type": "auth", "token": 5}), json.dumps({"type": "auth", "token": None}),
    json.dumps({"type": "auth", "token": {"a": 1}}), json.dumps({"type": "auth", "token": ""}),
    json.dumps({"type": "auth"}), "not json", json.dumps([1, 2]),
    json.dumps({"type": "auth", "token": "x" * 200_000}), b"\x00binary"],
    ids=["number", "null", "object", "empty", "missing", "not-json", "array", "huge", "binary"])
def test_a_malformed_first_message_gets_a_clean_close(pipeline: Pipeline, first: str | bytes) -> None:
    with connect(ws_url(pipeline, None), open_timeout=10) as ws:
        ws.send(first)
        assert json.loads(ws.recv(timeout=10))["type"] == "error"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4400 and closed.value.rcvd.reason
    with connect(ws_url(pipeline), open_timeout=10) as ws:  # the API carries on
        assert json.loads(ws.recv(timeout=10))["type"] == "snapshot"


def test_a_reconnecting_client_gets_a_fresh_snapshot(pipeline: Pipeline) -> None:
    with connect(ws_url(pipeline), open_timeout=10) as ws:
        first = json.loads(ws.recv(timeout=10))
    pipeline.publish([received_event("re-1", datetime.now(UTC), area="292")])
    pipeline.wait_processed()
    with connect(ws_url(pipeline), open_timeout=10) as ws:
        second = json.loads(ws.recv(timeout=10))
    assert value_of(second, "dossier.received", "292")["value"] == \
        value_of(first, "dossier.received", "292")["value"] + 1


def test_wall_page_and_operations_endpoints(pipeline: Pipeline) -> None:
    page = httpx.get(f"{pipeline.api_url}/wall", timeout=10)
    assert page.status_code == 200 and "wall.js" in page.text
    assert httpx.get(f"{pipeline.api_url}/wall/static/wall.js", timeout=10).status_code == 200
    assert httpx.get(f"{pipeline.api_url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = httpx.get(f"{pipeline.api_url}/readyz", timeout=10).json()
    assert ready["database"] and ready["broker"] and ready["workers"]
    metrics = httpx.get(f"{pipeline.api_url}/metrics", timeout=10).text
    assert "ioc_ws_clients" in metrics
    schema = httpx.get(f"{pipeline.api_url}/openapi.json", timeout=10).json()
    assert "/api/v1/kpis/{kpi_id}/series" in schema["paths"]


def test_a_token_may_hold_only_so_many_connections(pipeline: Pipeline) -> None:
    from dataclasses import replace

    own = replace(pipeline, name=f"{pipeline.name}-cap", procs={})
    own.start_api(env={"IOC_WS_MAX_CONNECTIONS_PER_TOKEN": "2"})
    try:
        first, second = connect(ws_url(own), open_timeout=10), connect(ws_url(own), open_timeout=10)
        assert Inbox(first).until(lambda m: m["type"] == "snapshot")
        Inbox(second).until(lambda m: m["type"] == "snapshot")
        with connect(ws_url(own), open_timeout=10) as third:
            assert "too many connections" in json.loads(third.recv(timeout=10))["error"]
            with pytest.raises(ConnectionClosed) as closed:
                third.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
        with connect(ws_url(own, "leader"), open_timeout=10) as other_token:  # others unaffected
            Inbox(other_token).until(lambda m: m["type"] == "snapshot")
        first.close()
        time.sleep(0.5)
        with connect(ws_url(own), open_timeout=10) as again:  # a freed slot is usable
            Inbox(again).until(lambda m: m["type"] == "snapshot")
        second.close()
    finally:
        for name in list(own.procs):
            own.stop(name)


def test_two_api_processes_each_carry_every_change(pipeline: Pipeline) -> None:
    from dataclasses import replace

    second = replace(pipeline, name=f"{pipeline.name}-second", procs={})
    second.start_api()
    try:
        subscribe = {"type": "subscribe", "kpis": ["dossier.received"], "areas": ["293"],
                     "buckets": ["1d"]}
        with connect(ws_url(pipeline), open_timeout=10) as a, connect(ws_url(second), open_timeout=10) as b:
            inboxes = [Inbox(a), Inbox(b)]
            for inbox in inboxes:
                inbox.until(lambda m: m["type"] == "snapshot")
                inbox.ws.send(json.dumps(subscribe))
                snapshot = inbox.until(lambda m: m["type"] == "snapshot")
                assert {v["bucket"] for v in snapshot["values"]} == {"1d"}
            pipeline.publish([received_event("two-apis", datetime.now(UTC), area="293")])
            got = [inbox.until(lambda m: m["type"] == "kpi") for inbox in inboxes]
            assert got[0]["value"] == got[1]["value"] and got[0]["version"] == got[1]["version"]
            assert all((m["kpi"], m["area"], m["bucket"]) == ("dossier.received", "293", "1d")
                       for m in got)
    finally:
        for name in list(second.procs):
            second.stop(name)
