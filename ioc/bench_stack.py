"""The embedded stack a benchmark runs against: database, broker, and ``ioc`` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ioc.credentials import ensure_credentials
from ioc.embedded.broker import EmbeddedBroker
from ioc.embedded.postgres import EmbeddedPostgres
from ioc.embedded.processes import free_port, http_ok, wait_until
from ioc.settings import Settings
from ioc.storage.migrate import migrate
from ioc.topics import ensure_topics


@dataclass
class BenchStack:
    root: Path
    settings: Settings
    tokens: dict[str, str]
    env: dict[str, str]
    api_url: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with open(self.root / f"{name}.log", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "ioc", *args], env=self.env,
                                    stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def start_api(self) -> subprocess.Popen[bytes]:
        port = free_port()
        proc = self.spawn("api", "api", "--port", str(port))
        self.api_url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{self.api_url}/readyz"), timeout_s=60, what="API",
                   alive=lambda: proc.poll() is None, interval_s=0.2)
        return proc


@contextmanager
def bench_stack(prefix: str, *, processes: Sequence[str] = ("api",),
                env: dict[str, str] | None = None) -> Iterator[BenchStack]:
    """Start PostgreSQL and the broker, migrate, create tokens, then the named processes
    (``worker``, ``api``); stop everything afterwards."""
    root = Path(tempfile.mkdtemp(prefix=f"ioc-{prefix}-"))
    pg = EmbeddedPostgres(root / "postgres", free_port(), root / "postgres.log")
    broker = EmbeddedBroker("127.0.0.1", free_port(), root / "broker.log")
    stack: BenchStack | None = None
    try:
        pg.start()
        broker.start()
        settings = Settings(kafka_bootstrap=broker.bootstrap, database_url=pg.url,
                            topic_prefix=prefix, data_dir=root)
        ensure_topics(settings)
        migrate(settings.database_url)
        tokens = ensure_credentials(root / "credentials.json", settings.database_url)
        child_env = {**os.environ, "IOC_KAFKA_BOOTSTRAP": broker.bootstrap, "IOC_DATABASE_URL": pg.url,
                     "IOC_TOPIC_PREFIX": prefix, "IOC_DATA_DIR": str(root), "IOC_LOG_LEVEL": "WARNING",
                     **(env or {})}
        stack = BenchStack(root, settings, tokens, child_env)
        for name in processes:
            if name == "api":
                stack.start_api()
            else:
                stack.spawn(name, name)
        yield stack
    finally:
        for proc in reversed(list(stack.procs.values()) if stack else []):
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        broker.stop()
        pg.stop()
