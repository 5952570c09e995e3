"""Strict JSON for events (docs/contract/events.md): duplicate names, non-finite numbers, nesting,
lone surrogates and the 64 KiB limit, over one raw record (the stream worker's path) and over
a batch body (HTTP ingest, where each fault rejects its own event by index)."""

from __future__ import annotations

import json

import pytest

from ioc.events import Event, ReasonCode, Rejection, validate_event
from ioc.ingest import BodyError, judge_events, parse_body
from ioc.strict_json import MAX_DEPTH, MAX_EVENT_BYTES, StrictJSONError, loads, parse
from tests.unit.test_events import NOW, RULES, received

VALID = json.dumps(received())


def with_data(fragment: str) -> str:
    """The valid event's text with ``fragment`` spliced in as the first members of ``data``."""
    return VALID.replace('"data": {', '"data": {' + fragment + ", ", 1)


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(("text", "words"), [
    (with_data('"area": "999"'), "duplicate member name 'area'"),
    (VALID.replace('"specversion": "1.0",', '"specversion": "1.0", "specversion": "1.0",'),
     "duplicate member name 'specversion'"),
    (with_data('"x": {"a": 1, "a": 2}'), "duplicate member name 'a'"),
    (with_data('"x": NaN'), "NaN"),
    (with_data('"x": Infinity'), "Infinity"),
    (with_data('"x": [1, -Infinity]'), "-Infinity"),
    (with_data('"x": 1e999'), "1e999 overflows"),
    (with_data('"x": -1.5e400'), "overflows"),
    (with_data('"x": ' + "9" * 400), "400 characters overflows"),
    (with_data('"x": ' + "9" * 5000), "overflows"),
    (with_data('"x": ' + deep(MAX_DEPTH)), f"deeper than {MAX_DEPTH}"),
    (with_data('"x": ' + deep(10_000)), "nested too deeply"),
    (with_data('"x": "\\ud800"'), "lone UTF-16 surrogate"),
    (with_data('"x": "\\udc00 and \\\\ud800"'), "lone UTF-16 surrogate"),
])
def test_a_record_breaking_strict_json_is_invalid_json(text: str, words: str) -> None:
    outcome = validate_event(text.encode(), RULES, NOW)
    assert isinstance(outcome, Rejection), outcome
    assert outcome.code is ReasonCode.INVALID_JSON
    assert words in outcome.reason


@pytest.mark.parametrize("fragment", [
    '"x": 1e308', '"x": ' + "9" * 300, '"x": "\\ud83d\\ude00 and \\\\ud800"',
    '"x": ' + deep(MAX_DEPTH - 3), '"x": [{"a": 1}, {"a": 2}]',
])
def test_strict_json_still_takes_what_is_valid(fragment: str) -> None:
    assert isinstance(validate_event(with_data(fragment).encode(), RULES, NOW), Event)


def test_a_record_over_64_kib_is_too_large_before_it_is_parsed() -> None:
    big = with_data('"note": "' + "x" * MAX_EVENT_BYTES + '"').encode()
    outcome = validate_event(big, RULES, NOW)
    assert isinstance(outcome, Rejection)
    assert outcome.code is ReasonCode.TOO_LARGE
    assert "65,536" in outcome.reason
    assert validate_event(b"{" * (MAX_EVENT_BYTES + 1), RULES, NOW).code is ReasonCode.TOO_LARGE  # type: ignore[union-attr]


def test_loads_raises_for_any_fault_and_parse_leaves_them_in_place() -> None:
    with pytest.raises(StrictJSONError):
        loads('{"a": 1, "a": 1}')
    parsed = parse('[{"a": 1, "a": 2}, {"b": NaN}, {"c": 1}]')
    assert parsed.faulty
    assert parsed.value[2] == {"c": 1}
    assert not parse('[{"a": 1}]').faulty


def test_a_batch_rejects_each_faulty_event_by_index_and_keeps_the_others() -> None:
    good = [received(id=f"ok{i}", data_dossier_id=f"D{i}") for i in range(3)]
    texts = [
        json.dumps(good[0]),
        with_data('"area": "999"').replace("dvc-000123-recv", "dup"),  # duplicate names
        json.dumps(good[1]),
        with_data('"x": Infinity').replace("dvc-000123-recv", "inf"),
        with_data('"note": "' + "x" * 900_000 + '"').replace("dvc-000123-recv", "big"),
        with_data('"x": "\\ud800"').replace("dvc-000123-recv", "surrogate"),
        with_data('"x": ' + deep(200)).replace("dvc-000123-recv", "deep"),
        json.dumps(good[2]),
    ]
    body = parse_body(("[" + ",".join(texts) + "]").encode(), "application/json")
    judged = judge_events(body, RULES, NOW, None)
    assert [p.index for p in judged.publish] == [0, 2, 7]
    assert [(r.index, r.id, r.code) for r in judged.rejected] == [
        (1, "dup", "invalid_json"), (3, "inf", "invalid_json"), (4, "big", "too_large"),
        (5, "surrogate", "invalid_json"), (6, "deep", "invalid_json")]
    assert "duplicate member name 'area'" in judged.rejected[0].reason
    for published in judged.publish:  # what goes to Kafka is what the worker accepts
        assert isinstance(validate_event(published.value, RULES, NOW), Event)


def test_an_event_whose_top_object_has_duplicate_names_is_rejected_with_its_id() -> None:
    text = VALID.replace('"source": "dvc.haiduong",', '"source": "dvc.haiduong", "source": "x",')
    judged = judge_events(parse_body(text.encode(), None), RULES, NOW, None)
    assert [(r.index, r.id, r.code) for r in judged.rejected] == [(0, "dvc-000123-recv", "invalid_json")]


def test_a_body_nested_beyond_the_parser_is_refused_as_a_whole_with_400() -> None:
    with pytest.raises(BodyError) as caught:
        parse_body(deep(10_000).encode(), "application/json")
    assert caught.value.status == 400
    assert "nested too deeply" in caught.value.reason


@pytest.mark.parametrize(("changes", "code", "words"), [
    ({"data_dossier_id": "D\x001"}, ReasonCode.INVALID_DATA, "control characters"),
    ({"data_agency_code": "A\nB"}, ReasonCode.INVALID_DATA, "control characters"),
    ({"time": "0001-01-01T00:00:00+07:00"}, ReasonCode.INVALID_ENVELOPE, "out of range"),
    ({"data_due_at": "9999-12-31T23:59:59-07:00"}, ReasonCode.INVALID_DATA, "out of range"),
])
def test_values_that_would_break_storage_or_time_arithmetic_are_rejected(
        changes: dict[str, object], code: ReasonCode, words: str) -> None:
    outcome = validate_event(json.dumps(received(**changes)).encode(), RULES, NOW)
    assert isinstance(outcome, Rejection)
    assert (outcome.code, words in outcome.reason) == (code, True), outcome
