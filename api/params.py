"""Types of request parameters that keep hostile values out of the handlers (docs/contract/api.md: every
client input gets a 4xx, never a 5xx). Used in route signatures and request models, so the
bounds are also in the OpenAPI and a violation is FastAPI's 422 naming the parameter.

- identifiers stored as PostgreSQL ``bigint``: 1 .. 2^63-1 (``9223372036854775808`` would
  reach the database and fail there);
- text: no NUL (PostgreSQL refuses it in ``text``) and a bounded length;
- instants: RFC 3339 with an offset, years 1900 to 8999 (year 1 or 9999 overflows bucket
  and local-time arithmetic).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import annotated_types as at
from fastapi import HTTPException, status
from pydantic import AfterValidator, AwareDatetime

BIGINT_MAX = 2**63 - 1
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL (U+0000)")
    return value


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("must lie between 1900-01-01 and 8999-12-31")
    return value


RowId = Annotated[int, at.Ge(1), at.Le(BIGINT_MAX)]
"""A row id (``bigint`` identity)."""
Text = Annotated[str, at.MaxLen(200), AfterValidator(_no_nul)]
"""A code or name given in a query: an area, station, metric, agency, …"""
LongText = Annotated[str, at.MaxLen(2000), AfterValidator(_no_nul)]
"""Free text in a body: a comment, a description."""
Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]
"""An RFC 3339 instant with an explicit offset."""


def given_area(area: str | None, district: str | None) -> str | None:
    """The code asked for as ``area=`` or its v1 name ``district=`` (both only if equal)."""
    if area is not None and district is not None and area != district:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            "give area or its v1 name district, not both with different codes")
    return area if area is not None else district
