"""Keeping storage in shape over time, by layout: day partitions made ahead and dropped on
plain PostgreSQL; retention and compression policies on TimescaleDB (whose own jobs then
create, compress and drop chunks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ioc.storage import partitions, timescale
from ioc.storage.layout import Layout, layout_of

if TYPE_CHECKING:
    from ioc.settings import Settings


@dataclass(frozen=True, slots=True)
class Maintained:
    layout: Layout
    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    policies_changed: list[str] = field(default_factory=list)


def maintain_for(settings: Settings, now: datetime) -> Maintained:
    lateness = timedelta(seconds=settings.lateness_limit_s)
    retention = timedelta(days=settings.minute_retention_days)
    layout = layout_of(settings.database_url)
    if layout is Layout.TIMESCALEDB:
        changed = timescale.apply_policies(settings.database_url,
                                           timescale.policies_for(lateness, retention))
        return Maintained(layout, policies_changed=changed)
    created, dropped = partitions.maintain(settings.database_url, now, lateness, retention)
    return Maintained(layout, created, dropped)
