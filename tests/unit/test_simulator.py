from collections import Counter
from datetime import UTC, datetime, timedelta

from connectors.simulator import Simulator
from ioc.events import Event, Rules, validate_event
from ioc.geography import HISTORIC, load_geography

REF = load_geography(HISTORIC)
TUESDAY_10H = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 10:00 in Hai Duong


def make(start: datetime = TUESDAY_10H, seed: int = 1) -> Simulator:
    return Simulator(REF, seed=seed, source="sim.test", rate=20, start=start)


def test_same_seed_and_clock_give_the_same_events() -> None:
    a, b = make(), make()
    assert a.backlog(TUESDAY_10H, 2) == b.backlog(TUESDAY_10H, 2)
    span = (TUESDAY_10H, TUESDAY_10H + timedelta(minutes=3))
    assert a.between(*span) == b.between(*span)
    assert make(seed=2).between(*span) != make().between(*span)


def test_events_are_valid_and_realistic() -> None:
    sim = make()
    sim.backlog(TUESDAY_10H, 2)
    events = sim.between(TUESDAY_10H, TUESDAY_10H + timedelta(minutes=20))
    rules = Rules(REF)
    judged = [validate_event(e, rules, TUESDAY_10H + timedelta(minutes=20)) for e in events]
    assert all(isinstance(j, Event) for j in judged), [j for j in judged if not isinstance(j, Event)][:3]
    kinds = Counter(e["type"] for e in events)
    assert set(kinds) == {"dossier.received", "dossier.resolved", "dossier.withdrawn",
                          "payment.completed", "sensor.reading"}
    received = [e for e in events if e["type"] == "dossier.received"]
    online = sum(e["data"]["channel"] == "online" for e in received) / len(received)
    assert 0.8 < online < 0.97  # the province reports about 89%
    levels = Counter(e["data"]["service_level"] for e in received)
    assert levels["full_online"] and levels["partial_online"]
    resolved = [e for e in events if e["type"] == "dossier.resolved"]
    on_time = sum(e["time"] <= e["data"]["due_at"] for e in resolved) / len(resolved)
    assert on_time > 0.85
    payments = [e for e in events if e["type"] == "payment.completed"]
    assert 0.5 < sum(p["data"]["method"] != "cash" for p in payments) / len(payments) < 0.85
    # every station reports each of its metrics once a minute
    readings = Counter((e["data"]["station_id"], e["data"]["metric"]) for e in events
                       if e["type"] == "sensor.reading")
    assert set(readings.values()) == {20}
    assert {e["data"]["area"] for e in events} == set(REF.area_codes)


def test_counters_close_outside_office_hours() -> None:
    sunday = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    sim = make(sunday)
    events = sim.between(sunday, sunday + timedelta(minutes=20))
    received = [e for e in events if e["type"] == "dossier.received"]
    assert received and all(e["data"]["channel"] == "online" for e in received)
