"""The agencies of a deployment (docs/contract/geography.md): code, name and level.

Province-level agencies (the departments, sở; the provincial police; the public
administrative service centre) take dossiers from every unit; a commune-level agency (each
unit's People's Committee, UBND) only from its own unit, named in ``area``.

The shipped default (``agencies.json`` here; ``agencies_hai_duong_2024.json`` for the
historic profile) lists the province-level agencies and a template that makes one UBND per
unit of the geography, its code derived from the unit's code. ``IOC_AGENCIES_FILE`` names a
deployment's own file of the same shape, which replaces the default.

File shape::

    {"agencies": [{"code": "SO-TP", "name": "Sở Tư pháp {province}", "level": "province"},
                  {"code": "TTHC-10510", "name": "…", "level": "commune", "area": "10510"}],
     "commune_agencies": {"code": "UBND-{area}", "name": "Ủy ban nhân dân {unit}"}}

In names, ``{province}`` is the province's name and ``{unit}`` the unit's name (each with a
lower-case first letter, as inside a Vietnamese title); in the template's code, ``{area}``
is the unit's code. ``commune_agencies`` is optional (null or absent: none generated).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ioc.geography.model import Geography, Unit
from ioc.geography.sources import HISTORIC

if TYPE_CHECKING:
    from ioc.settings import Settings

Level = Literal["province", "commune"]
PROVINCE: Level = "province"
COMMUNE: Level = "commune"
LEVELS = (PROVINCE, COMMUNE)
MAX_CODE_LENGTH = 64
SHIPPED = "agencies.json"
SHIPPED_HISTORIC = "agencies_hai_duong_2024.json"


@dataclass(frozen=True, slots=True)
class Agency:
    code: str
    name: str
    level: Level
    """``province`` or ``commune`` (the level of the geography's units; in the historic
    profile, its districts)."""
    area: str | None = None
    """The unit a commune-level agency serves; None for a province-level one."""


@dataclass(frozen=True, slots=True)
class Agencies:
    """A deployment's agencies, in the order they were listed (province level first)."""

    agencies: tuple[Agency, ...]
    _by_code: dict[str, Agency] = field(init=False, repr=False, compare=False)
    _by_area: dict[str, tuple[Agency, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_code: dict[str, Agency] = {}
        by_area: dict[str, list[Agency]] = {}
        for agency in self.agencies:
            if agency.code in by_code:
                raise ValueError(f"agency code {agency.code!r} is listed twice")
            by_code[agency.code] = agency
            if agency.area is not None:
                by_area.setdefault(agency.area, []).append(agency)
        object.__setattr__(self, "_by_code", by_code)
        object.__setattr__(self, "_by_area", {k: tuple(v) for k, v in by_area.items()})

    def __iter__(self) -> Iterator[Agency]:
        return iter(self.agencies)

    def __len__(self) -> int:
        return len(self.agencies)

    def get(self, code: str) -> Agency | None:
        return self._by_code.get(code)

    def name(self, code: str) -> str:
        """The agency's name, else its code (kpis.md, service index)."""
        agency = self._by_code.get(code)
        return agency.name if agency else code

    @property
    def province_level(self) -> tuple[Agency, ...]:
        return tuple(a for a in self.agencies if a.level == PROVINCE)

    def of_area(self, area: str) -> tuple[Agency, ...]:
        """The commune-level agencies of one unit (by its canonical code)."""
        return self._by_area.get(area, ())


def _title_case_inside(name: str) -> str:
    """'Thành phố Hải Phòng' -> 'thành phố Hải Phòng': a name as it reads inside a title."""
    return name[:1].lower() + name[1:]


def _fill(template: str, geography: Geography, unit: Unit | None = None) -> str:
    text = template.replace("{province}", _title_case_inside(geography.province_name))
    if unit is not None:
        text = text.replace("{unit}", _title_case_inside(unit.name)).replace("{area}", unit.code)
    return text


def _text(item: dict[str, object], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: '{key}' must be a non-empty string")
    return value.strip()


def _check_code(code: str, where: str) -> str:
    if len(code) > MAX_CODE_LENGTH or not code.isprintable() or any(c.isspace() for c in code):
        raise ValueError(f"{where}: agency code {code!r} must be 1..{MAX_CODE_LENGTH} printable "
                         "characters without spaces")
    return code


def _listed(item: object, geography: Geography) -> Agency:
    if not isinstance(item, dict):
        raise ValueError(f"each agency must be a JSON object: {item!r}")
    code = _check_code(_text(item, "code", "an agency"), "an agency")
    where = f"agency {code!r}"
    level = _text(item, "level", where)
    if level not in LEVELS:
        raise ValueError(f"{where}: level must be 'province' or 'commune', not {level!r}")
    area_raw = item.get("area")
    if level == PROVINCE:
        if area_raw is not None:
            raise ValueError(f"{where}: a province-level agency has no area")
        return Agency(code, _fill(_text(item, "name", where), geography), PROVINCE)
    if not isinstance(area_raw, str | int) or isinstance(area_raw, bool):
        raise ValueError(f"{where}: a commune-level agency needs the code of its unit in 'area'")
    unit = geography.unit(str(area_raw))
    if unit is None:
        raise ValueError(f"{where}: area {area_raw!r} is no unit of the geography "
                         f"({geography.profile})")
    return Agency(code, _fill(_text(item, "name", where), geography, unit), COMMUNE, unit.code)


def _generated(template: object, geography: Geography) -> list[Agency]:
    if template is None:
        return []
    if not isinstance(template, dict):
        raise ValueError("'commune_agencies' must be an object with 'code' and 'name' templates")
    code = _text(template, "code", "commune_agencies")
    name = _text(template, "name", "commune_agencies")
    if "{area}" not in code:
        raise ValueError("commune_agencies: the code template must contain '{area}'")
    return [Agency(_check_code(_fill(code, geography, u), "commune_agencies"),
                   _fill(name, geography, u), COMMUNE, u.code) for u in geography.units]


def parse_agencies(raw: object, geography: Geography) -> Agencies:
    """The agencies a JSON document lists, for ``geography`` (pure)."""
    if not isinstance(raw, dict):
        raise ValueError("an agencies file must hold a JSON object")
    listed = raw.get("agencies", [])
    if not isinstance(listed, list):
        raise ValueError("'agencies' must be a list")
    agencies = [_listed(item, geography) for item in listed]
    agencies += _generated(raw.get("commune_agencies"), geography)
    if not agencies:
        raise ValueError("an agencies file must list at least one agency")
    province = [a for a in agencies if a.level == PROVINCE]
    return Agencies(tuple(province + [a for a in agencies if a.level == COMMUNE]))


def shipped_document(geography: Geography) -> object:
    """The shipped default for the geography: the historic profile has its own."""
    name = SHIPPED_HISTORIC if geography.profile == HISTORIC else SHIPPED
    text = resources.files("ioc.geography").joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=8)
def load_agencies(geography: Geography, path: Path | None = None) -> Agencies:
    """A deployment's agencies: its own file when given, else the shipped default. Cached."""
    if path is None:
        return parse_agencies(shipped_document(geography), geography)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return parse_agencies(raw, geography)
    except (OSError, ValueError) as exc:
        raise ValueError(f"agencies file {path}: {exc}") from exc


def agencies_of(settings: Settings) -> Agencies:
    """The agencies the settings name (``IOC_AGENCIES_FILE``), for their geography."""
    from ioc.geography import geography_of

    return load_agencies(geography_of(settings), settings.agencies_file)
