"""The soak's pure parts: its load is what it says (valid events pass the project's own
validation, spoiled and malformed ones do not), and its recomputation agrees with the
independent reference of tests/reference_kpis.py."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from bench.soak.accounting import (
    AckBook,
    compare,
    expected_cells,
    growth_per_hour,
    longest_gap,
)
from bench.soak.load import Load, probe_minute
from ioc.events import Rejection, rules_of, validate_event
from ioc.geography import HISTORIC, load_geography
from ioc.settings import Settings
from tests.reference_kpis import accepted_events
from tests.reference_kpis import expected_cells as reference_cells

REF = load_geography(HISTORIC)
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
RULES = rules_of(Settings(), REF)
AREAS = sorted(REF.area_codes)


def _load() -> Load:
    return Load(AREAS, seed=3, run="t", source="soak.http")


def test_batches_mix_valid_duplicate_late_and_invalid_as_labelled() -> None:
    load = _load()
    sent = [s for _ in range(20) for s in load.batch(100, NOW)]
    for s in sent:
        judged = validate_event(s.event, RULES, NOW)
        assert isinstance(judged, Rejection) != s.valid, (s, judged)
    keys = [(s.event["source"], s.event["id"]) for s in sent if s.valid]
    assert len(keys) - len(set(keys)) > 20  # resent events
    assert sum(not s.valid for s in sent) > 5
    late = [s for s in sent if s.valid and datetime.fromisoformat(s.event["time"]) < NOW - timedelta(hours=1)]
    assert len(late) > 100


def test_malformed_events_are_all_rejected() -> None:
    load = _load()
    for event in load.malformed_batch(500, NOW):
        assert isinstance(validate_event(event, RULES, NOW), Rejection), event
    for _ in range(50):
        body, ctype = load.malformed_body(NOW)
        if ctype == "text/plain":
            continue  # refused for its content type (415)
        assert isinstance(validate_event(body, RULES, NOW), Rejection), body


def test_webhook_deliveries_become_the_events_the_connector_makes() -> None:
    from connectors.payments import payment_event

    load = _load()
    for _ in range(200):
        made = load.delivery(NOW, "payments.gateway")
        assert payment_event(made.body, "payments.gateway") == made.event
        assert isinstance(validate_event(made.event, RULES, NOW), Rejection) != made.valid


def test_probes_share_one_minute_no_load_event_uses() -> None:
    load = _load()
    minute = probe_minute(NOW, REF.tz)
    probe = load.probe("dossier.received", NOW, REF.tz, "soak.probe")
    assert datetime.fromisoformat(probe["time"]) == minute
    assert not isinstance(validate_event(probe, RULES, NOW), Rejection)
    times = [datetime.fromisoformat(s.event["time"]) for s in load.batch(5000, NOW) if s.valid]
    assert min(times) > minute + timedelta(hours=12)


def test_recomputation_matches_the_reference_kpis() -> None:
    load = _load()
    sent = [s for _ in range(30) for s in load.batch(100, NOW)]
    book = AckBook(REF.tz)
    for s in sent:
        if s.valid:
            book.ack(s.event)
    raws = [json.dumps(s.event).encode() for s in sent]
    ref = {(kpi, scope, start.date()): tuple(cell)
           for (kpi, scope, bucket, start), cell in
           reference_cells(accepted_events(raws, set(AREAS), NOW)).items() if bucket == "1d"}
    mine = expected_cells(book.acked.values())
    assert {k: v for k, v in ref.items() if k[0] in {c[0] for c in mine}} == mine
    assert book.acks == sum(s.valid for s in sent) and len(book.acked) < book.acks


def test_compare_splits_missing_and_excess_by_province_event_counters() -> None:
    day = date(2026, 11, 29)
    expected = {("dossier.received", "", day): (10, 0), ("dossier.received", "288", day): (10, 0),
                ("payment.count", "", day): (5, 0), ("payment.value_vnd", "", day): (500, 0)}
    got = {("dossier.received", "", day): (12, 0), ("dossier.received", "288", day): (12, 0),
           ("payment.count", "", day): (4, 0), ("payment.value_vnd", "", day): (400, 0),
           ("payment.non_cash_rate", "", day): (0, 0)}
    c = compare(expected, got)
    assert (c.excess_events, c.missing_events, c.missing_vnd, c.excess_vnd) == (2, 1, 100, 0)
    assert len(c.wrong_cells) == 4
    assert compare(expected, dict(expected)).wrong_cells == []


def test_gap_and_growth() -> None:
    assert longest_gap([0.0, 1.0, 5.0, 5.5]) == (4.0, 1.0)
    assert growth_per_hour([(0.0, 0.0), (1800.0, 5.0), (3600.0, 10.0)]) == 10.0
    assert growth_per_hour([(0.0, 1.0)]) is None
