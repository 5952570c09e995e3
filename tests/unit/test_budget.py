"""The broker memory guard stops a process over its budget, once per interval."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from ioc.embedded.budget import MemoryGuard, over_budget, resident_bytes


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"  # the interpreter is up
    yield proc
    proc.kill()
    proc.wait()


def test_over_budget() -> None:
    assert over_budget(1_100_000_000, 1024)
    assert not over_budget(1_000_000_000, 1024)
    assert not over_budget(10**12, 0)  # 0: no limit
    assert not over_budget(None, 1)  # gone


def test_the_guard_stops_a_process_over_its_budget_once_per_interval(
        child: subprocess.Popen[bytes]) -> None:
    rss = resident_bytes(child.pid)
    assert rss is not None and rss > 1_000_000
    said: list[str] = []
    now = [0.0]
    guard = MemoryGuard(lambda: child, limit_mb=1, say=said.append, min_interval_s=60,
                        clock=lambda: now[0])
    assert guard.check()
    assert child.wait(10) != 0 and "restarting it empty" in said[0]
    assert not guard.check()  # already gone


def test_the_guard_leaves_a_process_within_budget_alone(child: subprocess.Popen[bytes]) -> None:
    guard = MemoryGuard(lambda: child, limit_mb=10_000, say=print)
    assert not guard.check() and child.poll() is None
    restarted = MemoryGuard(lambda: child, limit_mb=1, say=print, min_interval_s=60,
                            clock=lambda: 30.0, _last=0.0)
    assert not restarted.check() and child.poll() is None  # too soon after the last restart
