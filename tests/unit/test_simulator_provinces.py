"""The simulator on today's two-tier geography (issue 14): per-unit volumes that differ as
real ones do, the deployment's agencies at province and commune level, stations spread
over units; and the historic profile's output unchanged."""

from __future__ import annotations

import hashlib
import json
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from connectors.sim_traffic import unit_weights
from connectors.simulator import Simulator
from ioc.events import Event, Rules, validate_event
from ioc.geography import HISTORIC, Geography, load_geography
from ioc.geography.agencies import COMMUNE, PROVINCE, Agencies, Agency, load_agencies

TUESDAY_10H = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 10:00 local
HAI_PHONG = load_geography("31")
HCMC = load_geography("79")


def make(geography: Geography = HAI_PHONG, seed: int = 2026, rate: float = 20,
         agencies: Agencies | None = None) -> Simulator:
    return Simulator(geography, seed=seed, source="sim.test", rate=rate, start=TUESDAY_10H,
                     agencies=agencies)


@cache
def long_run(code: str) -> tuple[dict[str, Any], ...]:
    """36,000 dossiers received over a week (the backlog: cheap to make)."""
    return tuple(make(load_geography(code), rate=600).backlog(TUESDAY_10H, 7))


LIVE_MINUTES = 5


@cache
def live(code: str) -> tuple[dict[str, Any], ...]:
    """Five minutes of every kind of event, after a day's backlog."""
    sim = make(load_geography(code))
    sim.backlog(TUESDAY_10H, 1)
    return tuple(sim.between(TUESDAY_10H, TUESDAY_10H + timedelta(minutes=LIVE_MINUTES)))


def test_historic_profile_output_is_unchanged() -> None:
    """Pinned from the simulator before issue 14 (the same script gave the same digest on
    both versions): the historic profile's tests and benchmarks depend on it."""
    sim = Simulator(load_geography(HISTORIC), seed=7, source="sim.golden", rate=10, start=TUESDAY_10H)
    events = sim.backlog(TUESDAY_10H, 1) + sim.between(TUESDAY_10H, TUESDAY_10H + timedelta(minutes=2))
    assert len(events) == 2969
    text = "\n".join(json.dumps(e, sort_keys=True, ensure_ascii=False) for e in events)
    assert hashlib.sha256(text.encode()).hexdigest() == \
        "f0f775ffd68e3d2506c9177c2239d4aa15230f08c159519251e65b55f1bac3e8"


def test_volumes_differ_by_unit_kind_and_a_heavy_tail() -> None:
    received = Counter(e["data"]["area"] for e in long_run("31"))
    kinds = {u.code: u.kind for u in HAI_PHONG.units}
    assert set(received) == set(kinds)  # every unit gets traffic over a long run
    by_kind = {k: sorted(received[c] for c in kinds if kinds[c] == k) for k in set(kinds.values())}
    assert len(by_kind["đặc khu"]) == 2  # Cát Hải, Bạch Long Vĩ
    assert max(by_kind["phường"]) > 30 * max(by_kind["đặc khu"])
    assert statistics.median(by_kind["phường"]) > 2 * statistics.median(by_kind["xã"])
    assert min(by_kind["xã"]) > max(by_kind["đặc khu"])  # the islands are the quietest
    # heavy tail: the busiest ward files several times what a typical ward does
    assert max(by_kind["phường"]) > 3 * statistics.median(by_kind["phường"])
    # payments follow the same weights
    payments = Counter(e["data"]["area"] for e in live("31") if e["type"] == "payment.completed")
    busiest = max(kinds, key=lambda c: received[c])
    islands = [c for c in kinds if kinds[c] == "đặc khu"]
    assert payments[busiest] > 10 * max(payments[c] for c in islands)


def test_unit_weights_depend_on_the_seed_and_the_unit_only() -> None:
    weights = dict(zip((u.code for u in HAI_PHONG.units), unit_weights(HAI_PHONG, 5), strict=True))
    assert weights == dict(zip((u.code for u in HAI_PHONG.units), unit_weights(HAI_PHONG, 5),
                               strict=True))
    assert unit_weights(HAI_PHONG, 6) != tuple(weights.values())
    # Hai Phong's units that also exist in a file listing only some of them keep their weight
    subset = Geography(HAI_PHONG.province_code, HAI_PHONG.province_name, "file",
                       HAI_PHONG.timezone_name, HAI_PHONG.utc_offset, HAI_PHONG.units[::3])
    assert all(weights[u.code] == w for u, w in zip(subset.units, unit_weights(subset, 5), strict=True))


@pytest.mark.parametrize("code", ["31", "79"])
def test_agencies_come_from_the_list_and_communes_only_serve_their_unit(code: str) -> None:
    geography = load_geography(code)
    listed = {a.code: a for a in load_agencies(geography)}
    events = [e for e in long_run(code) + live(code) if "agency_code" in e["data"]]
    areas_of: dict[str, set[str]] = defaultdict(set)
    for event in events:
        agency = listed.get(event["data"]["agency_code"])
        assert agency is not None, event["data"]["agency_code"]
        if agency.level == COMMUNE:
            assert agency.area == event["data"]["area"], event
        areas_of[agency.code].add(event["data"]["area"])
    assert {listed[c].level for c in areas_of} == {PROVINCE, COMMUNE}
    province = [c for c in areas_of if listed[c].level == PROVINCE]
    assert len(province) >= 5
    # a province-level agency takes dossiers from (nearly) every unit
    assert max(len(areas_of[c]) for c in province) > 0.9 * len(geography.units)
    share = sum(listed[e["data"]["agency_code"]].level == COMMUNE for e in events) / len(events)
    assert 0.4 < share < 0.85
    # a resolution goes to the agency its dossier was received by
    received = {e["data"]["dossier_id"]: e["data"]["agency_code"] for e in live(code)
                if e["type"] == "dossier.received"}
    resolved = [e for e in live(code) if e["type"] == "dossier.resolved"
                and e["data"]["dossier_id"] in received]
    assert resolved and all(received[e["data"]["dossier_id"]] == e["data"]["agency_code"]
                            for e in resolved)


@pytest.mark.parametrize("code", ["31", "79"])
def test_stations_stand_in_a_subset_of_units_and_keep_theirs(code: str) -> None:
    geography = load_geography(code)
    events = live(code)
    readings = [e["data"] for e in events if e["type"] == "sensor.reading"]
    unit_of: dict[str, set[str]] = defaultdict(set)
    for reading in readings:
        unit_of[reading["station_id"]].add(reading["area"])
    assert all(len(units) == 1 for units in unit_of.values())
    units = {next(iter(u)) for u in unit_of.values()}
    assert 10 <= len(units) < len(geography.units)
    sim = make(geography)
    assert {s.station_id: s.area for s in sim.stations} == {k: next(iter(v)) for k, v in unit_of.items()}
    assert len({s.station_id for s in sim.stations}) == len(sim.stations)
    # each station reports each of its metrics once a minute
    per = Counter((r["station_id"], r["metric"]) for r in readings)
    assert set(per.values()) == {LIVE_MINUTES}
    metrics = {r["metric"] for r in readings}
    assert {"pm2_5", "water_level_cm"} <= metrics
    # the same seed places the same stations; another seed elsewhere
    assert make(geography).stations == sim.stations
    assert make(geography, seed=1).stations != sim.stations


@pytest.mark.parametrize("code", ["31", "79"])
def test_two_tier_events_are_valid_realistic_and_deterministic(code: str) -> None:
    geography = load_geography(code)
    events = list(live(code))
    rules = Rules(geography)
    end = TUESDAY_10H + timedelta(minutes=LIVE_MINUTES)
    judged = [validate_event(e, rules, end) for e in events]
    assert all(isinstance(j, Event) for j in judged), [j for j in judged if not isinstance(j, Event)][:3]
    assert {e["data"]["area"] for e in events} <= geography.area_codes
    received = [e["data"] for e in events if e["type"] == "dossier.received"]
    assert 0.8 < sum(d["channel"] == "online" for d in received) / len(received) < 0.97
    payments = [e["data"] for e in events if e["type"] == "payment.completed"]
    assert 0.5 < sum(p["method"] != "cash" for p in payments) / len(payments) < 0.85
    again = make(geography)
    again.backlog(TUESDAY_10H, 1)
    assert again.between(TUESDAY_10H, end) == events
    span = (TUESDAY_10H, TUESDAY_10H + timedelta(minutes=1))
    assert make(geography, seed=2027).between(*span) != make(geography).between(*span)


def test_a_deployments_own_agencies_are_used() -> None:
    hq = Agency("STP", "Sở Tư pháp", PROVINCE)
    only_province = Agencies((hq,))
    events = make(agencies=only_province, rate=200).backlog(TUESDAY_10H, 1)
    assert {e["data"]["agency_code"] for e in events} == {"STP"}
    own = Agencies((hq, Agency("XA-10510", "Một cửa", COMMUNE, "10510")))
    codes = Counter((e["data"]["agency_code"], e["data"]["area"])
                    for e in make(agencies=own, rate=200).backlog(TUESDAY_10H, 1))
    assert {a for a, area in codes if area == "10510"} == {"STP", "XA-10510"}
    assert {a for a, area in codes if area != "10510"} == {"STP"}  # other units: the province
    with pytest.raises(ValueError, match="no agency can take dossiers"):
        make(agencies=Agencies((own.agencies[1],)))


def test_two_tier_events_carry_the_service_index_at_realistic_rates() -> None:
    """Ratings, citizen feedback and the optional dossier fields (issue 15): valid, in
    realistic proportions, a rating after its dossier's resolution, feedback resolved after
    it was received; the service index of the whole run lies well inside 0..100."""
    sim = make(rate=20)
    sim.backlog(TUESDAY_10H, 1)
    end = TUESDAY_10H + timedelta(minutes=30)
    events = sim.between(TUESDAY_10H, end)
    rules = Rules(HAI_PHONG)
    assert all(isinstance(validate_event(e, rules, end), Event) for e in events)
    kinds = Counter(e["type"] for e in events)
    assert kinds["dossier.rated"] > 0.1 * kinds["dossier.resolved"]
    assert 0.01 * kinds["dossier.received"] < kinds["feedback.received"] < 0.1 * kinds["dossier.received"]
    assert kinds["feedback.resolved"] > 0
    received = [e["data"] for e in events if e["type"] == "dossier.received"]
    assert 0.85 < sum(d["synced_national"] for d in received) / len(received) < 0.97
    with_fee = [d for d in received if d.get("fee_vnd", 0) > 0]
    assert 0.15 < len(with_fee) / len(received) < 0.5 and any(d["fee_paid_online"] for d in with_fee)
    resolved_at = {e["data"]["dossier_id"]: e["time"] for e in events if e["type"] == "dossier.resolved"}
    received_at = {e["data"]["feedback_id"]: e["time"] for e in events if e["type"] == "feedback.received"}
    for event in events:
        if event["type"] == "dossier.rated":
            assert event["time"] == resolved_at[event["data"]["dossier_id"]]
        if event["type"] == "feedback.resolved" and event["data"]["feedback_id"] in received_at:
            assert event["time"] > received_at[event["data"]["feedback_id"]]
    historic = Simulator(load_geography(HISTORIC), seed=1, source="sim.test", rate=20,
                         start=TUESDAY_10H).between(TUESDAY_10H, end)
    assert {e["type"] for e in historic}.isdisjoint({"dossier.rated", "feedback.received"})
