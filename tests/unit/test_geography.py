"""The geography: today's provinces from vietnam-provinces, the historic profile, a file;
codes with or without leading zeros; events carrying area or its v1 name district."""

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ioc.alerts.rules import RuleSpec
from ioc.events import Event, ReasonCode, Rejection, Rules, validate_event
from ioc.geography import HISTORIC, geography_of, load_geography, parse_geography, province_codes
from ioc.settings import Settings

NOW = datetime(2026, 3, 26, 3, 0, tzinfo=UTC)


def test_the_34_provinces_and_hai_phong_with_its_114_units() -> None:
    assert len(province_codes()) == 34 and "31" in province_codes()
    hai_phong = load_geography("31")
    assert hai_phong.province_name == "Thành phố Hải Phòng" and hai_phong.province_code == "31"
    assert len(hai_phong.units) == 114
    assert Counter(u.kind for u in hai_phong.units) == {"xã": 67, "phường": 45, "đặc khu": 2}
    assert all(len(u.code) == 5 and u.code.isdigit() for u in hai_phong.units)
    assert {"Đặc khu Cát Hải", "Đặc khu Bạch Long Vĩ"} <= set(hai_phong.area_names.values())
    assert hai_phong.area_name("11560") == "Phường Thuỷ Nguyên"
    assert len(load_geography("79").units) == 168
    total = sum(len(load_geography(code).units) for code in province_codes())
    assert total == 3321


def test_a_province_code_with_or_without_its_leading_zero() -> None:
    assert load_geography("1") == load_geography("01")
    assert load_geography("01").province_name == "Thành phố Hà Nội"


@pytest.mark.parametrize("code", ["99", "30", "hanoi", ""])
def test_an_unknown_province_is_refused_listing_the_codes(code: str) -> None:
    with pytest.raises(ValueError, match="31"):
        load_geography(code)


def test_the_historic_profile_keeps_its_12_districts() -> None:
    historic = load_geography(HISTORIC)
    assert historic.province_code == "30" and historic.profile == HISTORIC
    assert [u.code for u in historic.units] == ["288", *map(str, range(290, 301))]
    assert historic.area_name("288") == "Thành phố Hải Dương" and historic.unit("288").kind == "thành phố"


def test_a_code_without_its_leading_zeros_is_the_same_code() -> None:
    hanoi = load_geography("01")
    first = hanoi.units[0]
    assert first.code.startswith("0")
    assert hanoi.canonical(first.code.lstrip("0")) == first.code
    assert hanoi.canonical("0" + first.code) == first.code
    assert hanoi.canonical("99999") is None and hanoi.canonical("abc") is None


def test_a_deployment_file_and_the_settings(tmp_path: Path) -> None:
    path = tmp_path / "my-province.json"
    path.write_text(json.dumps({"province_code": "31", "province_name": "Thành phố Hải Phòng",
                                "units": [{"code": "99001", "name": "Xã Mới", "kind": "xã"}]}))
    own = geography_of(Settings(geography_file=path))
    assert own.profile == "my-province" and own.area_codes == {"99001"}
    assert geography_of(Settings(province="79")).province_code == "79"
    assert geography_of(Settings(province="hai-duong-2024")).profile == HISTORIC
    v1 = parse_geography({"districts": [{"code": "1", "name": "A"}]})
    assert v1.units[0].kind == ""
    with pytest.raises(ValueError, match="twice"):
        parse_geography({"units": [{"code": "01", "name": "A"}, {"code": "1", "name": "B"}]})
    with pytest.raises(ValueError, match="units"):
        parse_geography({"units": []})


def _reading(data: dict[str, object]) -> bytes:
    return json.dumps({"specversion": "1.0", "id": "s-1", "source": "sensors", "type": "sensor.reading",
                       "time": "2026-03-26T09:15:00+07:00",
                       "data": {"station_id": "S1", "metric": "pm2_5", "value": 12.5, **data}}).encode()


def test_events_carry_area_or_its_v1_name_district() -> None:
    rules = Rules(load_geography("31"))
    for data in ({"area": "11560"}, {"district": "11560"}, {"area": "11560", "district": "11560"},
                 {"area": "011560"}):
        outcome = validate_event(_reading(data), rules, NOW)
        assert isinstance(outcome, Event) and outcome.data.area == "11560", data
    differ = validate_event(_reading({"area": "11560", "district": "10510"}), rules, NOW)
    assert isinstance(differ, Rejection) and differ.code is ReasonCode.INVALID_DATA
    assert "district" in differ.reason
    gone = validate_event(_reading({"district": "288"}), rules, NOW)  # a pre-2025 district
    assert isinstance(gone, Rejection) and gone.code is ReasonCode.UNKNOWN_AREA
    assert "'288'" in gone.reason and "Hải Phòng" in gone.reason
    missing = validate_event(_reading({}), rules, NOW)
    assert isinstance(missing, Rejection) and "data.area" in missing.reason


def test_pre_2025_codes_a_deployment_maps(tmp_path: Path) -> None:
    # 10789 was a former Hai Duong commune (no unit today); 10510 is a unit, so its entry is
    # never used: a current code always wins
    path = tmp_path / "former.json"
    path.write_text(json.dumps({"source": "the deployment's own table",
                                "codes": {"10789": "11560", "010795": "10510", "10510": "11560"}}))
    geography = geography_of(Settings(province="31", former_codes_file=path))
    assert geography.former_count == 2 and len(geography.units) == 114
    assert geography.canonical("10789") == "11560" and geography.canonical("10795") == "10510"
    assert geography.canonical("10510") == "10510"  # a unit: not remapped
    assert geography.area_codes == load_geography("31").area_codes  # the units are today's only
    rules = Rules(geography)
    mapped = validate_event(_reading({"area": "10789"}), rules, NOW)
    assert isinstance(mapped, Event) and mapped.data.area == "11560"
    unmapped = validate_event(_reading({"area": "10790"}), rules, NOW)
    assert isinstance(unmapped, Rejection) and unmapped.code is ReasonCode.UNKNOWN_AREA
    assert geography_of(Settings(province="31")).canonical("10789") is None  # without the file


@pytest.mark.parametrize(("content", "says"), [
    ({"codes": {"10789": "99999"}}, "maps to '99999', which is no unit of Thành phố Hải Phòng"),
    ({"codes": {"10789": 11560}}, "strings of digits"),
    ({"codes": {"10789": "11560", "010789": "10510"}}, "mapped twice"),
    ({"codes": {"x": "11560"}}, "strings of digits"),
    (["10789"], "'codes' object"),
])
def test_a_bad_former_codes_file_is_refused_saying_why(tmp_path: Path, content: object, says: str) -> None:
    path = tmp_path / "former.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=says):
        load_geography("31", None, path)
    with pytest.raises(ValueError, match="IOC_FORMER_CODES_FILE"):
        load_geography("31", None, tmp_path / "missing.json")


def test_alert_rules_take_the_v1_scope_districts() -> None:
    base = {"name": "r", "kpi": "dossier.on_time_rate", "bucket": "1d", "comparison": "below",
            "threshold": 90}
    v1 = RuleSpec.model_validate({**base, "scope": "districts", "districts": ["288"]})
    assert v1.scope == "areas" and v1.areas == ["288"]
    with pytest.raises(ValueError, match="districts"):
        RuleSpec.model_validate({**base, "scope": "areas", "areas": ["288"], "districts": ["290"]})


def test_the_default_deployment_is_hai_phong() -> None:
    assert Settings.model_fields["province"].default == "31"
    assert load_geography().province_code == "31"
