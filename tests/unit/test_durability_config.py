"""Production durability settings (Kafka itself cannot run here: its configuration is
checked as the code builds it) and the entry time that travels with each record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from ioc.events import rules_of
from ioc.geography import HISTORIC, load_geography
from ioc.intake import RawRecord, received_at_header, received_at_of, triage
from ioc.settings import Settings
from ioc.topics import PRODUCER_ACKS, new_topics, producer_config

NOW = datetime(2026, 3, 26, 9, 0, tzinfo=UTC)


def test_a_three_broker_cluster_gets_replication_3_and_min_insync_2() -> None:
    settings = Settings(topic_replication=3, topic_min_insync_replicas=2)
    topics = new_topics(settings)
    assert {t.name for t in topics} == {settings.events_topic, settings.deadletter_topic,
                                        settings.changes_topic}
    for topic in topics:
        assert topic.replication_factor == 3
        assert topic.topic_configs == {"min.insync.replicas": "2"}


def test_the_embedded_default_is_one_replica() -> None:
    assert {t.replication_factor for t in new_topics(Settings())} == {1}


def test_producers_wait_for_every_in_sync_replica() -> None:
    assert PRODUCER_ACKS == "all"
    config = producer_config(Settings(), "x")
    assert config["acks"] == "all" and config["max_in_flight_requests_per_connection"] == 1


def test_the_entry_time_round_trips_through_a_header() -> None:
    name, value = received_at_header(NOW)
    assert received_at_of([(name, value)]) == NOW
    assert received_at_of({name: value}) == NOW
    assert received_at_of(None) is None
    assert received_at_of([(name, b"not a number")]) is None


def _event(when: datetime) -> bytes:
    return json.dumps({
        "specversion": "1.0", "id": "e-1", "source": "t", "type": "payment.completed",
        "time": when.isoformat(),
        "data": {"payment_id": "p-1", "area": "288", "amount_vnd": 1000,
                 "method": "cash", "purpose": "fee"}}).encode()


def test_limits_are_judged_at_entry_never_later_than_now() -> None:
    rules = rules_of(Settings(), load_geography(HISTORIC))
    old = NOW - timedelta(days=7, minutes=3)
    held_back = RawRecord("t", 0, 0, _event(old), received_at=NOW - timedelta(minutes=5))
    fresh = RawRecord("t", 0, 1, _event(old))
    assert len(triage([held_back], rules, NOW).accepted) == 1
    assert triage([fresh], rules, NOW).rejected[0][1].code.value == "too_old"
    # An entry time in the future does not let a future event in.
    ahead = NOW + timedelta(hours=1)
    claims_future = RawRecord("t", 0, 2, _event(ahead), received_at=ahead)
    assert triage([claims_future], rules, NOW).rejected[0][1].code.value == "future_time"
