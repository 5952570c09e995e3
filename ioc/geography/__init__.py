"""The geography of a deployment (docs/contract/geography.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ioc.geography.model import Geography, Unit, code_key
from ioc.geography.sources import (
    DEFAULT_PROVINCE,
    HISTORIC,
    load_geography,
    parse_former_codes,
    parse_geography,
    province_codes,
)

if TYPE_CHECKING:
    from ioc.settings import Settings


def geography_of(settings: Settings) -> Geography:
    """The geography the settings name (``IOC_PROVINCE``, ``IOC_GEOGRAPHY_FILE``,
    ``IOC_FORMER_CODES_FILE``)."""
    return load_geography(settings.province, settings.geography_file, settings.former_codes_file)


__all__ = ["DEFAULT_PROVINCE", "HISTORIC", "Geography", "Unit", "code_key", "geography_of",
           "load_geography", "parse_former_codes", "parse_geography", "province_codes"]
