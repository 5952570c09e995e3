"""Agencies and KPI targets as deployment data (issue 14): the shipped defaults, a
deployment's own files, and the two API answers that expose them."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.deps import get_principal, get_state
from api.routes import agencies as agencies_route
from api.routes import kpis as kpis_route
from ioc.geography import HISTORIC, load_geography
from ioc.geography.agencies import COMMUNE, PROVINCE, load_agencies, parse_agencies
from ioc.kpis.catalogue import BY_ID, CATALOGUE, Kind
from ioc.settings import Settings
from ioc.targets import load_targets, parse_targets, shipped_targets
from ioc.tokens import Principal, Role

HAI_PHONG = load_geography("31")


def test_shipped_agencies_cover_the_province_and_every_unit() -> None:
    found = load_agencies(HAI_PHONG)
    province = found.province_level
    assert {"SO-TP", "SO-TC", "SO-XD", "SO-NNMT", "SO-YT", "SO-GDDT", "SO-NV", "CA",
            "TTPVHCC"} <= {a.code for a in province}
    assert all(a.area is None for a in province)
    assert found.name("SO-TP") == "Sở Tư pháp thành phố Hải Phòng"
    assert found.name("NOT-LISTED") == "NOT-LISTED"
    communes = [a for a in found if a.level == COMMUNE]
    assert [a.area for a in communes] == [u.code for u in HAI_PHONG.units]
    assert len(found) == len(province) + 114
    for unit in HAI_PHONG.units:
        (own,) = found.of_area(unit.code)
        assert own.code == f"UBND-{unit.code}"
        assert own.name.startswith("Ủy ban nhân dân ") and unit.name[1:] in own.name
    assert found.get("UBND-11948").name == "Ủy ban nhân dân đặc khu Bạch Long Vĩ"  # type: ignore[union-attr]


def test_the_historic_profile_has_its_own_departments_and_district_committees() -> None:
    geo = load_geography(HISTORIC)
    found = load_agencies(geo)
    codes = {a.code for a in found}
    # the codes the historic simulator has always produced
    assert {"SO-TP", "SO-TNMT", "SO-KHDT", "SO-GTVT", "SO-LDTBXH"} <= codes
    assert {f"UBND-{u.code}" for u in geo.units} <= codes
    assert found.name("UBND-288") == "Ủy ban nhân dân thành phố Hải Dương"
    assert found.name("SO-TP") == "Sở Tư pháp tỉnh Hải Dương"


def test_a_deployment_file_replaces_the_list(tmp_path: Path) -> None:
    path = tmp_path / "agencies.json"
    path.write_text(json.dumps({"agencies": [
        {"code": "STP", "name": "Sở Tư pháp", "level": "province"},
        {"code": "TTHCC-10510", "name": "TT phục vụ HCC {unit}", "level": "commune", "area": 10510},
    ]}), encoding="utf-8")
    found = load_agencies(HAI_PHONG, path)
    assert [(a.code, a.level, a.area) for a in found] == [("STP", PROVINCE, None),
                                                          ("TTHCC-10510", COMMUNE, "10510")]
    assert found.name("TTHCC-10510") == "TT phục vụ HCC phường Thành Đông"


@pytest.mark.parametrize(("raw", "message"), [
    ({"agencies": [{"code": "A", "name": "a", "level": "district"}]}, "level"),
    ({"agencies": [{"code": "A", "name": "a", "level": "commune", "area": "99999"}]}, "no unit"),
    ({"agencies": [{"code": "A", "name": "a", "level": "commune"}]}, "needs the code"),
    ({"agencies": [{"code": "A", "name": "a", "level": "province", "area": "10510"}]}, "no area"),
    ({"agencies": [{"code": "A B", "name": "a", "level": "province"}]}, "without spaces"),
    ({"agencies": [{"code": "A", "name": "a", "level": "province"},
                   {"code": "A", "name": "b", "level": "province"}]}, "twice"),
    ({"agencies": [], "commune_agencies": {"code": "UBND", "name": "x"}}, "{area}"),
    ({"agencies": []}, "at least one"),
    ([], "JSON object"),
])
def test_a_bad_agencies_file_is_refused(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        parse_agencies(raw, HAI_PHONG)


def test_shipped_targets_hold_the_published_figures() -> None:
    targets = load_targets()
    assert targets.value("dossier.online_rate") == 89
    assert targets.value("dossier.on_time_rate") == 95
    assert targets.value("dossier.full_online_rate") == 30
    assert targets.value("payment.non_cash_rate") == 65
    assert targets.value("dossier.overdue_open") == 0
    assert not targets.higher_is_better("dossier.overdue_open")
    assert not targets.higher_is_better("sensor.stations_silent")
    assert targets.higher_is_better("dossier.online_rate")
    shipped = shipped_targets()
    assert set(BY_ID) <= set(shipped)  # every catalogue KPI has a direction
    ratios = [k.id for k in CATALOGUE if k.kind is Kind.RATIO]
    assert all(shipped[k].higher_is_better for k in ratios)


def test_a_targets_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "targets.json"
    path.write_text(json.dumps({"targets": {"dossier.online_rate": {"value": 92},
                                            "dossier.open": {"value": 500, "direction": "lower"},
                                            "payment.non_cash_rate": {"value": None}}}))
    targets = load_targets(path)
    assert targets.value("dossier.online_rate") == 92
    assert targets.higher_is_better("dossier.online_rate")
    assert targets.value("dossier.open") == 500 and not targets.higher_is_better("dossier.open")
    assert targets.value("payment.non_cash_rate") is None
    assert targets.value("dossier.on_time_rate") == 95  # kept from the shipped file


@pytest.mark.parametrize(("entry", "message"), [
    ({"dossier.online_rat": {"value": 1}}, "unknown KPI"),
    ({"dossier.online_rate": {"value": 189}}, "0..100"),
    ({"dossier.online_rate": {"value": "89"}}, "finite number"),
    ({"dossier.online_rate": {"value": True}}, "finite number"),
    ({"dossier.online_rate": {"value": 89, "direction": "up"}}, "direction"),
    ({"dossier.online_rate": 89}, "object"),
])
def test_a_bad_targets_file_is_refused(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_targets({"targets": entry}, known=set(BY_ID), base=shipped_targets())


def _client(settings: Settings, geography_code: str = "31") -> TestClient:
    app = FastAPI()
    app.include_router(agencies_route.router)
    app.include_router(kpis_route.router)
    state = SimpleNamespace(settings=settings, geography=load_geography(geography_code))
    app.dependency_overrides[get_state] = lambda: state
    app.dependency_overrides[get_principal] = lambda: Principal(Role.LEADER, "t", None)
    return TestClient(app)


def test_the_api_serves_agencies_and_targets(tmp_path: Path) -> None:
    client = _client(Settings(province="31"))
    body = client.get("/api/v1/agencies").json()
    assert set(body) == {"agencies"}
    rows = body["agencies"]
    assert rows[0] == {"code": "TTPVHCC", "level": "province", "area": None,
                       "name": "Trung tâm Phục vụ hành chính công thành phố Hải Phòng"}
    assert sum(r["level"] == "commune" for r in rows) == 114
    assert {"code": "UBND-10510", "name": "Ủy ban nhân dân phường Thành Đông", "level": "commune",
            "area": "10510"} in rows
    kpis = {k["id"]: k for k in client.get("/api/v1/kpis").json()}
    assert set(kpis) == set(BY_ID)
    assert (kpis["dossier.online_rate"]["target"], kpis["dossier.online_rate"]["higher_is_better"]) \
        == (89, True)
    assert (kpis["dossier.overdue_open"]["target"], kpis["dossier.overdue_open"]["higher_is_better"]) \
        == (0, False)
    assert kpis["dossier.received"]["target"] is None
    path = tmp_path / "targets.json"
    path.write_text(json.dumps({"targets": {"dossier.on_time_rate": {"value": 97.5}}}))
    custom = {k["id"]: k for k in _client(Settings(province="31", targets_file=path))
              .get("/api/v1/kpis").json()}
    assert custom["dossier.on_time_rate"]["target"] == 97.5
