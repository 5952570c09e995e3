"""Alert rules: what an admin may write, what is checked, and which KPI values a rule judges.

Pure: no I/O. A rule watches one KPI at one bucket size (or a gauge, bucket ``now``) for the
province or for areas; each (rule, scope) is one track of the state machine in
:mod:`ioc.alerts.machine`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ioc.alerts.machine import Comparison, Condition
from ioc.event_data import METRICS
from ioc.kpis.buckets import Bucket, bucket_start
from ioc.kpis.catalogue import BY_ID, Kind
from ioc.kpis.counters import PROVINCE
from ioc.kpis.gauges import GAUGE_KPIS
from ioc.kpis.sensors import SENSOR_KPIS

GAUGE = "now"
STATION_SCOPE = "station:"
"""A station's track is scoped ``station:<id>``; the province's is '' and an area's its code."""


def alert_scope(area: str | None, station: str | None) -> str:
    """The scope of a track: ``station:<id>`` for a station, else the area's code, else
    '' (the province). The one place the scope string is built; :func:`scope_parts` reads it."""
    return STATION_SCOPE + station if station is not None else area or PROVINCE


def scope_parts(scope: str) -> tuple[str | None, str | None]:
    """``(area, station)`` of a scope string: one of them, or neither for the province."""
    station = scope.removeprefix(STATION_SCOPE) if scope.startswith(STATION_SCOPE) else None
    return (scope if scope and station is None else None), station


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class WebhookTarget(BaseModel):
    """An HTTP endpoint that receives a signed JSON POST (docs/alerts.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=2000)
    secret: str = Field(min_length=16, max_length=200,
                        description="HMAC-SHA256 key; never returned by the API")

    def label(self) -> str:
        return self.url


class EmailTarget(BaseModel):
    """Recipients of an e-mail sent over the configured SMTP server."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["email"] = "email"
    to: list[str] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _addresses(self) -> EmailTarget:
        bad = [a for a in self.to if not _EMAIL.match(a)]
        if bad:
            raise ValueError(f"not an e-mail address: {', '.join(bad)}")
        return self

    def label(self) -> str:
        return "mailto:" + ",".join(self.to)


Target = Annotated[WebhookTarget | EmailTarget, Field(discriminator="kind")]


class EscalationStep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    after_minutes: float = Field(gt=0, le=7 * 24 * 60,
                                 description="minutes after firing without an acknowledgement")
    targets: list[Target] = Field(min_length=1, max_length=20)


class RuleSpec(BaseModel):
    """An alert rule as an admin writes it. Cross-field checks are in :func:`check_rule`
    (they need the deployment's areas)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # JSON has no NaN
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    kpi: str = Field(description="a KPI id of the catalogue (GET /api/v1/kpis)")
    bucket: Literal["1m", "1h", "1d", "now"] = Field(
        description="the bucket whose value is judged; 'now' for gauges (dossier.open, "
                    "dossier.overdue_open, dossier.due_soon, feedback.open, feedback.overdue_open, "
                    "sensor.stations_silent); '1d' for the service index (index.*). Only the "
                    "current bucket is judged.")
    metric: str | None = Field(default=None, description="sensor metric, for sensor.* KPIs only")
    scope: Literal["province", "areas", "stations"] = "province"
    areas: list[str] | None = Field(
        default=None, description="for scope 'areas': the codes; null = every area")
    stations: list[str] | None = Field(
        default=None, description="for scope 'stations' (sensor aggregates): station ids; null = every "
                                  "station that reports")
    comparison: Comparison
    threshold: float
    recovery: float | None = Field(
        default=None, description="the value must come back past this to resolve; default: threshold")
    pending_minutes: float = Field(default=0, ge=0, le=24 * 60,
                                   description="the breach must hold this long before firing")
    min_count: int = Field(default=0, ge=0, description="ratios: judged only from this denominator up")
    severity: Severity = Severity.WARNING
    targets: list[Target] = Field(default_factory=list, max_length=20)
    escalation: list[EscalationStep] = Field(
        default_factory=list, max_length=5,
        description="critical rules only: who is told, and when, while nobody acknowledges")

    @model_validator(mode="before")
    @classmethod
    def _v1_names(cls, raw: Any) -> Any:
        """v1 rules said ``districts`` (scope and list); both are still taken."""
        if isinstance(raw, dict) and ("districts" in raw or raw.get("scope") == "districts"):
            raw = dict(raw)
            if "districts" in raw:
                if "areas" in raw and raw["areas"] != raw["districts"]:
                    raise ValueError("give 'areas' or its v1 name 'districts', not both")
                raw["areas"] = raw.pop("districts")
            if raw.get("scope") == "districts":
                raw["scope"] = "areas"
        return raw

    @property
    def condition(self) -> Condition:
        return Condition(self.comparison, self.threshold,
                         self.threshold if self.recovery is None else self.recovery,
                         timedelta(minutes=self.pending_minutes))


class RuleCheckError(ValueError):
    pass


def check_rule(spec: RuleSpec, area_codes: frozenset[str]) -> None:
    """Raise :class:`RuleCheckError` with a sentence naming the field when the rule cannot work."""
    kpi = BY_ID.get(spec.kpi)
    if kpi is None:
        raise RuleCheckError(f"kpi: unknown KPI {spec.kpi!r}")
    is_gauge = spec.kpi in GAUGE_KPIS
    if is_gauge != (spec.bucket == GAUGE):
        advice = "a gauge: use" if is_gauge else "not a gauge: do not use"
        raise RuleCheckError(f"bucket: {spec.kpi} is {advice} bucket 'now'")
    if kpi.kind is Kind.INDEX and spec.bucket != "1d":
        raise RuleCheckError(f"bucket: {spec.kpi} is judged per day: use bucket '1d'")
    if spec.kpi in SENSOR_KPIS:
        if spec.metric not in METRICS:
            raise RuleCheckError(f"metric: {spec.kpi} needs one of {', '.join(METRICS)}")
    elif spec.metric is not None:
        raise RuleCheckError(f"metric: only sensor KPIs take a metric, not {spec.kpi}")
    if spec.min_count and kpi.kind is not Kind.RATIO:
        raise RuleCheckError("min_count: only ratio KPIs have a denominator to count")
    if spec.scope != "areas" and spec.areas is not None:
        raise RuleCheckError(f"areas: a {spec.scope} rule names no areas (use scope 'areas')")
    if spec.scope != "stations" and spec.stations is not None:
        raise RuleCheckError(f"stations: a {spec.scope} rule names no stations (use scope 'stations')")
    if spec.scope == "stations" and (spec.kpi not in SENSOR_KPIS or is_gauge):
        raise RuleCheckError("scope: only sensor aggregates (sensor.avg, sensor.min, sensor.max, "
                             "sensor.readings) are kept per station")
    if spec.stations is not None and (not spec.stations or not all(s.strip() for s in spec.stations)):
        raise RuleCheckError("stations: give at least one station id, or null for every station")
    if spec.areas is not None:
        unknown = sorted(set(spec.areas) - area_codes)
        if unknown or not spec.areas:
            raise RuleCheckError(f"areas: unknown codes {', '.join(unknown)}" if unknown
                                 else "areas: give at least one code, or null for every area")
    if spec.escalation and spec.severity is not Severity.CRITICAL:
        raise RuleCheckError("escalation: only critical rules escalate")
    steps = [s.after_minutes for s in spec.escalation]
    if steps != sorted(set(steps)):
        raise RuleCheckError("escalation: steps must come in increasing after_minutes")
    try:
        spec.condition  # noqa: B018 - builds the Condition, which checks the thresholds
    except ValueError as exc:
        raise RuleCheckError(f"recovery: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Rule:
    """A stored rule."""

    id: int
    spec: RuleSpec
    enabled: bool = True
    version: int = 1


@dataclass(frozen=True, slots=True)
class Observation:
    """The value of one (rule, scope) carried by a KPI change."""

    rule_id: int
    scope: str
    value: float | None
    """None: not judgeable (no data, or fewer than ``min_count`` in a ratio's denominator)."""
    start: datetime
    version: int

    def newer_than(self, start: datetime | None, version: int | None) -> bool:
        if start is None or version is None:
            return True
        return (self.start, self.version) > (start, version)


def is_current(bucket: str, start: datetime, now: datetime, utc_offset: timedelta) -> bool:
    """Whether a value's bucket is the one containing ``now`` (a gauge's always is)."""
    return bucket == GAUGE or start == bucket_start(now, Bucket(bucket), utc_offset)


def observations(rules: Iterable[Rule], messages: Iterable[dict[str, Any]], now: datetime,
                 utc_offset: timedelta) -> dict[tuple[int, str], Observation]:
    """The newest current-bucket value of each (rule, scope) among KPI change messages."""
    by_kpi: dict[tuple[str, str, str | None], list[Rule]] = {}
    for rule in rules:
        if rule.enabled:
            by_kpi.setdefault((rule.spec.kpi, rule.spec.bucket, rule.spec.metric), []).append(rule)
    found: dict[tuple[int, str], Observation] = {}
    for message in messages:
        if message.get("type") != "kpi":
            continue
        watching = by_kpi.get((message["kpi"], message["bucket"], message.get("metric")))
        if not watching:
            continue
        start = datetime.fromisoformat(message["start"])
        if not is_current(message["bucket"], start, now, utc_offset):
            continue
        station = message.get("station")
        scope = alert_scope(message.get("area"), station or None)
        for rule in watching:
            if not _in_scope(rule.spec, scope, station):
                continue
            value = message.get("value")
            if value is not None and rule.spec.min_count and \
                    int(message.get("denominator") or 0) < rule.spec.min_count:
                value = None
            seen = Observation(rule.id, scope, None if value is None else float(value), start,
                               int(message.get("version", 0)))
            earlier = found.get((rule.id, scope))
            if earlier is None or seen.newer_than(earlier.start, earlier.version):
                found[(rule.id, scope)] = seen
    return found


def _in_scope(spec: RuleSpec, scope: str, station: str | None) -> bool:
    if spec.scope == "stations":
        return station is not None and (spec.stations is None or station in spec.stations)
    if station is not None:
        return False
    if spec.scope == "province":
        return scope == PROVINCE
    return scope != PROVINCE and (spec.areas is None or scope in spec.areas)


PM25_LIMIT_UG_M3 = 50.0
"""QCVN 05:2023/BTNMT: PM2.5, 24-hour average, 50 µg/m³ (the national limit; there is no
hourly one for PM2.5, so the default rule applies it to the hourly mean, as an early warning)."""


def default_rules() -> list[RuleSpec]:
    """Shipped with a new deployment (migration ``ioc migrate`` adds them once); no targets
    until an admin adds them: alerts show on the wall and in the API from the start."""
    return [
        RuleSpec(name="Area on-time rate today below 95%",
                 description="Dossiers resolved on time today, per area; judged from 20 "
                             "resolved dossiers; resolves at 96%.",
                 kpi="dossier.on_time_rate", bucket="1d", scope="areas",
                 comparison=Comparison.BELOW, threshold=95, recovery=96, min_count=20,
                 severity=Severity.WARNING),
        RuleSpec(name="Overdue backlog above 50 dossiers",
                 description="Open dossiers past their due date, province-wide, for 10 minutes.",
                 kpi="dossier.overdue_open", bucket="now", comparison=Comparison.ABOVE,
                 threshold=50, recovery=40, pending_minutes=10, severity=Severity.CRITICAL),
        RuleSpec(name="PM2.5 hourly average above the national limit",
                 description="Area hourly mean of PM2.5 above 50 µg/m³ (QCVN 05:2023/BTNMT, "
                             "24-hour limit); resolves at 45 µg/m³.",
                 kpi="sensor.avg", metric="pm2_5", bucket="1h", scope="areas",
                 comparison=Comparison.ABOVE, threshold=PM25_LIMIT_UG_M3, recovery=45,
                 severity=Severity.WARNING),
        RuleSpec(name="Sensor station silent",
                 description="A station that reported in the last 24 h has sent nothing for "
                             "10 minutes (IOC_STATION_SILENCE_S).",
                 kpi="sensor.stations_silent", bucket="now", comparison=Comparison.ABOVE,
                 threshold=0, recovery=0, pending_minutes=5, severity=Severity.WARNING),
        RuleSpec(name="Non-cash payment rate falling below 50%",
                 description="Share of payments made without cash this hour, province-wide "
                             "(the plan is 66%); judged from 30 payments; resolves at 55%.",
                 kpi="payment.non_cash_rate", bucket="1h", comparison=Comparison.BELOW,
                 threshold=50, recovery=55, min_count=30, pending_minutes=15,
                 severity=Severity.INFO),
    ]


def escalation_due(spec: RuleSpec, fired_at: datetime, level: int, now: datetime
                   ) -> tuple[int, list[WebhookTarget | EmailTarget]]:
    """The escalation level reached at ``now`` by an alert fired at ``fired_at`` and nobody
    acknowledged, and the targets of the steps passed since ``level``."""
    reached = sum(1 for s in spec.escalation if fired_at + timedelta(minutes=s.after_minutes) <= now)
    targets = [t for s in spec.escalation[level:reached] for t in s.targets]
    return max(level, reached), targets
