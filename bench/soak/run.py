"""``ioc soak``: ``ioc up`` in a subprocess, under load for N minutes while its parts are
SIGKILLed on a schedule; then what it counted is checked against what it acknowledged.

The simulator of ``ioc up`` runs idle (rate 1e-9/s, no backlog): it still serves the fake
administrative-procedure system and sends every sensor station's readings each minute over
MQTT, but every dossier and payment event comes from the soak, so the counters
can be recomputed exactly from what the soak's clients were told was acknowledged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

from bench.soak.accounting import COUNTERS, RATIOS, AckBook, Cell, compare, expected_cells
from bench.soak.clients import (
    HttpLoad,
    KpiWatcher,
    MalformedPoster,
    SilentWebSocket,
    Target,
    WebhookLoad,
    deliver,
    post_until_answered,
)
from bench.soak.load import Load, probe_minute
from bench.soak.processes import Sampler, Tree
from bench.soak.report import FaultResult, SoakResult, build_result
from bench.up import UpProcess, start_up
from ioc.embedded.processes import free_port
from ioc.geography import Geography
from ioc.storage.ledger import keys_seen_since

FAULTS = ("worker", "api", "worker", "postgres", "payments", "broker", "worker")
MALFORMED = 10_000
RECOVERY_TIMEOUT_S = 180.0


@dataclass
class Stack:
    up: UpProcess
    data_dir: Path
    api: str
    tree: Tree

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        return self.up.proc

    @property
    def lines(self) -> list[str]:
        return self.up.lines


def start_stack(data_dir: Path, say: Callable[[str], None]) -> Stack:
    port = free_port()
    env = {**os.environ, "IOC_SIM_BACKLOG_DAYS": "0", "PYTHONUNBUFFERED": "1"}
    up = start_up(["--port", str(port), "--data-dir", str(data_dir), "--rate", "1e-9"],
                  data_dir / "ioc-up.log", env)
    up.wait_running(300)
    say(f"soak: ioc up ready (pid {up.proc.pid}, data dir {data_dir})")
    return Stack(up, data_dir, f"http://127.0.0.1:{port}", Tree(up.proc.pid))


def stop_stack(stack: Stack) -> None:
    stack.up.stop(120)


class Prober:
    """One acknowledged event in the probe minute at a time; recovered when the KPIs show it."""

    def __init__(self, target: Target, geography: Geography, started: datetime) -> None:
        self.target, self.tz = target, geography.tz
        self.minute = probe_minute(started, geography.tz)
        self.started = started
        self.acked = {"dossier.received": 0, "payment.count": 0}

    def probe(self, via_webhook: bool, deadline: float) -> bool:
        """Send one probe (the same event again until acknowledged: a retry must not make a
        second event) and wait until the KPIs show it."""
        t = self.target
        kpi = "payment.count" if via_webhook else "dossier.received"
        with httpx.Client(timeout=10) as http:
            if via_webhook:
                delivery = t.generate(t.load.probe_delivery, self.started, self.tz, "payments.gateway")
                event = delivery.event
                acked = deliver(http, t, delivery, deadline) == 200
            else:
                event = t.generate(t.load.probe, "dossier.received", self.started, self.tz, "soak.probe")
                answer = post_until_answered(
                    http, t, f"{t.api}/api/v1/events", json.dumps(event).encode(),
                    {"Authorization": f"Bearer {t.integrator}",
                     "Content-Type": "application/cloudevents+json"}, {202}, deadline)
                acked = answer is not None and answer.json()["accepted"] == 1
            if not acked:
                return False
            with t.lock:
                t.book.ack(event)
            self.acked[kpi] += 1
            while time.monotonic() < deadline:
                if _try(lambda: self.counted(http, kpi) >= self.acked[kpi]):
                    return True
                time.sleep(0.2)
        return False

    def counted(self, http: httpx.Client, kpi: str) -> int:
        answer = http.get(f"{self.target.api}/api/v1/kpis/{kpi}/series",
                          params={"bucket": "1m", "start": self.minute.isoformat(),
                                  "end": (self.minute + timedelta(minutes=1)).isoformat()},
                          headers={"Authorization": f"Bearer {self.target.reader}"})
        if answer.status_code != 200:
            return -1
        return sum(int(p["value"] or 0) for p in answer.json()["points"])


def _try(check: Callable[[], bool]) -> bool:
    try:
        return check()
    except (httpx.HTTPError, ValueError, KeyError):
        return False


def inject(stack: Stack, prober: Prober, part: str, load_start: float) -> FaultResult:
    """SIGKILL ``part`` and measure its recovery: a new process, /readyz 200 again, and a
    fresh event acknowledged and visible in the KPIs through each way in (HTTP ingest, then
    the payment webhook)."""
    killed_at = time.monotonic()
    pid = stack.tree.kill(part)
    deadline = killed_at + RECOVERY_TIMEOUT_S
    new_pid: int | None = None
    restart_s = ready_s = None
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < deadline and (new_pid is None or ready_s is None):
            if new_pid is None:
                proc = stack.tree.main(part)
                if proc is not None and proc.pid != pid:
                    new_pid, restart_s = proc.pid, time.monotonic() - killed_at
            if ready_s is None and _try(lambda: http.get(f"{stack.api}/readyz").status_code == 200):
                ready_s = time.monotonic() - killed_at
            if stack.proc.poll() is not None:
                break
            time.sleep(0.1)
    failed = [way for way, webhook in (("HTTP ingest", False), ("payment webhook", True))
              if stack.proc.poll() is not None or not prober.probe(webhook, deadline)]
    note = f"no fresh event counted through {' nor '.join(failed)}" if failed else ""
    return FaultResult(part, killed_at - load_start, pid, new_pid, restart_s, ready_s,
                       None if failed else time.monotonic() - killed_at, note)


def wait_counted(database_url: Callable[[], str | None], keys: set[bytes], since: datetime,
                 settle_s: float = 60.0, timeout_s: float = 600.0) -> set[bytes]:
    """Poll the deduplication ledger until every key is in it, or it stops filling for
    ``settle_s``; the keys still missing."""
    seen: set[bytes] = set()
    missing = set(keys)
    mark = since
    progress = time.monotonic()
    end = progress + timeout_s
    while missing and time.monotonic() < end:
        url = database_url()
        try:
            if url is None:
                raise psycopg.OperationalError("PostgreSQL is not running")
            with psycopg.connect(url, connect_timeout=3) as conn:
                rows = keys_seen_since(conn, mark - timedelta(seconds=60))
            for key, at in rows:
                seen.add(key)
                mark = max(mark, at)
            before = len(missing)
            missing -= seen
            if len(missing) < before:
                progress = time.monotonic()
        except psycopg.Error:
            pass
        if missing and time.monotonic() - progress > settle_s:
            break
        time.sleep(2)
    return missing


def read_cells(api: str, token: str, scopes: Sequence[str], start: datetime,
               end: datetime) -> dict[Cell, tuple[int, int]]:
    got: dict[Cell, tuple[int, int]] = {}
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        for kpi in (*COUNTERS, *RATIOS):
            for scope in scopes:
                params = {"bucket": "1d", "start": start.isoformat(), "end": end.isoformat()}
                if scope:
                    params["area"] = scope
                answer = http.get(f"{api}/api/v1/kpis/{kpi}/series", params=params)
                answer.raise_for_status()
                for p in answer.json()["points"]:
                    day = datetime.fromisoformat(p["start"]).date()
                    cell = ((int(p["numerator"] or 0), int(p["denominator"] or 0)) if kpi in RATIOS
                            else (int(p["value"] or 0), 0))
                    if cell != (0, 0):
                        got[(kpi, scope, day)] = cell
    return got


def run_soak(minutes: float, rate: float, geography: Geography, *, data_dir: Path | None = None,
             exclude: Sequence[str] = (), faults: Sequence[str] = FAULTS, seed: int = 8,
             say: Callable[[str], None] = print) -> SoakResult:
    """Without ``data_dir``, the stack's data (and its logs) go to a temp dir, removed
    afterwards unless something went wrong."""
    made = data_dir is None
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="ioc-soak-"))
    stack = start_stack(data_dir, say)
    try:
        result = _soak(stack, minutes, rate, geography, [f for f in faults if f not in exclude], seed, say)
    finally:
        stop_stack(stack)
    if made and result.clean():
        shutil.rmtree(data_dir, ignore_errors=True)
        result.data_dir += " (removed)"
    return result


def _soak(stack: Stack, minutes: float, rate: float, geography: Geography, faults: list[str],
          seed: int, say: Callable[[str], None]) -> SoakResult:
    load_s = minutes * 60
    tokens = json.loads((stack.data_dir / "credentials.json").read_text(encoding="utf-8"))
    payments = stack.tree.environ("payments")
    started = datetime.now(UTC)
    areas = sorted(geography.area_codes)
    load = Load(areas, seed=seed, run=format(int(started.timestamp()), "x"), source="soak.http")
    target = Target(stack.api, tokens["integrator"], tokens["operator"],
                    f"http://127.0.0.1:{payments['IOC_PAYMENTS_PORT']}/webhooks/payments",
                    payments["IOC_PAYMENTS_WEBHOOK_SECRET"].encode(), AckBook(geography.tz), load)
    webhook_rate = min(rate * 0.1, 50.0)
    http_rate = rate - webhook_rate
    sampler = Sampler(stack.tree, stack.data_dir)
    watcher = KpiWatcher(target)
    silent = SilentWebSocket(target, lambda: stack.tree.main("api"))
    senders = [HttpLoad(target, http_rate, max(10, min(500, int(http_rate / 10))), "soak-http"),
               WebhookLoad(target, webhook_rate, 1, "soak-webhook")]
    malformed = MalformedPoster(target, MALFORMED, load_s * 0.9)
    prober = Prober(target, geography, started)
    results: list[FaultResult] = []
    say(f"soak: {minutes:g} min at {rate:g} events/s ({http_rate:g} over HTTP, {webhook_rate:g} "
        f"payment webhooks), faults: {', '.join(faults)}")
    try:
        for thread in (sampler, watcher, silent, *senders, malformed):
            thread.start()
        load_start = time.monotonic()
        for i, part in enumerate(faults):
            at = load_start + (i + 1) * load_s / (len(faults) + 1)
            time.sleep(max(0.0, at - time.monotonic()))
            if stack.proc.poll() is not None:
                say(f"soak: ioc up has exited (code {stack.proc.returncode}); no more faults")
                break
            try:
                result = inject(stack, prober, part, load_start)
            except RuntimeError as exc:  # the part is not running: nothing to kill
                say(f"soak: {exc}")
                result = FaultResult(part, time.monotonic() - load_start, None, None, None, None, None,
                                     "not running")
            results.append(result)
            say(f"soak: {result.line()}")
        time.sleep(max(0.0, load_start + load_s - time.monotonic()))
        load_end = time.monotonic()
        target.stop_load.set()
        say(f"soak: load stopped after {load_end - load_start:.0f} s; draining")
        for thread in (*senders, malformed):
            thread.join(timeout=120)
        target.abandon.set()
        for thread in (*senders, malformed):
            thread.join(timeout=30)
        drained = time.monotonic()
        with target.lock:
            keys = set(target.book.acked)

        def db_url() -> str | None:
            port = stack.tree.postgres_port()
            return f"postgresql://postgres@127.0.0.1:{port}/ioc" if port else None

        missing = wait_counted(db_url, keys, started - timedelta(minutes=1))
        caught_up = time.monotonic()
        say(f"soak: {len(keys) - len(missing):,} of {len(keys):,} acknowledged events counted "
            f"{caught_up - load_end:.1f} s after the load stopped")
        expected = expected_cells(target.book.acked.values())
        got = read_cells(stack.api, tokens["operator"], ["", *areas], started - timedelta(days=8),
                         started + timedelta(days=1))
        comparison = compare(expected, got)
    finally:
        target.stop_load.set()
        target.abandon.set()
        for stopper in (watcher.stop, silent.stop, sampler.stop):
            stopper.set()
        if sampler.is_alive():
            sampler.join(timeout=30)
    return build_result(minutes=minutes, rate=rate, target=target, faults=results, planned=faults,
                        missing=missing, comparison=comparison, watcher=watcher, silent=silent,
                        sampler=sampler, load_window=(load_start, load_end), drained_s=drained - load_end,
                        caught_up_s=caught_up - load_end, http_sent=senders[0].sent,
                        webhook_sent=senders[1].sent, stack_lines=stack.lines, data_dir=stack.data_dir)
