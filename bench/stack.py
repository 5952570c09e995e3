"""The embedded stack a benchmark runs against: database, broker, and ``ioc`` processes."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ioc.embedded.child_env import child_env
from ioc.embedded.processes import free_port, http_ok, spawn_ioc, stop, wait_until
from ioc.embedded.services import embedded_services, prepare
from ioc.settings import Settings
from ioc.storage.layout import RequestedLayout


@dataclass
class BenchStack:
    root: Path
    settings: Settings
    tokens: dict[str, str]
    env: dict[str, str]
    api_url: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        proc = spawn_ioc(*args, log_file=self.root / f"{name}.log", env=self.env)
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
                env: dict[str, str] | None = None,
                layout: RequestedLayout = "auto") -> Iterator[BenchStack]:
    """Start PostgreSQL and the broker, migrate, create tokens, then the named processes
    (``worker``, ``api``); stop everything afterwards. ``layout``: the storage layout to migrate to."""
    root = Path(tempfile.mkdtemp(prefix=f"ioc-{prefix}-"))
    stack: BenchStack | None = None
    with embedded_services(root, log_dir=root) as services:
        try:
            settings = Settings(kafka_bootstrap=services.bootstrap, database_url=services.database_url,
                                topic_prefix=prefix, data_dir=root, log_level="WARNING",
                                storage_layout=layout)
            tokens = prepare(settings, root / "credentials.json")
            stack = BenchStack(root, settings, tokens, child_env(settings, env))
            for name in processes:
                if name == "api":
                    stack.start_api()
                else:
                    stack.spawn(name, name)
            yield stack
        finally:
            for proc in reversed(list(stack.procs.values()) if stack else []):
                stop(proc, timeout_s=30)
