"""Reference data of a deployment: its districts and its time zone.

The default deployment is Hai Duong; another province supplies its own JSON file
(setting ``IOC_REFERENCE_FILE``) of the same shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta, timezone
from importlib import resources
from pathlib import Path


@dataclass(frozen=True, slots=True)
class District:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Reference:
    province_code: str
    province_name: str
    timezone_name: str
    utc_offset: timedelta
    districts: tuple[District, ...]

    @property
    def tz(self) -> timezone:
        return timezone(self.utc_offset, self.timezone_name)

    @property
    def district_codes(self) -> frozenset[str]:
        return frozenset(d.code for d in self.districts)

    @property
    def district_names(self) -> dict[str, str]:
        """Name by code."""
        return {d.code: d.name for d in self.districts}

    def district_name(self, code: str) -> str | None:
        for district in self.districts:
            if district.code == code:
                return district.name
        return None


def parse_reference(raw: dict[str, object]) -> Reference:
    districts_raw = raw.get("districts")
    if not isinstance(districts_raw, list) or not districts_raw:
        raise ValueError("reference data needs a non-empty 'districts' list")
    districts = tuple(District(code=str(d["code"]), name=str(d["name"])) for d in districts_raw)
    offset = raw.get("utc_offset_minutes", 420)
    if not isinstance(offset, int):
        raise ValueError("utc_offset_minutes must be an integer")
    return Reference(
        province_code=str(raw.get("province_code", "")),
        province_name=str(raw.get("province_name", "")),
        timezone_name=str(raw.get("timezone", "UTC")),
        utc_offset=timedelta(minutes=offset),
        districts=districts,
    )


def load_reference(path: Path | None = None) -> Reference:
    """The deployment's reference data: ``path`` if given, else the bundled Hai Duong list."""
    if path is None:
        text = resources.files(__name__).joinpath("hai_duong.json").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("reference data must be a JSON object")
    return parse_reference(data)
