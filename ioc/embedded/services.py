"""The embedded PostgreSQL and Kafka-protocol broker, started together on free ports.

One way to start them (``ioc up``, the benchmarks and the integration tests all use it) and
one way to get a fresh database ready for the pipeline: topics, migrations, tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ioc.credentials import ensure_credentials
from ioc.embedded.broker import EmbeddedBroker
from ioc.embedded.postgres import EmbeddedPostgres
from ioc.embedded.processes import free_ports
from ioc.settings import Settings
from ioc.storage.migrate import migrate
from ioc.topics import ensure_topics


@dataclass
class EmbeddedServices:
    """PostgreSQL (data under ``root/postgres``) and the memory-only broker."""

    postgres: EmbeddedPostgres
    broker: EmbeddedBroker
    root: Path

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def database_url(self) -> str:
        """The default database (``ioc``)."""
        return self.postgres.url

    def create_database(self, name: str) -> str:
        """The URL of database ``name``, created if missing (one per test module, say)."""
        with psycopg.connect(self.postgres.admin_url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@{self.postgres.host}:{self.postgres.port}/{name}"

    def stop(self) -> None:
        """The broker, then PostgreSQL; either may not have started."""
        self.broker.stop()
        self.postgres.stop()


def services_at(root: Path, *, log_dir: Path | None = None) -> EmbeddedServices:
    """Both services on free ports, not started (``ioc up`` starts each under supervision)."""
    logs = log_dir if log_dir is not None else root / "logs"
    pg_port, broker_port = free_ports(2)
    return EmbeddedServices(
        EmbeddedPostgres(root / "postgres", pg_port, logs / "postgres.log"),
        EmbeddedBroker("127.0.0.1", broker_port, logs / "broker.log"), root)


def start_services(root: Path, *, log_dir: Path | None = None) -> EmbeddedServices:
    """Start PostgreSQL, then the broker (logs in ``log_dir``, default ``root/logs``); if the
    broker fails, PostgreSQL is stopped again."""
    services = services_at(root, log_dir=log_dir)
    try:
        services.postgres.start()
        services.broker.start()
    except BaseException:
        services.stop()
        raise
    return services


@contextmanager
def embedded_services(root: Path, *, log_dir: Path | None = None) -> Iterator[EmbeddedServices]:
    """:func:`start_services`, stopped on the way out."""
    services = start_services(root, log_dir=log_dir)
    try:
        yield services
    finally:
        services.stop()


def prepare(settings: Settings, credentials_file: Path, *,
            migrated: Callable[[list[int]], None] | None = None) -> dict[str, str]:
    """Make the topics, apply the migrations (``settings.storage_layout``) and make sure the
    tokens exist; returns the tokens. ``migrated`` hears the versions applied."""
    ensure_topics(settings)
    applied = migrate(settings.database_url, layout=settings.storage_layout)
    if migrated is not None:
        migrated(applied)
    return ensure_credentials(credentials_file, settings.database_url)
