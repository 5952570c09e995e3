"""Where a deployment's geography comes from (docs/contract/geography.md).

- a province code ("31", "01" or "1"): the province and its commune-level units from the
  maintained ``vietnam-provinces`` package (the statistics office's codes, after the
  1 July 2025 reorganisation);
- ``hai-duong-2024``: the historic profile bundled here, the former Hai Duong province and
  its 12 districts;
- a JSON file of the same shape as the bundled profile, for units the package does not
  know yet.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ioc.geography.model import Geography, Unit

HISTORIC = "hai-duong-2024"
DEFAULT_PROVINCE = "31"
TIMEZONE = "Asia/Ho_Chi_Minh"
UTC_OFFSET = timedelta(hours=7)
UNIT_CODE_WIDTH = 5
PROVINCE_CODE_WIDTH = 2


def parse_geography(raw: object, profile: str = "file") -> Geography:
    """A geography from its JSON form: ``province_code``, ``province_name``, ``units``
    (``code``, ``name``, ``kind``); optional ``profile``, ``timezone``,
    ``utc_offset_minutes``. ``districts`` is accepted for ``units`` (the v1 file)."""
    if not isinstance(raw, dict):
        raise ValueError("a geography file must hold a JSON object")
    units_raw = raw.get("units", raw.get("districts"))
    if not isinstance(units_raw, list) or not units_raw:
        raise ValueError("a geography needs a non-empty 'units' list")
    units = []
    for item in units_raw:
        if not isinstance(item, dict) or not item.get("code") or not item.get("name"):
            raise ValueError(f"each unit needs a 'code' and a 'name': {item!r}")
        units.append(Unit(code=str(item["code"]), name=str(item["name"]),
                          kind=str(item.get("kind", ""))))
    offset = raw.get("utc_offset_minutes", 420)
    if not isinstance(offset, int) or isinstance(offset, bool):
        raise ValueError("utc_offset_minutes must be an integer")
    return Geography(
        province_code=str(raw.get("province_code", "")),
        province_name=str(raw.get("province_name", "")),
        profile=str(raw.get("profile", profile)),
        timezone_name=str(raw.get("timezone", TIMEZONE)),
        utc_offset=timedelta(minutes=offset),
        units=tuple(units),
    )


def province_codes() -> list[str]:
    """The 34 provinces' codes, two digits each, as the package lists them."""
    from vietnam_provinces import Province

    return sorted(f"{int(p.code):0{PROVINCE_CODE_WIDTH}d}" for p in Province.iter_all())


def from_package(code: str) -> Geography:
    """Province ``code`` ("31", "1", "01") and its units from ``vietnam-provinces``."""
    from vietnam_provinces import Province, ProvinceCode, Ward

    if not code.isdigit():
        raise ValueError(f"unknown province {code!r}: give one of the 34 province codes "
                         f"({', '.join(province_codes())}) or '{HISTORIC}'")
    try:
        province = Province.from_code(ProvinceCode(int(code)))
    except (ValueError, KeyError):
        raise ValueError(f"unknown province code {code!r}: the 34 codes are "
                         f"{', '.join(province_codes())}") from None
    number = int(province.code)
    units = tuple(
        Unit(code=f"{int(w.code):0{UNIT_CODE_WIDTH}d}", name=w.name, kind=w.division_type.value)
        for w in sorted(Ward.iter_all(), key=lambda w: int(w.code))
        if int(w.province_code) == number
    )
    return Geography(province_code=f"{number:0{PROVINCE_CODE_WIDTH}d}", province_name=province.name,
                     profile=f"province-{number:0{PROVINCE_CODE_WIDTH}d}", timezone_name=TIMEZONE,
                     utc_offset=UTC_OFFSET, units=units)


def from_file(path: Path) -> Geography:
    return parse_geography(json.loads(path.read_text(encoding="utf-8")), profile=path.stem)


def historic() -> Geography:
    text = resources.files("ioc.geography").joinpath("hai_duong_2024.json").read_text(encoding="utf-8")
    return parse_geography(json.loads(text), profile=HISTORIC)


def parse_former_codes(raw: object) -> dict[str, str]:
    """A deployment's mapping of pre-2025 commune codes (IOC_FORMER_CODES_FILE):
    ``{"codes": {"<old code>": "<current unit code>", ...}}``, other fields (``source``)
    free. Each code a string of digits."""
    if not isinstance(raw, dict) or not isinstance(raw.get("codes"), dict):
        raise ValueError("a former codes file must hold a JSON object with a 'codes' object")
    codes: dict[str, str] = {}
    for old, new in raw["codes"].items():
        if not (isinstance(new, str) and old.isdigit() and new.isdigit()):
            raise ValueError(f"former codes map a code to a code, strings of digits: {old!r}: {new!r}")
        codes[old] = new
    return codes


@lru_cache(maxsize=8)
def load_geography(province: str = DEFAULT_PROVINCE, path: Path | None = None,
                   former_path: Path | None = None) -> Geography:
    """The geography a deployment asks for: its own file when given, else the historic
    profile or a province of the package; with the pre-2025 codes it maps, when given.
    Cached: it is read once per process."""
    if path is not None:
        geography = from_file(path)
    elif province.strip().lower() == HISTORIC:
        geography = historic()
    else:
        geography = from_package(province.strip())
    if former_path is None:
        return geography
    try:
        former = parse_former_codes(json.loads(former_path.read_text(encoding="utf-8")))
        return dataclasses.replace(geography, former=former)
    except (OSError, ValueError) as exc:
        raise ValueError(f"IOC_FORMER_CODES_FILE {former_path}: {exc}") from None
