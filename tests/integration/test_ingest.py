"""HTTP ingest against the real stack: status codes of docs/contract/api.md, per-event reasons, keys bound
to sources, admin key management, the broker gone (503), and a fuzz of the endpoint."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ioc.embedded.processes import wait_until
from ioc.topics import ensure_topics
from tests.integration.conftest import Pipeline, Services, own_broker
from tests.integration.ioc_cli import run_ioc

pytestmark = pytest.mark.integration

CE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def event(n: int | str, *, source: str = "http.test", area: str = "288",
          when: datetime | None = None, **data: Any) -> dict[str, Any]:
    when = when or datetime.now(UTC) - timedelta(minutes=1)
    return {"specversion": "1.0", "id": f"http-{n}", "source": source, "type": "dossier.received",
            "time": when.isoformat(), "region": "kept-and-ignored",
            "data": {"dossier_id": f"HD-{n}", "service_code": "S", "agency_code": "A",
                     "area": area, "channel": "online", "service_level": "full_online",
                     "due_at": (when + timedelta(days=3)).isoformat(), **data}}


@pytest.fixture(scope="module")
def client(pipeline: Pipeline) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pipeline.api_url, timeout=30) as http:
        yield http


def post(client: httpx.Client, token: str | None, content: bytes | str,
         content_type: str = "application/json") -> httpx.Response:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/api/v1/events", content=content, headers=headers)


def received_today(pipeline: Pipeline, area: str | None = None) -> float:
    params = {"area": area} if area else {}
    value = pipeline.get("/api/v1/kpis/dossier.received/current", **params)["value"]
    return float(value or 0)


def test_accepted_events_reach_the_kpis_once_and_duplicates_change_nothing(
        pipeline: Pipeline, client: httpx.Client) -> None:
    token = pipeline.tokens["integrator"]
    before = received_today(pipeline, "290")
    single = post(client, token, json.dumps(event("one", area="290")), CE)
    assert single.status_code == 202, single.text
    assert single.json() == {"accepted": 1, "rejected": []}
    batch = [event(f"b{i}", area="290") for i in range(5)] + [event("one", area="290")]
    answer = post(client, token, json.dumps(batch), BATCH)
    assert answer.status_code == 202
    assert answer.json() == {"accepted": 6, "rejected": []}
    again = post(client, token, json.dumps(batch))  # a retried request: all duplicates
    assert again.status_code == 202

    wait_until(lambda: received_today(pipeline, "290") - before >= 6, timeout_s=60,
               what="the ingested events in the KPIs", interval_s=0.25)
    assert received_today(pipeline, "290") - before == 6
    text = client.get("/metrics").text
    # the embedded default's integrator key is bound to no source: its sources are "other"
    # (label values stay bounded whatever sources an integrator writes)
    assert 'ioc_ingest_events_total{outcome="accepted",reason="",source="other"}' in text
    assert 'source="http.test"' not in text


def test_a_batch_keeps_its_valid_events_and_names_each_rejection(
        pipeline: Pipeline, client: httpx.Client) -> None:
    future = datetime.now(UTC) + timedelta(hours=1)
    items: list[Any] = [event("m0"), event("m1", area="999"), 42,
                        {**event("m3"), "type": "dossier.lost"}, event("m4", when=future),
                        event("m5", channel="fax"), event("m6")]
    answer = post(client, pipeline.tokens["integrator"], json.dumps(items))
    assert answer.status_code == 202
    result = answer.json()
    assert result["accepted"] == 2
    got = {r["index"]: (r["id"], r["reason"].split(":", 1)[0]) for r in result["rejected"]}
    assert got == {1: ("http-m1", "unknown_area"), 2: (None, "invalid_envelope"),
                   3: ("http-m3", "unknown_type"), 4: ("http-m4", "future_time"),
                   5: ("http-m5", "invalid_data")}
    assert "channel" in next(r["reason"] for r in result["rejected"] if r["index"] == 5)


@pytest.mark.parametrize(("content", "content_type", "status"), [
    (b"{oops", "application/json", 400),
    (b"\xc3\x28", "application/json", 400),
    (b"[]", "application/json", 400),
    (b"{}", "text/csv", 415),
])
def test_unreadable_requests_get_a_clear_error(pipeline: Pipeline, client: httpx.Client,
                                               content: bytes, content_type: str,
                                               status: int) -> None:
    answer = post(client, pipeline.tokens["integrator"], content, content_type)
    assert answer.status_code == status
    assert answer.json()["detail"]


def test_keys_roles_and_sources(pipeline: Pipeline, client: httpx.Client) -> None:
    body = json.dumps(event("auth"))
    assert post(client, None, body).status_code == 401
    assert post(client, "ioc_int_not-a-key", body).status_code == 401
    assert post(client, pipeline.tokens["operator"], body).status_code == 403

    admin = {"Authorization": f"Bearer {pipeline.tokens['admin']}"}
    made = client.post("/api/v1/keys", headers=admin,
                       json={"name": "payments gateway", "sources": ["pay.gw"]})
    assert made.status_code == 201, made.text
    key = made.json()
    assert key["sources"] == ["pay.gw"] and key["token"].startswith("ioc_int_")
    assert client.post("/api/v1/keys", headers={
        "Authorization": f"Bearer {pipeline.tokens['operator']}"}, json={"name": "x"}).status_code == 403
    assert client.post("/api/v1/keys", headers=admin,
                       json={"name": "x", "role": "operator", "sources": ["a"]}).status_code == 400

    mixed = [event("own", source="pay.gw"), event("other", source="dvc.haiduong")]
    refused = post(client, key["token"], json.dumps(mixed))
    assert refused.status_code == 403
    assert "dvc.haiduong" in refused.json()["detail"]
    assert post(client, key["token"], json.dumps(mixed[:1])).json()["accepted"] == 1

    listed = client.get("/api/v1/keys", headers=admin).json()
    assert key["id"] in [k["id"] for k in listed]
    assert all("token" not in k for k in listed)
    revoked = client.post(f"/api/v1/keys/{key['id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_by"] == "api:embedded default admin"
    assert post(client, key["token"], json.dumps(mixed[:1])).status_code == 401
    assert client.post(f"/api/v1/keys/{key['id']}/revoke", headers=admin).status_code == 404


def test_size_limits(pipeline: Pipeline, client: httpx.Client) -> None:
    token = pipeline.tokens["integrator"]
    too_many = [event(f"n{i}") for i in range(1001)]
    assert post(client, token, json.dumps(too_many)).status_code == 413
    padded = event("big", note="x" * (1024 * 1024))
    assert post(client, token, json.dumps(padded), CE).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while reading
        yield b"["
        for i in range(2000):
            yield json.dumps(event(f"s{i}", note="y" * 600)).encode() + b","
        yield b"1]"

    streamed = client.post("/api/v1/events", content=chunks(), headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_a_declared_oversize_body_is_refused_before_it_is_sent(pipeline: Pipeline) -> None:
    host, port = pipeline.api_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall((f"POST /api/v1/events HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Bearer {pipeline.tokens['integrator']}\r\n"
                      "Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n").encode())
        answer = sock.recv(4096).decode()  # the server answers without waiting for the body
    assert answer.startswith("HTTP/1.1 413"), answer


def test_503_when_the_broker_cannot_take_the_events(services: Services, pipeline: Pipeline) -> None:
    with own_broker(services, "ingest-503") as broker:
        own = replace(pipeline, name=f"{pipeline.name}-503", procs={},
                      settings=pipeline.settings.model_copy(update={"kafka_bootstrap": broker.bootstrap}))
        ensure_topics(own.settings)
        own.start_api(env={"IOC_INGEST_ACK_TIMEOUT_S": "3"})
        try:
            with httpx.Client(base_url=own.api_url, timeout=30) as http:
                assert post(http, own.tokens["integrator"], json.dumps(event("up"))).status_code == 202
                broker.stop()
                answer = post(http, own.tokens["integrator"], json.dumps(event("down")))
                assert answer.status_code == 503, answer.text
                assert "retry" in answer.json()["detail"]
                assert http.get("/healthz").status_code == 200  # the API itself carries on
        finally:
            for name in list(own.procs):
                own.stop(name)


_DOCUMENTED: set[str] = set()


def documented_statuses(client: httpx.Client) -> set[str]:
    if not _DOCUMENTED:
        spec = client.get("/openapi.json").json()
        _DOCUMENTED.update(spec["paths"]["/api/v1/events"]["post"]["responses"])
    return _DOCUMENTED


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20)
mutated_events = st.builds(
    lambda n, key, value, drop: {k: v for k, v in {**event(f"fz{n}"), key: value}.items() if k != drop},
    st.integers(0, 10**9),
    st.sampled_from(["id", "source", "type", "time", "specversion", "data", "extra"]),
    json_values,
    st.sampled_from(["", "id", "data", "time"]))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=st.one_of(json_values, mutated_events, st.lists(mutated_events, min_size=1, max_size=8),
                         st.binary(max_size=200).map(lambda b: {"raw": b.hex()})),
       raw=st.one_of(st.none(), st.binary(max_size=100)))
def test_fuzz_every_answer_is_a_documented_status_and_accounts_for_every_event(
        pipeline: Pipeline, client: httpx.Client, payload: Any, raw: bytes | None) -> None:
    content = raw if raw is not None else json.dumps(payload)
    answer = post(client, pipeline.tokens["integrator"], content)
    assert answer.status_code in (202, 400, 413), answer.text
    assert str(answer.status_code) in documented_statuses(client)  # the OpenAPI says so
    if answer.status_code == 202:
        sent = json.loads(content)
        events = sent if isinstance(sent, list) else [sent]
        result = answer.json()
        assert result["accepted"] + len(result["rejected"]) == len(events)
        assert all(r["reason"] for r in result["rejected"])
    else:
        assert answer.json()["detail"]


def test_the_simulator_can_publish_through_http_ingest(pipeline: Pipeline, client: httpx.Client) -> None:
    before = received_today(pipeline)
    counted = accepted_as_other(client)
    env = {**pipeline.env(), "IOC_SIM_VIA": "http", "IOC_SIM_INGEST_URL": pipeline.api_url,
           "IOC_SIM_TOKEN": pipeline.tokens["integrator"], "IOC_SIM_RATE": "50",
           "IOC_SIM_BACKLOG_DAYS": "0", "IOC_SIM_SOURCE": "sim.http"}
    done = run_ioc("simulate", "--duration", "4", env=env, timeout_s=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ingest rejected" not in done.stderr
    wait_until(lambda: received_today(pipeline) > before, timeout_s=60,
               what="simulated events through ingest", interval_s=0.25)
    # the key is bound to no source, so its events count under "other" (bounded labels)
    assert accepted_as_other(client) > counted
    assert 'source="sim.http"' not in client.get("/metrics").text


def accepted_as_other(client: httpx.Client) -> float:
    line = 'ioc_ingest_events_total{outcome="accepted",reason="",source="other"} '
    for text in client.get("/metrics").text.splitlines():
        if text.startswith(line):
            return float(text[len(line):])
    return 0.0
