"""The pure part of the dead-letter store: identity, own text of each event, origins."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ioc.deadletters import (
    DeadLetter,
    element_texts,
    of_http,
    of_rejected_record,
    of_topic_record,
    origin_kind,
    replay_body,
    retention,
)
from ioc.events import ReasonCode, Rejection, Rules, rules_of
from ioc.geography import geography_of
from ioc.ingest import judge_events, parse_body
from ioc.intake import RawRecord
from ioc.settings import Settings
from ioc.strict_json import Fault

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def letter(**changes: object) -> DeadLetter:
    base: dict[str, object] = {"reason": "invalid_data", "detail": "x", "body": b"{}",
                               "origin": "http", "received_at": NOW}
    return DeadLetter(**{**base, **changes})  # type: ignore[arg-type]


def test_identity_is_origin_reason_and_body_only() -> None:
    assert letter().digest == letter(detail="other", received_at=NOW + timedelta(days=1),
                                     event_id="e", source="s").digest
    assert len({letter().digest, letter(origin="replay").digest, letter(reason="too_old").digest,
                letter(body=b"{ }").digest}) == 4
    # parts are length-prefixed: moving bytes between them changes the digest
    assert letter(origin="ab", reason="c").digest != letter(origin="a", reason="bc").digest


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10)


@given(st.lists(json_values, max_size=6), st.sampled_from(["", " ", "\n  "]))
def test_element_texts_are_each_elements_own_text(items: list[object], space: str) -> None:
    texts = [json.dumps(item, indent=1 if i % 2 else None) for i, item in enumerate(items)]
    body = "[" + space + ("," + space).join(texts) + space + "]"
    assert element_texts(body) == texts


def test_element_texts_of_one_object_and_of_nonsense() -> None:
    assert element_texts(' {"a": 1} ') == ['{"a": 1}']
    assert element_texts("[1 2]") is None
    assert element_texts("[" * 5000 + "]" * 5000) is None


def test_http_dead_letters_keep_each_rejected_events_own_text() -> None:
    good = {"specversion": "1.0"}
    raw = b'[{"id": "a", "source": "s", "x": 1, "x": 2},\n 7, ' + json.dumps(good).encode() + b"]"
    judged = judge_events(parse_body(raw, "application/json"), rules=_rules(), now=NOW,
                          allowed_sources=None)
    letters = of_http(raw, judged, NOW)
    assert [(x.reason, x.body, x.event_id, x.source) for x in letters] == [
        ("invalid_json", b'{"id": "a", "source": "s", "x": 1, "x": 2}', "a", "s"),
        ("invalid_envelope", b"7", None, None),
        ("invalid_envelope", json.dumps(good).encode(), None, None),
    ]
    assert all(x.origin == "http" and x.received_at == NOW for x in letters)
    assert [x.body for x in of_http(raw, judged, NOW, "replay", whole=True)] == [raw] * 3


def test_worker_and_topic_dead_letters() -> None:
    record = RawRecord("ioc.events", 2, 40, b"\xff", None, NOW - timedelta(hours=1))
    stored = of_rejected_record(record, Rejection(ReasonCode.INVALID_JSON, "not UTF-8"), NOW)
    assert (stored.origin, stored.received_at, stored.body) == (
        "kafka:ioc.events", record.received_at, b"\xff")
    assert of_topic_record(b"x", {"ioc-original-topic": b"ioc.events"}, "dl", NOW) is None
    copied = of_topic_record(b'{"id": "p1", "source": "pay"}',
                             {"ioc-reason-code": b"invalid_data", "ioc-reason": b"bad amount",
                              "ioc-connector": b"payments"}, "ioc.events.deadletter", NOW)
    assert copied == DeadLetter("invalid_data", "bad amount", b'{"id": "p1", "source": "pay"}',
                                "connector:payments", NOW, "p1", "pay")
    unknown = of_topic_record(b"??", {}, "ioc.events.deadletter", NOW)
    assert unknown is not None and unknown.origin == "kafka:ioc.events.deadletter"
    assert [origin_kind(x) for x in ("http", "replay", "kafka:t", "connector:dvc", "odd")] == [
        "http", "replay", "kafka", "connector", "kafka"]


def test_replay_body_of_unreadable_bytes_is_rejected_again() -> None:
    body = replay_body(b"\xffnot json")
    assert body.faulty and isinstance(body.items[0], Fault)
    judged = judge_events(body, _rules(), NOW, None)
    assert [r.code for r in judged.rejected] == ["invalid_json"]
    assert replay_body(b'{"a": 1}').items == [{"a": 1}]


def test_retention_is_at_least_a_week_and_the_lateness_limit() -> None:
    assert retention(3600) == timedelta(days=7)
    assert retention(30 * 86400) == timedelta(days=30)


def _rules() -> Rules:
    settings = Settings()
    return rules_of(settings, geography_of(settings))
