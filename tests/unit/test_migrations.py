"""The bundled migrations resolve to one file per version for each storage layout."""

from __future__ import annotations

from ioc.storage.layout import Layout
from ioc.storage.migrate import bundled_migrations


def test_each_layout_gets_every_version_once() -> None:
    per_layout = {layout: bundled_migrations(layout) for layout in Layout}
    for layout, migrations in per_layout.items():
        versions = [m.version for m in migrations]
        assert versions == list(range(1, len(versions) + 1)), layout
        assert all(m.layout in (None, layout) for m in migrations)
    timescale = {m.version: m for m in per_layout[Layout.TIMESCALEDB]}
    plain = {m.version: m for m in per_layout[Layout.POSTGRES]}
    assert timescale.keys() == plain.keys()
    assert "create_hypertable" in timescale[5].sql and "PARTITION BY RANGE" in plain[5].sql
    assert "time_bucket" in timescale[6].sql and "date_bin" in plain[6].sql
    assert timescale[1] is not plain[1] and timescale[1].sql == plain[1].sql
