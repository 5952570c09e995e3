"""The dead-letter store against the real stack: every way in (HTTP, the worker's Kafka path,
a connector's dead letter on the topic) stored once, listed, filtered, replayed, kept across
an API restart; roles (docs/contract/api.md, "Dead letters")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition

from connectors.publisher import EventPublisher
from ioc.embedded.processes import wait_until
from ioc.storage.offsets import committed_positions
from tests.integration.conftest import Pipeline

pytestmark = pytest.mark.integration

LISTING = "/api/v1/deadletters"


def event(n: str, *, source: str = "dl.test", area: str = "288", **data: Any) -> dict[str, Any]:
    when = datetime.now(UTC) - timedelta(minutes=1)
    return {"specversion": "1.0", "id": f"dl-{n}", "source": source, "type": "dossier.received",
            "time": when.isoformat(),
            "data": {"dossier_id": f"DL-{n}", "service_code": "S", "agency_code": "A",
                     "area": area, "channel": "online", "service_level": "full_online",
                     "due_at": (when + timedelta(days=3)).isoformat(), **data}}


@pytest.fixture(scope="module")
def client(pipeline: Pipeline) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as http:
        yield http


def call(pipeline: Pipeline, client: httpx.Client, method: str, path: str, role: str | None,
         **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", {})
    if role:
        headers["Authorization"] = f"Bearer {pipeline.tokens[role]}"
    return client.request(method, f"{pipeline.api_url}{path}", headers=headers, **kwargs)


def listing(pipeline: Pipeline, **params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = pipeline.get(LISTING, "operator", limit=1000, **params)
    return answer


def rows_with_body(pipeline: Pipeline, body: bytes) -> list[tuple[str, str | None]]:
    """(origin, replayed_at) of every stored dead letter with these exact bytes."""
    with psycopg.connect(pipeline.settings.database_url) as conn:
        rows = conn.execute("SELECT origin, replayed_at::text FROM dead_letters WHERE body = %s"
                            " ORDER BY id", (body,)).fetchall()
    return [(r[0], r[1]) for r in rows]


def topic_copied(pipeline: Pipeline) -> bool:
    """The worker has copied every record of the dead-letter topic so far."""
    topic = pipeline.settings.deadletter_topic
    consumer = KafkaConsumer(bootstrap_servers=pipeline.settings.kafka_bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in range(pipeline.settings.event_partitions)]
        ends = {tp.partition: int(o) for tp, o in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()
    with psycopg.connect(pipeline.settings.database_url) as conn:
        done = committed_positions(conn, pipeline.cluster_id, pipeline.settings.worker_id, topic)
    return all(done.get(p, 0) >= end for p, end in ends.items() if end > 0)


def ingest(pipeline: Pipeline, client: httpx.Client, content: bytes) -> dict[str, Any]:
    answer = call(pipeline, client, "POST", "/api/v1/events", "integrator", content=content,
                  headers={"Content-Type": "application/json"})
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_http_rejections_are_listed_with_their_own_text(pipeline: Pipeline, client: httpx.Client) -> None:
    bad_area = json.dumps(event("h1", source="dl.http", area="999"))
    bad_data = json.dumps(event("h2", source="dl.http", channel="pigeon"), indent=1)
    body = f'[{bad_area},\n  {json.dumps(event("h3", source="dl.http"))}, {bad_data}, 42]'.encode()
    answer = ingest(pipeline, client, body)
    assert answer["accepted"] == 1 and [r["index"] for r in answer["rejected"]] == [0, 2, 3]
    again = ingest(pipeline, client, body)  # a retried request: no second dead letter
    assert again["rejected"] == answer["rejected"]

    listed = listing(pipeline, source="dl.http")
    assert listed["total"] == 2
    by_id = {d["event_id"]: d for d in listed["deadletters"]}
    assert by_id["dl-h1"]["reason"] == "unknown_area" and by_id["dl-h1"]["body"] == bad_area
    assert by_id["dl-h2"]["reason"] == "invalid_data" and by_id["dl-h2"]["body"] == bad_data
    assert "channel" in by_id["dl-h2"]["detail"]
    assert all(d["replayed_at"] is None and d["received_at"] for d in by_id.values())
    assert rows_with_body(pipeline, b"42") == [("http", None)]


def test_a_bad_record_on_the_events_topic_is_stored_once(pipeline: Pipeline) -> None:
    unreadable = b"\xff not an event, kafka path"
    too_far = json.dumps(event("k1", source="dl.kafka", area="998")).encode()
    pipeline.publish([unreadable, too_far, unreadable])  # the same bytes twice: one dead letter
    pipeline.wait_processed()
    assert rows_with_body(pipeline, unreadable) == [(f"kafka:{pipeline.settings.events_topic}", None)]
    listed = listing(pipeline, source="dl.kafka")
    assert [(d["event_id"], d["reason"], d["body"]) for d in listed["deadletters"]] == [
        ("dl-k1", "unknown_area", too_far.decode())]
    unread = [d for d in listing(pipeline, reason="invalid_json")["deadletters"]
              if d["body"].endswith("not an event, kafka path")]
    assert len(unread) == 1 and unread[0]["event_id"] is None and unread[0]["source"] is None


def test_a_nul_in_a_rejected_events_text_is_kept_without_breaking_the_store(
        pipeline: Pipeline, client: httpx.Client) -> None:
    """PostgreSQL's text refuses NUL: an id, source or detail that carries one (escaped, as
    JSON allows) is stored with U+FFFD in its place, the bytes as sent; the batch's valid
    event is accepted, over HTTP and on the Kafka path alike."""
    nul_id = json.dumps({**event("n1", source="dl.nul"), "id": "dl-n\u00001"})
    bad_time = json.dumps({**event("n2", source="dl.nul"), "time": "x\u0000"})
    good = json.dumps(event("n3", source="dl.nul"))
    answer = ingest(pipeline, client, f"[{nul_id}, {good}, {bad_time}]".encode())
    assert answer["accepted"] == 1 and [r["index"] for r in answer["rejected"]] == [0, 2]
    pipeline.publish([json.dumps({**event("n4", source="dl.nul"), "source": "Bad\u0000"}).encode()])
    pipeline.wait_processed()
    stored = listing(pipeline, reason="invalid_envelope")["deadletters"]
    mine = [d for d in stored if "dl-n" in (d["event_id"] or "") or "n4" in d["body"]]
    assert {d["event_id"] for d in mine} >= {"dl-n\ufffd1", "dl-n2", "dl-n4"}
    assert all("\x00" not in (d["detail"] + (d["source"] or "")) for d in mine)
    assert any(d["body"] == nul_id for d in mine)


def test_a_connectors_dead_letter_is_copied_from_the_topic_once(pipeline: Pipeline) -> None:
    raw = b'{"payment_ref": "P-77", "amount": "lots"}'
    publisher = EventPublisher(pipeline.settings, client_id="test-dl-connector")
    try:  # sent twice, as a connector re-reading its input after a crash would
        for _ in range(2):
            publisher.dead_letter([(raw, "invalid_data", "amount is not a number")], connector="payments")
            if pipeline.settings.intake_journal:  # the embedded default: stored before the topic
                assert rows_with_body(pipeline, raw) == [("connector:payments", None)]
    finally:
        publisher.close()
    wait_until(lambda: topic_copied(pipeline) and bool(rows_with_body(pipeline, raw)), timeout_s=90,
               what="the dead-letter topic copied", interval_s=0.25)
    assert rows_with_body(pipeline, raw) == [("connector:payments", None)]
    found = [d for d in listing(pipeline, reason="invalid_data")["deadletters"] if d["body"] == raw.decode()]
    assert len(found) == 1 and found[0]["detail"] == "amount is not a number"


def test_filters_and_pages(pipeline: Pipeline, client: httpx.Client) -> None:
    body = json.dumps([event(f"f{i}", source="dl.filter", area="997") for i in range(5)]).encode()
    ingest(pipeline, client, body)
    everything = listing(pipeline, source="dl.filter")
    assert everything["total"] == 5
    assert {d["reason"] for d in everything["deadletters"]} == {"unknown_area"}
    assert listing(pipeline, source="dl.filter", reason="too_old")["total"] == 0
    first = pipeline.get(LISTING, "admin", source="dl.filter", limit=2)
    second = pipeline.get(LISTING, "admin", source="dl.filter", limit=2, offset=2)
    assert first["total"] == second["total"] == 5
    ids = [d["id"] for d in first["deadletters"] + second["deadletters"]]
    assert len(set(ids)) == 4 and ids == [d["id"] for d in everything["deadletters"][:4]]
    times = [d["received_at"] for d in everything["deadletters"]]
    assert times == sorted(times, reverse=True)


def received_today(pipeline: Pipeline, area: str) -> float:
    return float(pipeline.get("/api/v1/kpis/dossier.received/current", area=area)["value"] or 0)


def test_replay_as_sent_and_corrected(pipeline: Pipeline, client: httpx.Client) -> None:
    ingest(pipeline, client, json.dumps(event("r1", source="dl.replay", area="996")).encode())
    (letter,) = listing(pipeline, source="dl.replay")["deadletters"]
    path = f"{LISTING}/{letter['id']}/replay"

    again = call(pipeline, client, "POST", path, "admin")  # as sent: still rejected
    assert again.status_code == 202, again.text
    assert again.json()["accepted"] == 0 and "unknown_area" in again.json()["rejected"][0]["reason"]
    letters = listing(pipeline, source="dl.replay")["deadletters"]
    assert len(letters) == 2
    old = next(d for d in letters if d["id"] == letter["id"])
    new = next(d for d in letters if d["id"] != letter["id"])
    assert old["replayed_at"] is not None and new["replayed_at"] is None
    assert new["body"] == letter["body"] and new["reason"] == "unknown_area"

    before = received_today(pipeline, "295")
    fixed = event("r1", source="dl.replay", area="295")
    corrected = call(pipeline, client, "POST", f"{LISTING}/{new['id']}/replay", "admin",
                     content=json.dumps(fixed), headers={"Content-Type": "application/cloudevents+json"})
    assert corrected.status_code == 202, corrected.text
    assert corrected.json() == {"accepted": 1, "rejected": []}
    wait_until(lambda: received_today(pipeline, "295") > before, timeout_s=60,
               what="the corrected event counted", interval_s=0.25)
    assert received_today(pipeline, "295") == before + 1
    letters = listing(pipeline, source="dl.replay")["deadletters"]
    assert len(letters) == 2 and all(d["replayed_at"] is not None for d in letters)


def test_roles_unknown_ids_and_bad_bodies(pipeline: Pipeline, client: httpx.Client) -> None:
    assert call(pipeline, client, "GET", LISTING, None).status_code == 401
    for role in ("leader", "integrator"):
        assert call(pipeline, client, "GET", LISTING, role).status_code == 403
    assert call(pipeline, client, "GET", LISTING, "admin").status_code == 200
    some = listing(pipeline)["deadletters"][0]["id"]
    replay = f"{LISTING}/{some}/replay"
    assert call(pipeline, client, "POST", replay, None).status_code == 401
    for role in ("operator", "leader", "integrator"):
        assert call(pipeline, client, "POST", replay, role).status_code == 403
    assert call(pipeline, client, "POST", f"{LISTING}/999999999/replay", "admin").status_code == 404
    batch = call(pipeline, client, "POST", replay, "admin", content=b"[{}]",
                 headers={"Content-Type": "application/json"})
    assert batch.status_code == 400
    assert call(pipeline, client, "GET", LISTING, "operator", params={"limit": 0}).status_code == 422


def test_dead_letters_outlive_an_api_restart(pipeline: Pipeline, client: httpx.Client) -> None:
    before = listing(pipeline)
    pipeline.stop("api")
    pipeline.start_api()
    assert listing(pipeline) == before
    assert "ioc_deadletters_stored_total" in client.get(f"{pipeline.metrics_url}").text
