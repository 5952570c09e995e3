from datetime import UTC, datetime, timedelta

from ioc.events import Rules
from ioc.geography import HISTORIC, load_geography
from ioc.intake import RawRecord, triage
from ioc.kpis.stations import reading_times, silent_at
from tests.generator import generate_stream
from tests.reference_kpis import accepted_events, expected_silent

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
REF = load_geography(HISTORIC)
STREAM = generate_stream(13, NOW, 4000)
TEN = timedelta(minutes=10)


def test_silent_stations_equal_the_reference_at_many_instants() -> None:
    accepted = triage([RawRecord("t", 0, i, r) for i, r in enumerate(STREAM)], Rules(REF), NOW).accepted
    readings = reading_times(accepted)
    events = accepted_events(STREAM, set(REF.area_codes), NOW)
    seen_silent = 0
    for minutes in range(0, 3 * 24 * 60, 41):
        t = NOW - timedelta(minutes=minutes)
        got = {("sensor.stations_silent", k): v for k, v in silent_at(readings, t, TEN).items()}
        assert got == expected_silent(events, t, TEN), t
        seen_silent += bool(got)
    assert seen_silent > 20


def test_a_station_is_silent_only_between_ten_minutes_and_a_day() -> None:
    readings = {("ST", NOW): "288"}
    assert silent_at(readings, NOW + timedelta(minutes=10), TEN) == {"": 1, "288": 1}
    assert silent_at(readings, NOW + timedelta(minutes=9, seconds=59), TEN) == {}
    assert silent_at(readings, NOW + timedelta(hours=24), TEN) == {}
    assert silent_at(readings, NOW + timedelta(hours=23, minutes=59), TEN) == {"": 1, "288": 1}
