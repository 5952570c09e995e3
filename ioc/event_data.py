"""The data of each event type (docs/contract/events.md, "Types"): one pydantic model per type.

``DATA_MODELS`` maps a type to its model; ``ioc.events`` validates envelopes against them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)


def _parse_rfc3339(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None or "T" not in value.upper():
        raise ValueError(f"'{value}' needs a date, a time and an explicit offset (e.g. +07:00)")
    if not 1900 <= parsed.year <= 8999:
        # Year 1 or 9999 would overflow bucket and local-time arithmetic downstream.
        raise ValueError(f"'{value}' is out of range (years 1900 to 8999)")
    return parsed


_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
"""Identifiers hold no control character: PostgreSQL refuses NUL in text, so such an
identifier would stop the stream worker (a pattern: checked in pydantic's core, cheaply)."""


Timestamp = Annotated[datetime, BeforeValidator(_parse_rfc3339)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=_NO_CONTROL)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _v1_district(cls, raw: Any) -> Any:
        """``district`` is the v1 name of ``area``: either is taken, both only if equal."""
        if isinstance(raw, dict) and "district" in raw:
            raw = dict(raw)
            district = raw.pop("district")
            if "area" in raw and raw["area"] != district:
                raise ValueError("'area' and its v1 name 'district' differ; give one of them")
            raw["area"] = district
        return raw


class DossierReceived(_Data):
    dossier_id: Code
    service_code: Code
    agency_code: Code
    area: Code
    channel: Literal["online", "counter", "postal"]
    service_level: Literal["full_online", "partial_online", "offline"]
    due_at: Timestamp
    digitized: StrictBool = False
    """Its components were digitised at receipt (the service index)."""
    synced_national: StrictBool = False
    """Synchronised to the National Public Service Portal."""
    fee_vnd: StrictInt = Field(default=0, ge=0, le=10**15)
    fee_paid_online: StrictBool = False


class DossierResolved(_Data):
    dossier_id: Code
    service_code: Code
    agency_code: Code
    area: Code
    due_at: Timestamp
    result_digitized: StrictBool = False


class DossierWithdrawn(_Data):
    dossier_id: Code
    area: Code


class DossierRated(_Data):
    """A citizen's rating of how a dossier was handled."""

    dossier_id: Code
    agency_code: Code
    area: Code
    satisfied: StrictBool


class FeedbackReceived(_Data):
    """A citizen's complaint or petition (phản ánh, kiến nghị)."""

    feedback_id: Code
    agency_code: Code
    area: Code
    due_at: Timestamp


class FeedbackResolved(_Data):
    feedback_id: Code
    agency_code: Code
    area: Code
    due_at: Timestamp
    satisfied: StrictBool | None = None
    """Absent: no verdict (counts as satisfied unless resolved late)."""


class PaymentCompleted(_Data):
    payment_id: Code
    area: Code
    amount_vnd: StrictInt = Field(gt=0, le=10**15)
    method: Literal["cash", "card", "bank_transfer", "e_wallet", "qr"]
    purpose: Literal["fee", "tax", "utility", "other"]
    service_code: Code | None = None


Metric = Literal["pm2_5", "pm10", "no2", "o3", "water_level_cm", "rainfall_mm",
                 "temperature_c", "humidity_pct", "noise_db"]
METRICS: tuple[str, ...] = get_args(Metric)


class SensorReading(_Data):
    station_id: Code
    area: Code
    metric: Metric
    value: float = Field(allow_inf_nan=False)

    @field_validator("value", mode="before")
    @classmethod
    def _number_not_text(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a finite number")
        return value


EventData = (DossierReceived | DossierResolved | DossierWithdrawn | DossierRated | FeedbackReceived
             | FeedbackResolved | PaymentCompleted | SensorReading)

DATA_MODELS: dict[str, type[_Data]] = {
    "dossier.received": DossierReceived,
    "dossier.resolved": DossierResolved,
    "dossier.withdrawn": DossierWithdrawn,
    "dossier.rated": DossierRated,
    "feedback.received": FeedbackReceived,
    "feedback.resolved": FeedbackResolved,
    "payment.completed": PaymentCompleted,
    "sensor.reading": SensorReading,
}
