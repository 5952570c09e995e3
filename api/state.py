"""What the API process holds while it runs, built in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg_pool import AsyncConnectionPool

from api.auth import TokenCache
from api.change_consumer import ChangeConsumer
from api.fanout import Hub
from api.producer import EventProducer
from api.snapshots import SnapshotReads
from ioc.clock import Clock
from ioc.events import Rules
from ioc.geography import Geography
from ioc.settings import Settings


@dataclass
class AppState:
    settings: Settings
    geography: Geography
    clock: Clock
    pool: AsyncConnectionPool
    tokens: TokenCache
    hub: Hub
    feed: ChangeConsumer
    producer: EventProducer
    rules: Rules
    snapshots: SnapshotReads = field(default_factory=SnapshotReads)
