"""How long KPI updates stand still after the stream worker is SIGKILLed under ``ioc up``.

Starts ``ioc up`` (simulator on, through the connectors) in a temporary data dir, waits until
the worker counts, then kills the worker N times with SIGKILL and measures, each time, from the
kill to the next committed batch (the worker commits KPIs and offsets in one transaction, so
a moving ``consumer_offsets`` sum is a KPI update). The supervisor restarts the worker; the
new member joins the consumer group. Run:

    ioc bench failover --kills 5
    IOC_BROKER_SESSION_TIMEOUT_S=10 ioc bench failover   # a setting

Prints one line per kill and the median and worst figures.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

from bench.measure import percentile
from bench.up import RUNNING, start_up
from ioc.embedded.processes import free_port
from ioc.storage.offsets import committed_total


def committed(url: str) -> int:
    with psycopg.connect(url, connect_timeout=2) as conn:
        return committed_total(conn)


def worker_pid(up_pid: int) -> int | None:
    """The running worker: the oldest ``ioc worker`` (the standby one is started after it)."""
    out = subprocess.run(["ps", "-ww", "--ppid", str(up_pid), "-o", "pid=,etimes=,args="],
                         capture_output=True, text=True).stdout
    found = [(-int(age), int(pid)) for pid, age, args in
             (line.strip().split(None, 2) for line in out.splitlines())
             if args.endswith("-m ioc worker")]
    return min(found)[1] if found else None


def until_moves(url: str, since: int, timeout_s: float) -> float:
    """Seconds until the committed sum passes ``since``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            if committed(url) > since:
                return time.monotonic() - start
        except psycopg.Error:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no KPI update within {timeout_s:.0f} s")


def run_failover(kills: int, rate: float, settle_s: float) -> int:
    """Kill the worker of a fresh ``ioc up`` ``kills`` times; print each stall and a summary."""
    with tempfile.TemporaryDirectory(prefix="ioc-failover-") as tmp:
        urls: list[str] = []
        echo = threading.Event()

        def heard(line: str) -> None:
            if echo.is_set():
                print("  " + line, flush=True)  # the supervisor's lines
            elif found := re.search(r"PostgreSQL ready on ([\d.]+):(\d+)", line):
                urls.append(f"postgresql://postgres@{found[1]}:{found[2]}/ioc")
            elif line.startswith(RUNNING):
                echo.set()

        up = start_up(["--data-dir", str(Path(tmp) / "data"), "--port", str(free_port())],
                      Path(tmp) / "ioc-up.log",
                      {"IOC_RESTART_HEALTHY_AFTER_S": "5", **os.environ, "IOC_SIM_RATE": str(rate)}, heard)
        try:
            up.wait_running(300)
            url = urls[-1]
            stalls = []
            for n in range(kills):
                time.sleep(settle_s)
                pid = worker_pid(up.proc.pid)
                if pid is None:
                    raise SystemExit("no worker process found")
                until_moves(url, committed(url), 60)  # steady: updates are flowing
                before = committed(url)
                os.kill(pid, signal.SIGKILL)
                stall = until_moves(url, before, 120)
                stalls.append(stall)
                print(f"kill {n + 1}: KPI updates resumed {stall:.1f} s after the SIGKILL",
                      flush=True)
            print(f"session timeout {os.environ.get('IOC_BROKER_SESSION_TIMEOUT_S', '3 (ioc up)')} s"
                  f": median {percentile(stalls, 0.5):.1f} s, worst {max(stalls):.1f} s "
                  f"over {len(stalls)} kills")
        finally:
            up.stop(90)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.worker_failover``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--kills", type=int, default=5, help="how many times the worker is killed")
    parser.add_argument("--rate", type=float, default=20.0, help="simulated events per second")
    parser.add_argument("--settle-s", type=float, default=8.0, help="running time between kills")
    args = parser.parse_args(argv)
    return run_failover(args.kills, args.rate, args.settle_s)


if __name__ == "__main__":
    sys.exit(main())
