"""The geography of a deployment: its province and the units KPIs are kept per (``area``).

Pure data, no I/O: :mod:`ioc.geography.sources` builds it from the ``vietnam-provinces``
package, the bundled historic profile or a deployment's own file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta, timezone


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit of the lowest level: since 2025 a xã, phường or đặc khu (5-digit code);
    in the historic profile a district (huyện, thị xã, thành phố)."""

    code: str
    name: str
    kind: str


def code_key(code: str) -> str:
    """A code compared without its leading zeros ("00004" and "4" are the same code)."""
    return (code.lstrip("0") or "0") if code.isdigit() else code


@dataclass(frozen=True, slots=True)
class Geography:
    """The configured province and its units, in the order the source lists them."""

    province_code: str
    province_name: str
    profile: str
    timezone_name: str
    utc_offset: timedelta
    units: tuple[Unit, ...]
    former: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Pre-2025 commune codes the deployment maps to a current unit (IOC_FORMER_CODES_FILE):
    old code → unit code. A code that is a current unit is never remapped."""
    _by_key: dict[str, Unit] = field(init=False, repr=False, compare=False)
    _former: dict[str, Unit] = field(init=False, repr=False, compare=False)
    _by_code: dict[str, Unit] = field(init=False, repr=False, compare=False)
    _names: dict[str, str] = field(init=False, repr=False, compare=False)
    _codes: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.units:
            raise ValueError("a geography needs at least one unit")
        by_key: dict[str, Unit] = {}
        for unit in self.units:
            key = code_key(unit.code)
            if key in by_key:
                raise ValueError(f"unit code {unit.code!r} is listed twice")
            by_key[key] = unit
        object.__setattr__(self, "_by_key", by_key)
        former: dict[str, Unit] = {}
        for old, new in self.former.items():
            target = by_key.get(code_key(new))
            if target is None:
                raise ValueError(f"former code {old!r} maps to {new!r}, which is no unit of "
                                 f"{self.province_name or 'this geography'}")
            key = code_key(old)
            if former.get(key, target) != target:
                raise ValueError(f"former code {old!r} is mapped twice, to different units")
            if key not in by_key:  # a current code always wins
                former[key] = target
        object.__setattr__(self, "_former", former)
        object.__setattr__(self, "_by_code", {u.code: u for u in self.units})
        object.__setattr__(self, "_names", {u.code: u.name for u in self.units})
        object.__setattr__(self, "_codes", frozenset(self._by_code))

    @property
    def tz(self) -> timezone:
        return timezone(self.utc_offset, self.timezone_name)

    @property
    def area_codes(self) -> frozenset[str]:
        return self._codes

    @property
    def area_names(self) -> dict[str, str]:
        """Name by code (a copy: the geography stays frozen)."""
        return dict(self._names)

    def unit(self, code: str) -> Unit | None:
        """The unit a code names, written with or without its leading zeros; a pre-2025 code
        the deployment maps (:attr:`former`) names the unit it maps to."""
        found = self._by_code.get(code)
        if found is None:
            key = code_key(code)
            found = self._by_key.get(key) or self._former.get(key)
        return found

    @property
    def former_count(self) -> int:
        """How many pre-2025 codes map to a unit (those that are no current code)."""
        return len(self._former)

    def canonical(self, code: str) -> str | None:
        """The code as the statistics office writes it, or None when it is no unit here."""
        unit = self.unit(code)
        return unit.code if unit else None

    def area_name(self, code: str) -> str | None:
        unit = self.unit(code)
        return unit.name if unit else None
