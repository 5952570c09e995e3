"""The pure KPI math against the independent reference, and its algebra (hypothesis)."""

import itertools
import json
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ioc.events import Event, Rules, validate_event
from ioc.geography import HISTORIC, load_geography
from ioc.intake import RawRecord, triage
from ioc.kpis.buckets import Bucket
from ioc.kpis.counters import CellKey, Cells, bucket_cells, event_cells, merge, rollup
from tests.generator import generate_stream
from tests.reference_kpis import (
    accepted_events,
    expected_agency_ratios,
    expected_breakdowns,
    expected_cells,
)

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
ICT = timedelta(hours=7)
REF = load_geography(HISTORIC)
RULES = Rules(REF)
STREAM = generate_stream(7, NOW, 600)


def records(raws: list[bytes]) -> list[RawRecord]:
    return [RawRecord("t", 0, i, raw) for i, raw in enumerate(raws)]


def accepted(raws: list[bytes]) -> list[Event]:
    return triage(records(raws), RULES, NOW).accepted


def all_sizes(minute_cells: Cells) -> dict[tuple[str, str, str, datetime], list[int]]:
    out = {}
    for size in Bucket:
        cells = minute_cells if size is Bucket.MINUTE else rollup(minute_cells, size, ICT)
        for key, (num, den) in cells.items():
            if key.dim == "":
                out[(key.kpi, key.area, size.value, key.bucket)] = [num, den]
    return out


def test_cells_equal_the_reference_computation() -> None:
    expected = expected_cells(accepted_events(STREAM, set(REF.area_codes), NOW))
    got = all_sizes(event_cells(accepted(STREAM), ICT))
    assert got == {k: v for k, v in expected.items()}
    assert len(got) > 1000


def test_breakdowns_equal_the_reference_computation() -> None:
    """Every breakdown cell: the counters' by agency, channel, service level and method, and
    the service index's ratios by agency (numerator and denominator)."""
    events = accepted_events(STREAM, set(REF.area_codes), NOW)
    expected: dict[tuple[str, str, str, str, datetime], list[int]] = {
        (kpi, dim, value, size, start): [n, 0]
        for (kpi, _, dim, value, size, start), n in expected_breakdowns(events).items()}
    expected.update({(kpi, "agency_code", agency, size, start): cell
                     for (kpi, agency, size, start), cell in expected_agency_ratios(events).items()})
    got = {}
    for size, cells in bucket_cells(accepted(STREAM), ICT).items():
        for key, (num, den) in cells.items():
            if key.dim:
                got[(key.kpi, key.dim, key.dim_value, size.value, key.bucket)] = [num, den]
    assert got == expected
    assert {k[0] for k in got if k[1] == "agency_code"} >= {
        "dossier.synced_rate", "dossier.fee_online_rate", "feedback.satisfied_rate",
        "dossier.satisfied_rate", "dossier.rated", "feedback.received"}


def test_triage_keeps_the_first_of_each_source_and_id() -> None:
    result = triage(records(STREAM), RULES, NOW)
    keys = [(e.source, e.id) for e in result.accepted]
    assert len(keys) == len(set(keys))
    assert len(result.accepted) + len(result.duplicates) + len(result.rejected) == len(STREAM)
    assert len(result.duplicates) == 30 and len(result.rejected) == 18


def test_breakdowns_sum_to_their_totals() -> None:
    cells = event_cells(accepted(STREAM), ICT)
    totals: dict[tuple[str, str, str, datetime], int] = {}
    for key, (num, _) in cells.items():
        if key.dim:
            k = (key.kpi, key.area, key.dim, key.bucket)
            totals[k] = totals.get(k, 0) + num
    for (kpi, area, _dim, bucket), total in totals.items():
        assert cells[CellKey(kpi, area, "", "", bucket)][0] == total
    assert totals and all(area == "" for _, area, _, _ in totals)  # province-wide only


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=8),
       st.randoms(use_true_random=False))
def test_any_split_in_any_order_gives_the_same_cells(cuts: list[int], rnd: object) -> None:
    events = accepted(STREAM)
    bounds = sorted({0, len(events), *(min(c, len(events)) for c in cuts)})
    batches = [events[a:b] for a, b in itertools.pairwise(bounds)]
    rnd.shuffle(batches)  # type: ignore[attr-defined]
    combined: Cells = {}
    for batch in batches:
        merge(combined, event_cells(batch, ICT))
    assert combined == event_cells(events, ICT)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3 * 86400), st.integers(0, 11),
                          st.sampled_from(["online", "counter", "postal"])), max_size=60))
def test_rollups_of_rollups_match_direct_rollups(items: list[tuple[int, int, str]]) -> None:
    events = []
    for n, (age, area, channel) in enumerate(items):
        time = NOW - timedelta(seconds=age)
        raw = {"specversion": "1.0", "id": f"e{n}", "source": "h", "type": "dossier.received",
               "time": time.isoformat(),
               "data": {"dossier_id": f"D{n}", "service_code": "s", "agency_code": "a",
                        "area": REF.units[area].code, "channel": channel,
                        "service_level": "offline", "due_at": (time + timedelta(days=1)).isoformat()}}
        event = validate_event(json.dumps(raw), RULES, NOW)
        assert isinstance(event, Event)
        events.append(event)
    minute = event_cells(events, ICT)
    hour = rollup(minute, Bucket.HOUR, ICT)
    assert rollup(hour, Bucket.DAY, ICT) == rollup(minute, Bucket.DAY, ICT)
    received = sum(n for k, (n, _) in minute.items()
                   if k.kpi == "dossier.received" and not k.area and not k.dim)
    assert received == len(events)
