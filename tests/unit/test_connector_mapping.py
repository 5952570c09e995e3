"""The connectors' pure parts: mapping source records to CloudEvents, webhook signatures."""

import json

import pytest

from connectors.dvc import Unmappable, change_to_event
from connectors.payments import payment_event
from connectors.replay import csv_event
from connectors.sensors import reading_events
from ioc.signing import SignatureError, sign, verify

RECEIVED = {"seq": 7, "dossier_id": "000123", "status": "received",
            "changed_at": "2026-03-26T09:15:00+07:00", "service_code": "1.0001",
            "agency_code": "UBND-288", "area": "288", "channel": "online",
            "service_level": "full_online", "due_at": "2026-03-30T17:00:00+07:00", "extra": 1}


def test_a_dvc_change_becomes_a_dossier_event_with_a_natural_id() -> None:
    event = change_to_event(RECEIVED, "dvc.haiduong")
    assert isinstance(event, dict)
    assert event["id"] == "000123:received" and event["type"] == "dossier.received"
    assert event["time"] == RECEIVED["changed_at"]
    assert event["data"]["dossier_id"] == "000123" and "extra" not in event["data"]
    withdrawn = change_to_event({"dossier_id": "9", "status": "withdrawn", "area": "288",
                                 "changed_at": "2026-03-26T10:00:00+07:00"}, "dvc")
    assert isinstance(withdrawn, dict) and withdrawn["type"] == "dossier.withdrawn"


def test_dvc_changes_carry_the_service_index_fields_ratings_and_feedback() -> None:
    """Issue 15: the optional dossier fields pass on when given; ratings and the system's
    citizen feedback become dossier.rated and feedback.*, with ids that cannot clash."""
    rich = change_to_event({**RECEIVED, "synced_national": True, "fee_vnd": 50000,
                            "fee_paid_online": False}, "dvc")
    assert isinstance(rich, dict)
    assert rich["data"]["synced_national"] is True and rich["data"]["fee_vnd"] == 50000
    assert "digitized" not in rich["data"]
    rated = change_to_event({"dossier_id": "000123", "status": "rated", "agency_code": "UBND-288",
                             "area": "288", "satisfied": False,
                             "changed_at": "2026-03-27T09:00:00+07:00"}, "dvc")
    assert isinstance(rated, dict) and rated["type"] == "dossier.rated"
    assert rated["id"] == "000123:rated" and rated["data"]["satisfied"] is False
    base = {"feedback_id": "000123", "agency_code": "SO-TP", "area": "288",
            "due_at": "2026-04-05T17:00:00+07:00", "changed_at": "2026-03-27T09:00:00+07:00"}
    opened = change_to_event({**base, "status": "feedback_received"}, "dvc")
    closed = change_to_event({**base, "status": "feedback_resolved", "satisfied": True}, "dvc")
    assert isinstance(opened, dict) and isinstance(closed, dict)
    assert (opened["type"], opened["id"]) == ("feedback.received", "feedback:000123:received")
    assert (closed["type"], closed["id"]) == ("feedback.resolved", "feedback:000123:resolved")
    assert closed["data"]["satisfied"] is True and "dossier_id" not in closed["data"]
    lacking = change_to_event({**base, "status": "feedback_received", "feedback_id": ""}, "dvc")
    assert isinstance(lacking, Unmappable) and "feedback_id" in lacking.reason


@pytest.mark.parametrize(("change", "code", "words"), [
    ({**RECEIVED, "status": "archived"}, "unknown_status", "archived"),
    ({k: v for k, v in RECEIVED.items() if k != "due_at"}, "unmappable_change", "due_at"),
    ("text", "unmappable_change", "object"),
])
def test_unmappable_changes_say_why(change: object, code: str, words: str) -> None:
    result = change_to_event(change, "dvc")
    assert isinstance(result, Unmappable) and result.code == code and words in result.reason


def test_signatures_verify_and_refuse_tampering_staleness_and_garbage() -> None:
    body = b'{"a": 1}'
    header = sign(b"k", 1000, body)
    assert verify(b"k", header, body, 1100, 300) == (1000, header.split("v1=")[1])
    cases = [(sign(b"k", 1000, body), b'{"a": 2}', 1100, 401),
             (sign(b"other", 1000, body), body, 1100, 401),
             (header, body, 1400, 401),
             ("garbage", body, 1100, 400), (None, body, 1100, 400)]
    for given, sent, now, status in cases:
        with pytest.raises(SignatureError) as caught:
            verify(b"k", given, sent, now, 300)
        assert caught.value.status == status


def test_payment_deliveries_map_or_say_why() -> None:
    data = {"transaction_id": "TX1", "amount": 5000, "currency": "VND", "method": "qr",
            "purpose": "fee", "area": "288", "paid_at": "2026-03-26T09:15:00+07:00"}
    event = payment_event({"type": "payment.succeeded", "data": data}, "pg")
    assert isinstance(event, dict)
    assert event["id"] == "pay:TX1" and event["data"]["amount_vnd"] == 5000
    assert "USD" in str(payment_event({"data": {**data, "currency": "USD"}}, "pg"))
    assert "paid_at" in str(payment_event({"data": {**data, "paid_at": ""}}, "pg"))


def test_a_station_message_becomes_one_reading_per_metric() -> None:
    message = {"station_id": "S1", "area": "288", "ts": "2026-03-26T09:15:00+07:00",
               "readings": {"pm2_5": 35.2, "no2": 12}}
    events = reading_events(json.dumps(message).encode(), "sensors")
    assert isinstance(events, list)
    assert sorted(e["id"] for e in events) == ["S1:no2:2026-03-26T09:15:00+07:00",
                                               "S1:pm2_5:2026-03-26T09:15:00+07:00"]
    assert "not UTF-8 JSON" in str(reading_events(b"\xff", "s"))
    assert "readings" in str(reading_events(json.dumps({**message, "readings": {}}).encode(), "s"))


def test_csv_rows_keep_ids_as_strings_and_amounts_as_numbers() -> None:
    row = {"id": "p1", "source": "csv", "type": "payment.completed", "time": "2026-03-26T09:15:00+07:00",
           "data.payment_id": "000123", "data.amount_vnd": "15000", "data.area": "288",
           "data.service_code": ""}
    event = csv_event(row)
    assert event["data"] == {"payment_id": "000123", "amount_vnd": 15000, "area": "288"}
    assert csv_event({**row, "data": '{"x": 1}'})["data"] == {"x": 1}


def test_integrators_may_still_send_the_v1_name_district() -> None:
    """The dvc changes, payment deliveries and station messages of v1 said ``district``."""
    v1 = {k: v for k, v in RECEIVED.items() if k != "area"} | {"district": "288"}
    event = change_to_event(v1, "dvc")
    assert isinstance(event, dict) and event["data"]["area"] == "288" and "district" not in event["data"]
    paid = payment_event({"data": {"transaction_id": "TX1", "amount": 5000, "method": "qr",
                                   "purpose": "fee", "district": "288",
                                   "paid_at": "2026-03-26T09:15:00+07:00"}}, "pg")
    assert isinstance(paid, dict) and paid["data"]["area"] == "288"
    message = {"station_id": "S1", "district": "288", "ts": "2026-03-26T09:15:00+07:00",
               "readings": {"pm2_5": 3}}
    readings = reading_events(json.dumps(message).encode(), "s")
    assert isinstance(readings, list) and readings[0]["data"]["area"] == "288"
