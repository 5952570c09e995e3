"""``/api/v1/agencies``: the deployment's agencies (docs/contract/geography.md)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import Reader, State
from ioc.geography.agencies import load_agencies

router = APIRouter(tags=["reference"])


class AgencyInfo(BaseModel):
    code: str = Field(description="the agency_code events carry")
    name: str
    level: Literal["province", "commune"] = Field(
        description="province: takes dossiers from every unit; commune: a unit's own agency "
                    "(in the historic profile, a district's)")
    area: str | None = Field(description="the unit a commune-level agency serves; null for the "
                                         "province level")


class AgencyList(BaseModel):
    agencies: list[AgencyInfo]


@router.get("/api/v1/agencies", response_model=AgencyList)
async def agencies(state: State, _: Reader) -> AgencyList:
    """The configured agencies (IOC_AGENCIES_FILE, else the shipped list): province level
    first, then one or more per unit in the order of the units' codes."""
    found = load_agencies(state.geography, state.settings.agencies_file)
    return AgencyList(agencies=[AgencyInfo(code=a.code, name=a.name, level=a.level,
                                           area=a.area) for a in found])
