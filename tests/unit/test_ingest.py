"""The pure part of HTTP ingest: body parsing, per-event judgement, source binding."""

import json

import pytest

from ioc.ingest import BodyError, judge_events, parse_body
from tests.unit.test_events import NOW, RULES, received


def body(value: object) -> bytes:
    return json.dumps(value).encode()


def test_one_event_or_an_array_per_content_type() -> None:
    assert len(parse_body(body(received()), "application/cloudevents+json").items) == 1
    assert len(parse_body(body([received(), received()]), "application/json; charset=utf-8").items) == 2
    assert len(parse_body(body([received()]), "application/cloudevents-batch+json").items) == 1
    assert len(parse_body(body(received()), None).items) == 1


@pytest.mark.parametrize(("raw", "content_type", "status", "words"), [
    (b"{not json", "application/json", 400, "malformed JSON"),
    (b"\xff\xfe{}", "application/json", 400, "not valid UTF-8"),
    (body([received()]), "application/cloudevents+json", 400, "one event"),
    (body(received()), "application/cloudevents-batch+json", 400, "array"),
    (body([]), "application/json", 400, "empty"),
    (body([received()] * 1001), "application/json", 413, "at most 1000"),
    (body(received()), "text/plain", 415, "unsupported content type"),
])
def test_unreadable_bodies_are_refused_whole(raw: bytes, content_type: str, status: int,
                                             words: str) -> None:
    with pytest.raises(BodyError) as caught:
        parse_body(raw, content_type)
    assert caught.value.status == status
    assert words in caught.value.reason


def test_valid_events_are_kept_and_invalid_ones_rejected_with_index_and_reason() -> None:
    items = [received(id="a"), received(id="b", data_area="999"), "text", received(id="c"),
             received(id="d", time="2026-03-26T11:00:00+07:00")]
    judged = judge_events(items, RULES, NOW, None)
    assert [p.index for p in judged.publish] == [0, 3]
    assert [p.key for p in judged.publish] == [b"D1", b"D1"]
    assert json.loads(judged.publish[0].value) == items[0]  # extra fields kept as sent
    assert [(r.index, r.id, r.code) for r in judged.rejected] == [
        (1, "b", "unknown_area"), (2, None, "invalid_envelope"), (4, "d", "future_time")]
    assert "999" in judged.rejected[0].reason
    assert not judged.forbidden_sources


def test_a_bound_key_may_only_publish_for_its_sources() -> None:
    items = [received(id="a"), received(id="b", source="payments.gw"), received(id="c")]
    judged = judge_events(items, RULES, NOW, ("dvc.haiduong",))
    assert judged.forbidden_sources == {"payments.gw"}
    assert not judge_events(items[:1], RULES, NOW, ("dvc.haiduong",)).forbidden_sources
    assert not judge_events(items, RULES, NOW, None).forbidden_sources
