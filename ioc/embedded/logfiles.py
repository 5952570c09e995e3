"""Bounded log files for the embedded stack's processes.

Each child writes its stdout and stderr into a pipe; a thread of the supervisor copies the
pipe, line by line, into ``name.log``, which it rotates at a size limit (``name.log.1`` is
the newest backup, ``name.log.<backups>`` the oldest). This works the same for the Python
children, the broker (Rust), PostgreSQL and its backends, and the MQTT broker.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ioc.settings import Settings

MAX_LINE = 64 * 1024  # a longer line is written in pieces


@dataclass(frozen=True, slots=True)
class LogLimit:
    max_bytes: int = 10_000_000
    backups: int = 3

    @classmethod
    def of(cls, settings: Settings) -> LogLimit:
        return cls(settings.log_max_bytes, settings.log_backups)


class RotatingFile:
    """An append-only file that moves aside to ``path.1`` when it would pass ``max_bytes``."""

    def __init__(self, path: Path, limit: LogLimit) -> None:
        self.path = path
        self.limit = limit
        path.parent.mkdir(parents=True, exist_ok=True)
        self._out = open(path, "ab")  # noqa: SIM115 - closed by close()
        self.size = self._out.tell()

    def write(self, data: bytes) -> None:
        if self.size > 0 and self.size + len(data) > self.limit.max_bytes:
            self.rotate()
        self._out.write(data)
        self._out.flush()
        self.size += len(data)

    def rotate(self) -> None:
        self._out.close()
        if self.limit.backups > 0:
            for n in range(self.limit.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{n}")
                if older.exists():
                    older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._out = open(self.path, "wb")  # noqa: SIM115 - truncates when there are no backups
        self.size = 0

    def close(self) -> None:
        self._out.close()


def pump(stream: IO[bytes], path: Path, limit: LogLimit) -> threading.Thread:
    """Copy ``stream`` into a rotating ``path`` on a daemon thread, until end of file."""
    target = RotatingFile(path, limit)

    def run() -> None:
        try:
            while chunk := stream.readline(MAX_LINE):
                target.write(chunk)
        except (OSError, ValueError):
            pass  # the pipe or the file went away while stopping
        finally:
            target.close()
            stream.close()

    thread = threading.Thread(target=run, name=f"log:{path.name}", daemon=True)
    thread.start()
    return thread
