import json
from datetime import UTC, datetime, timedelta

import pytest

from ioc.event_data import DossierReceived, SensorReading
from ioc.events import Event, ReasonCode, Rejection, Rules, validate_event
from ioc.geography import HISTORIC, load_geography

NOW = datetime(2026, 3, 26, 3, 0, tzinfo=UTC)
RULES = Rules(load_geography(HISTORIC))


def received(**changes: object) -> dict:
    event = {
        "specversion": "1.0", "id": "dvc-000123-recv", "source": "dvc.haiduong",
        "type": "dossier.received", "time": "2026-03-26T09:15:00+07:00",
        "datacontenttype": "application/json",
        "data": {"dossier_id": "D1", "service_code": "1.000001", "agency_code": "UBND-288",
                 "area": "288", "channel": "online", "service_level": "full_online",
                 "due_at": "2026-03-30T17:00:00+07:00"},
    }
    for key, value in changes.items():
        if key.startswith("data_"):
            event["data"][key[5:]] = value
        else:
            event[key] = value
    return event


def reject(event: object) -> Rejection:
    raw = event if isinstance(event, bytes) else json.dumps(event).encode()
    outcome = validate_event(raw, RULES, NOW)
    assert isinstance(outcome, Rejection), outcome
    return outcome


def test_a_valid_event_is_accepted_with_typed_data() -> None:
    outcome = validate_event(json.dumps(received()).encode(), RULES, NOW)
    assert isinstance(outcome, Event)
    assert isinstance(outcome.data, DossierReceived)
    assert outcome.entity_key == "D1"
    assert outcome.time == datetime(2026, 3, 26, 2, 15, tzinfo=UTC)


def test_unknown_extra_fields_are_kept_and_ignored() -> None:
    outcome = validate_event(received(data_note="hello", extension="x"), RULES, NOW)
    assert isinstance(outcome, Event)


@pytest.mark.parametrize(("event", "code", "words"), [
    (b"{oops", ReasonCode.INVALID_JSON, "malformed JSON"),
    (b"\xff\xfe", ReasonCode.INVALID_JSON, "UTF-8"),
    ([1, 2], ReasonCode.INVALID_ENVELOPE, "JSON object"),
    (received(specversion="0.3"), ReasonCode.INVALID_ENVELOPE, "'specversion'"),
    (received(id=""), ReasonCode.INVALID_ENVELOPE, "'id'"),
    (received(id="x" * 129), ReasonCode.INVALID_ENVELOPE, "'id'"),
    (received(id="tab\there"), ReasonCode.INVALID_ENVELOPE, "printable"),
    (received(source="DVC"), ReasonCode.INVALID_ENVELOPE, "'source'"),
    (received(time="2026-03-26T09:15:00"), ReasonCode.INVALID_ENVELOPE, "explicit offset"),
    (received(time=1711419300), ReasonCode.INVALID_ENVELOPE, "'time'"),
    (received(type="dossier.lost"), ReasonCode.UNKNOWN_TYPE, "dossier.lost"),
    (received(data_channel="fax"), ReasonCode.INVALID_DATA, "'data.channel'"),
    (received(data_area="999"), ReasonCode.UNKNOWN_AREA, "'999'"),
    (received(data_due_at="2026-03-26T09:00:00+07:00"), ReasonCode.INVALID_DATA, "after"),
    (received(time="2026-03-26T10:06:00+07:00", data_due_at="2026-04-26T10:00:00+07:00"),
     ReasonCode.FUTURE_TIME, "future"),
    (received(time="2026-03-18T09:00:00+07:00"), ReasonCode.TOO_OLD, "lateness limit"),
])
def test_each_bad_event_is_rejected_with_a_readable_reason(event: object, code: ReasonCode,
                                                           words: str) -> None:
    rejection = reject(event)
    assert rejection.code is code
    assert words in rejection.reason


def test_a_missing_field_is_named() -> None:
    event = received()
    del event["data"]["agency_code"]
    assert reject(event).reason == "field 'data.agency_code' is required"


def test_payment_amount_must_be_a_positive_integer() -> None:
    payment = {"specversion": "1.0", "id": "p1", "source": "pay.gw", "type": "payment.completed",
               "time": "2026-03-26T09:15:00+07:00",
               "data": {"payment_id": "P1", "area": "290", "amount_vnd": 10.5,
                        "method": "qr", "purpose": "fee"}}
    assert "'data.amount_vnd'" in reject(payment).reason
    payment["data"]["amount_vnd"] = "1000"
    assert reject(payment).code is ReasonCode.INVALID_DATA
    payment["data"]["amount_vnd"] = 0
    assert reject(payment).code is ReasonCode.INVALID_DATA
    payment["data"]["amount_vnd"] = 15000
    assert isinstance(validate_event(payment, RULES, NOW), Event)


@pytest.mark.parametrize(("value", "code"), [
    ("NaN", ReasonCode.INVALID_JSON), ("Infinity", ReasonCode.INVALID_JSON),  # strict JSON (v2)
    (True, ReasonCode.INVALID_DATA), ("12", ReasonCode.INVALID_DATA)])
def test_sensor_values_must_be_finite_numbers(value: object, code: ReasonCode) -> None:
    reading = {"specversion": "1.0", "id": "s1", "source": "sensors", "type": "sensor.reading",
               "time": "2026-03-26T09:15:00+07:00",
               "data": {"station_id": "ST1", "area": "291", "metric": "pm2_5", "value": value}}
    raw = json.dumps(reading).replace('"NaN"', "NaN").replace('"Infinity"', "Infinity")
    assert reject(raw.encode()).code is code


def test_sensor_reading_accepts_integers() -> None:
    reading = {"specversion": "1.0", "id": "s1", "source": "sensors", "type": "sensor.reading",
               "time": "2026-03-26T09:15:00+07:00",
               "data": {"station_id": "ST1", "area": "291", "metric": "noise_db", "value": 55}}
    outcome = validate_event(reading, RULES, NOW)
    assert isinstance(outcome, Event) and isinstance(outcome.data, SensorReading)
    assert outcome.data.value == 55.0


def test_time_limits_follow_the_rules() -> None:
    rules = Rules(load_geography(HISTORIC), lateness_limit=timedelta(days=1),
                  future_tolerance=timedelta(minutes=1))
    late = received(time="2026-03-25T09:00:00+07:00")
    assert validate_event(late, rules, NOW) == Rejection(
        ReasonCode.TOO_OLD,
        "field 'time': 2026-03-25T09:00:00+07:00 is older than the lateness limit of 1 days",
        "dvc.haiduong", "dvc-000123-recv")
