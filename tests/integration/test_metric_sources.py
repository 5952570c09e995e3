"""The database side of the worker's metrics on real PostgreSQL: the sources bound to
unrevoked integrator keys (the label values of ioc_events_total besides the configured
ones) and the stored offsets the consumer lag is measured against."""

from __future__ import annotations

import asyncio
import json
import random
import re
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from psycopg import AsyncConnection

from ioc.settings import Settings
from ioc.source_labels import OTHER, known_sources, source_label
from ioc.storage import offsets
from ioc.storage.keys import bound_sources_async, create_key, revoke_key
from ioc.storage.migrate import migrate
from ioc.tokens import Role
from tests.generator import valid_event
from tests.integration.conftest import Services, running_pipeline

pytestmark = pytest.mark.integration


def test_bound_sources_and_stored_positions(services: Services) -> None:
    url = services.create_database("p_metric_sources")
    migrate(url, layout="postgres")
    with psycopg.connect(url, autocommit=True) as conn:
        create_key(conn, Role.INTEGRATOR, "portal", ["hcc.haiduong", "portal.haiduong"], "test")
        create_key(conn, Role.INTEGRATOR, "any source", None, "test")
        gone = create_key(conn, Role.INTEGRATOR, "old bank", ["bank.old"], "test")
        create_key(conn, Role.OPERATOR, "ops", None, "test")
        assert revoke_key(conn, gone.info.id, "test")

    async def read() -> tuple[set[str], dict[int, int]]:
        async with await AsyncConnection.connect(url, autocommit=True) as conn:
            await offsets.lock_positions(conn, "c1", "kpi", [("t", 0), ("t", 1), ("u", 0)])
            await offsets.advance(conn, "c1", "kpi", {("t", 0): 40, ("t", 1): 7, ("u", 0): 9})
            await offsets.advance(conn, "c2", "kpi", {("t", 0): 99})  # another cluster: no row
            return await bound_sources_async(conn), await offsets.stored_positions(conn, "c1", "kpi", "t")

    bound, stored = asyncio.run(read())
    assert bound == {"hcc.haiduong", "portal.haiduong"}  # the revoked key's source is gone
    assert stored == {0: 40, 1: 7}
    known = known_sources(Settings(), bound)
    assert source_label("portal.haiduong", known) == "portal.haiduong"
    assert source_label("bank.old", known) == OTHER


def test_the_worker_labels_key_bound_sources_and_the_rest_as_other(services: Services) -> None:
    rng = random.Random(5)
    now = datetime.now(UTC)
    with running_pipeline(services, "p_source_labels") as pipe:
        with psycopg.connect(pipe.settings.database_url, autocommit=True) as conn:
            create_key(conn, Role.INTEGRATOR, "portal", ["hcc.haiduong"], "test")
        pipe.stop("worker")
        pipe.start_worker()  # reads the bound sources as it starts
        events = []
        for n, source in enumerate(["hcc.haiduong", "made.up.by.a.bug", "dvc.haiduong"] * 5):
            event = valid_event(rng, n, now - timedelta(minutes=5))
            events.append(json.dumps({**event, "source": source}).encode())
        pipe.publish(events)
        pipe.wait_processed()
        text = httpx.get(pipe.metrics_url, timeout=5).text
    sources = set(re.findall(r'^ioc_events_total\{[^}]*source="([^"]+)"', text, re.M))
    assert sources == {"hcc.haiduong", "dvc.haiduong", OTHER}, sources
