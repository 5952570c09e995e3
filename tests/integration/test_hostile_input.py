"""Hostile input against a real API process (issue 12, part 5; docs/contract/api.md, events.md): the
issue's exact inputs get a clear 4xx or a per-event rejection with the right reason, none
of it reaches the KPIs, and a stalled upload or stalled headers are cut."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ioc.embedded.processes import wait_until
from tests.integration.conftest import Pipeline, Services, running_pipeline

pytestmark = pytest.mark.integration

BODY_TIMEOUT_S = 3
HEADER_TIMEOUT_S = 3
AREA = "297"


@pytest.fixture(scope="module")
def pipeline(services: Services) -> Iterator[Pipeline]:
    env = {"IOC_API_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
           "IOC_API_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S)}
    with running_pipeline(services, "p_hostile", env=env) as pipe:
        yield pipe


@pytest.fixture(scope="module")
def client(pipeline: Pipeline) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pipeline.api_url, timeout=30) as http:
        yield http


def text_event(n: str, data_fragment: str = "") -> str:
    """A valid dossier.received in AREA as text, with ``data_fragment`` spliced in first."""
    when = datetime.now(UTC) - timedelta(minutes=1)
    event = {"specversion": "1.0", "id": f"hostile-{n}", "source": "hostile.test",
             "type": "dossier.received", "time": when.isoformat(),
             "data": {"dossier_id": f"H-{n}", "service_code": "S", "agency_code": "A",
                      "area": AREA, "channel": "online", "service_level": "full_online",
                      "due_at": (when + timedelta(days=3)).isoformat()}}
    text = json.dumps(event)
    return text.replace('"data": {', '"data": {' + data_fragment + ", ", 1) if data_fragment else text


def auth(pipeline: Pipeline, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {pipeline.tokens[role]}"}


def received_today(pipeline: Pipeline) -> float:
    value = pipeline.get("/api/v1/kpis/dossier.received/current", area=AREA)["value"]
    return float(value or 0)


@pytest.mark.parametrize(("path", "params", "role"), [
    ("/api/v1/kpis/sensor.avg/series", {"metric": "pm2_5", "station_id": "a\x00b"}, "operator"),
    ("/api/v1/kpis/dossier.received/series", {"agency_code": "\x00"}, "operator"),
    ("/api/v1/kpis/dossier.received/current", {"area": "29\x007"}, "leader"),
    ("/api/v1/alerts", {"station": "\x00"}, "operator"),
    ("/api/v1/alerts", {"before_id": "9223372036854775808"}, "operator"),
    ("/api/v1/alerts", {"rule_id": str(10**30)}, "admin"),
    ("/api/v1/alerts", {"limit": str(10**12)}, "admin"),
    ("/api/v1/audit", {"before_id": "9223372036854775808"}, "admin"),
    ("/api/v1/kpis/dossier.received/series", {"start": "0001-01-01T00:00:00+07:00"}, "operator"),
    ("/api/v1/kpis/dossier.received/series", {"bucket": "1d", "start": "0001-01-01T00:00:00Z",
                                              "end": "0002-01-01T00:00:00Z"}, "operator"),
    ("/api/v1/kpis/dossier.received/series", {"end": "9999-12-31T23:59:59-07:00"}, "operator"),
    ("/api/v1/alerts/9223372036854775808", {}, "operator"),
    ("/api/v1/alert-rules/-1", {}, "admin"),
])
def test_hostile_query_and_path_values_get_422(pipeline: Pipeline, client: httpx.Client, path: str,
                                               params: dict[str, str], role: str) -> None:
    answer = client.get(path, params=params, headers=auth(pipeline, role))
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]


@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/keys", {"name": "nul\x00name"}),
    ("/api/v1/keys", {"name": "x", "sources": ["a\x00"]}),
    ("/api/v1/keys/9223372036854775808/revoke", None),
])
def test_hostile_admin_bodies_get_4xx(pipeline: Pipeline, client: httpx.Client, path: str,
                                      body: Any) -> None:
    answer = client.post(path, json=body, headers=auth(pipeline, "admin"))
    assert answer.status_code in (400, 422), answer.text


def test_the_issues_hostile_events_are_refused_or_rejected_with_their_reason_and_count_nowhere(
        pipeline: Pipeline, client: httpx.Client) -> None:
    headers = {**auth(pipeline, "integrator"), "Content-Type": "application/json"}
    before = received_today(pipeline)

    deep = client.post("/api/v1/events", content="[" * 10_000 + "]" * 10_000, headers=headers)
    assert deep.status_code == 400, deep.text
    assert "nested too deeply" in deep.json()["detail"]

    batch = [
        text_event("dup", '"area": "999"'),  # "area":"999","area":"297"
        text_event("inf", '"extra": Infinity'),
        text_event("nan", '"x": [1, {"y": NaN}]'),
        text_event("overflow", '"x": 1e999'),
        text_event("big", '"extra": "' + "x" * 900_000 + '"'),
        text_event("nested", '"x": ' + "[" * 100 + "]" * 100),
        text_event("surrogate", '"x": "\\ud800"'),
        text_event("nul", '"dossier_id": "H-\\u0000"').replace('"dossier_id": "H-nul", ', ""),
        text_event("year1").replace(datetime.now(UTC).strftime("%Y-"), "0001-", 1),
        text_event("sentinel"),
    ]
    answer = client.post("/api/v1/events", content="[" + ",".join(batch) + "]", headers=headers)
    assert answer.status_code == 202, answer.text
    result = answer.json()
    assert result["accepted"] == 1
    reasons = {r["index"]: (r["id"], r["reason"].split(":", 1)[0]) for r in result["rejected"]}
    assert reasons == {
        0: ("hostile-dup", "invalid_json"), 1: ("hostile-inf", "invalid_json"),
        2: ("hostile-nan", "invalid_json"), 3: ("hostile-overflow", "invalid_json"),
        4: ("hostile-big", "too_large"), 5: ("hostile-nested", "invalid_json"),
        6: ("hostile-surrogate", "invalid_json"), 7: ("hostile-nul", "invalid_data"),
        8: ("hostile-year1", "invalid_envelope")}
    assert "duplicate member name 'area'" in result["rejected"][0]["reason"]

    single = client.post("/api/v1/events", content=text_event("one-big", '"x": "' + "y" * 900_000 + '"'),
                         headers={**headers, "Content-Type": "application/cloudevents+json"})
    assert single.status_code == 202, single.text  # one event over 64 KiB: rejected, not refused
    assert [r["reason"].split(":")[0] for r in single.json()["rejected"]] == ["too_large"]

    wait_until(lambda: received_today(pipeline) - before >= 1, timeout_s=60,
               what="the sentinel event in the KPIs", interval_s=0.25)
    assert received_today(pipeline) - before == 1  # the sentinel alone


def _raw(pipeline: Pipeline) -> socket.socket:
    host, port = pipeline.api_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (or 30 s pass: the test then fails)."""
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    return got


@pytest.mark.parametrize(("path", "role"), [("/api/v1/events", "integrator"), ("/api/v1/keys", "admin")])
def test_a_stalled_upload_is_answered_408_and_closed(pipeline: Pipeline, path: str, role: str) -> None:
    with _raw(pipeline) as sock:
        started = time.monotonic()
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Authorization: Bearer {pipeline.tokens[role]}\r\n"
                      "Content-Length: 1000\r\n\r\n[{\"spec").encode())
        answer = _answer(sock)  # the body never comes
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"not complete within 3 s" in answer
    assert waited < 30


def test_stalled_headers_are_cut(pipeline: Pipeline) -> None:
    with _raw(pipeline) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # headers never end
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    with _raw(pipeline) as sock:  # a connection that sends nothing is closed
        assert _answer(sock) == b""


RULE = ('{"name": "hostile %s", "kpi": "dossier.on_time_rate", "bucket": "1d", "scope": "areas", '
        '"comparison": "below", "threshold": %s, "recovery": 96, "severity": "warning"}')


@pytest.mark.parametrize(("method", "path", "role", "body"), [
    ("GET", "/wall/static/%00", None, None),
    ("GET", "/wall/static/..%2f..%2f..%2fetc%2fpasswd", None, None),
    ("GET", "/api/v1/kpis/%ff%fe/series", "operator", None),
    ("GET", "/api/v1/alerts?state=%ff%fe&area=%ed%a0%80", "operator", None),
    ("POST", "/api/v1/alert-rules", "admin", RULE % ("nan", "NaN")),
    ("POST", "/api/v1/alert-rules", "admin", RULE % ("inf", "1e999")),
    ("POST", "/api/v1/alert-rules", "admin", RULE % ("nul\\u0000", "90")),
    ("POST", "/api/v1/alert-rules", "admin", "[" * 10_000 + "]" * 10_000),
    ("POST", "/api/v1/alerts/1/comments", "operator", '{"comment": "a\\u0000b"}'),
    ("POST", "/api/v1/alerts/1/ack", "operator", '{"comment": "\\ud800"}'),
])
def test_odd_requests_get_4xx(pipeline: Pipeline, client: httpx.Client, method: str, path: str,
                              role: str | None, body: str | None) -> None:
    headers = {"Content-Type": "application/json", **(auth(pipeline, role) if role else {})}
    answer = client.request(method, path, content=body, headers=headers)
    assert 400 <= answer.status_code < 500, answer.text


@pytest.mark.parametrize("header", [
    b"Authorization: Bearer ioc_op_\x00x", b"Authorization: Bearer \xff\xfe\xc3(",
    b"Authorization: Basic Zm9vOmJhcg==", b"Authorization: Bearer " + b"x" * 10_000,
    b"X-Big: " + b"y" * 40_000,
])
def test_odd_headers_get_4xx(pipeline: Pipeline, header: bytes) -> None:
    with _raw(pipeline) as sock:
        sock.sendall(b"GET /api/v1/kpis HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + header
                     + b"\r\n\r\n")
        answer = _answer(sock)
    assert answer[9:10] == b"4", answer[:300]
