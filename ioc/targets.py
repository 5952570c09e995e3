"""A target per KPI for the pages and reports (docs/contract/kpis.md), with shipped defaults.

``targets.json`` here ships one entry per KPI id: ``value`` (a number, null for none; ratios
in percent) and ``direction`` (``higher`` or ``lower`` is better). The defaults come from
the province's published figures (online dossier rate 89%, on-time rate 95%, ...).
``IOC_TARGETS_FILE`` names a deployment's file of the same shape; each entry it gives
replaces the shipped one for that KPI id, the others stay::

    {"targets": {"dossier.online_rate": {"value": 92},
                 "dossier.overdue_open": {"value": 10, "direction": "lower"}}}

An id that is neither in the KPI catalogue nor shipped is refused (a typo would otherwise
pass unnoticed).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from ioc.kpis.catalogue import BY_ID, Kind

if TYPE_CHECKING:
    from ioc.settings import Settings

SHIPPED = "targets.json"
DIRECTIONS = {"higher": True, "lower": False}


@dataclass(frozen=True, slots=True)
class Target:
    kpi: str
    value: float | int | None
    """The target; None: none set."""
    higher_is_better: bool


def _entry(kpi: str, raw: object, base: Target | None) -> Target:
    where = f"target {kpi!r}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: must be an object with 'value' and 'direction'")
    if "value" not in raw and base is None:
        raise ValueError(f"{where}: needs a 'value' (a number, or null for none)")
    value = raw.get("value", base.value if base else None)
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{where}: value must be a finite number or null, not {value!r}")
        kind = BY_ID[kpi].kind if kpi in BY_ID else None
        if (kind is Kind.RATIO or kpi.endswith("_rate")) and not 0 <= value <= 100:
            raise ValueError(f"{where}: a ratio's target is a percentage, 0..100, not {value}")
    direction = raw.get("direction")
    if direction is None:
        higher = base.higher_is_better if base else True
    elif direction in DIRECTIONS:
        higher = DIRECTIONS[direction]
    else:
        raise ValueError(f"{where}: direction must be 'higher' or 'lower', not {direction!r}")
    return Target(kpi, value, higher)


def parse_targets(raw: object, known: Collection[str] | None = None,
                  base: Mapping[str, Target] | None = None) -> dict[str, Target]:
    """The targets a JSON document gives, laid over ``base`` (pure). With ``known``, an id
    outside it is refused."""
    if not isinstance(raw, dict) or not isinstance(raw.get("targets"), dict):
        raise ValueError("a targets file must hold a JSON object with a 'targets' object")
    out = dict(base or {})
    for kpi, entry in raw["targets"].items():
        if known is not None and kpi not in known:
            raise ValueError(f"target for unknown KPI {kpi!r}")
        out[kpi] = _entry(kpi, entry, out.get(kpi))
    return out


@dataclass(frozen=True, slots=True)
class Targets:
    by_kpi: Mapping[str, Target]

    def value(self, kpi: str) -> float | int | None:
        target = self.by_kpi.get(kpi)
        return target.value if target else None

    def higher_is_better(self, kpi: str) -> bool:
        """Whether a higher value is better; True for a KPI without an entry."""
        target = self.by_kpi.get(kpi)
        return target.higher_is_better if target else True


def shipped_targets() -> dict[str, Target]:
    text = resources.files("ioc").joinpath(SHIPPED).read_text(encoding="utf-8")
    return parse_targets(json.loads(text))


@lru_cache(maxsize=4)
def load_targets(path: Path | None = None) -> Targets:
    """The shipped targets, with a deployment's file laid over them when given. Cached."""
    shipped = shipped_targets()
    if path is None:
        return Targets(shipped)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Targets(parse_targets(raw, known=set(BY_ID) | set(shipped), base=shipped))
    except (OSError, ValueError) as exc:
        raise ValueError(f"targets file {path}: {exc}") from exc


def targets_of(settings: Settings) -> Targets:
    """The targets the settings name (``IOC_TARGETS_FILE``)."""
    return load_targets(settings.targets_file)
