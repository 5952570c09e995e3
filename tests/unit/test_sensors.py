"""Sensor aggregates: equal to the independent reference, and independent of batching."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ioc.events import Event, Rules
from ioc.geography import HISTORIC, load_geography
from ioc.intake import RawRecord, triage
from ioc.kpis.buckets import Bucket
from ioc.kpis.sensors import (
    SENSOR_KPIS,
    SensorCells,
    aggregate_value,
    exact,
    merge_sensors,
    rollup_sensors,
    sensor_cells,
)
from tests.generator import generate_stream
from tests.reference_kpis import accepted_events, expected_sensor_values

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
ICT = timedelta(hours=7)
REF = load_geography(HISTORIC)
STREAM = generate_stream(5, NOW, 3000)


def accepted() -> list[Event]:
    return triage([RawRecord("t", 0, i, r) for i, r in enumerate(STREAM)], Rules(REF), NOW).accepted


def values(minute: SensorCells) -> dict:
    out = {}
    for size in Bucket:
        cells = minute if size is Bucket.MINUTE else rollup_sensors(minute, size, ICT)
        for key, agg in cells.items():
            for kpi in SENSOR_KPIS:
                out[(kpi, key.metric, key.area, key.station_id, size.value, key.bucket)] = \
                    aggregate_value(kpi, agg)
    return out


def test_sensor_values_equal_the_reference() -> None:
    expected = expected_sensor_values(accepted_events(STREAM, set(REF.area_codes), NOW))
    got = values(sensor_cells(accepted(), ICT))
    assert len(expected) > 1000
    assert got == expected


@settings(max_examples=50, deadline=None)
@given(st.permutations(range(8)))
def test_batching_and_order_do_not_change_means(order: list[int]) -> None:
    events = [e for e in accepted() if e.type == "sensor.reading"]
    chunks = [events[i::8] for i in range(8)]
    combined: SensorCells = {}
    for index in order:
        merge_sensors(combined, sensor_cells(chunks[index], ICT))
    assert combined == sensor_cells(events, ICT)


def test_exact_keeps_the_written_decimal() -> None:
    assert exact(0.1) == Decimal("0.1")
    assert exact(41.6) + exact(0.2) == Decimal("41.8")  # a float sum would give 41.800000000000004
