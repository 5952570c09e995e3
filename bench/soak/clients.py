"""The soak's clients, each a thread: HTTP ingest and payment-webhook load (retrying as a real
integrator or gateway would: the same ids again after a 503 or a dropped connection), the
malformed-input poster, the KPI watcher and a WebSocket client that never reads."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil

from bench.soak.accounting import AckBook
from bench.soak.load import Delivery, Load, Sent
from ioc.signing import sign

RETRY_PAUSE_S = 0.25
BATCH_TYPE = "application/cloudevents-batch+json"


@dataclass
class Target:
    api: str
    integrator: str
    reader: str
    webhook: str
    webhook_secret: bytes
    book: AckBook
    load: Load
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop_load: threading.Event = field(default_factory=threading.Event)
    abandon: threading.Event = field(default_factory=threading.Event)
    """Set when the drain deadline has passed: requests still unacknowledged are given up."""
    statuses: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    """Valid events rejected, or invalid ones accepted, by reason."""
    invalid_rejected: int = 0
    unacknowledged: int = 0
    malformed_posted: int = 0
    malformed_rejected: int = 0
    malformed_accepted: int = 0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def generate(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self.lock:  # the generator is one seeded stream shared by the senders
            return fn(*args)


def post_until_answered(http: httpx.Client, target: Target, url: str, content: bytes,
                        headers: dict[str, str] | Callable[[], dict[str, str]],
                        done: set[int], deadline: float | None = None) -> httpx.Response | None:
    """POST, again after a 5xx, 401 (keys unreadable while the database is down) or a
    connection error, until an answer in ``done``, or None once the run abandons or the
    deadline (monotonic) passes."""
    while True:
        try:
            answer = http.post(url, content=content, headers=headers() if callable(headers) else headers)
            with target.lock:
                target.statuses[str(answer.status_code)] += 1
            if answer.status_code in done:
                return answer
        except httpx.HTTPError as exc:
            with target.lock:
                target.statuses[type(exc).__name__] += 1
        if target.abandon.is_set() or (deadline is not None and time.monotonic() > deadline):
            return None
        time.sleep(RETRY_PAUSE_S)


class Paced(threading.Thread):
    """Sends ``rate`` items per second in chunks, catching up after a stall."""

    def __init__(self, target: Target, rate: float, chunk: int, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.target, self.rate, self.chunk = target, rate, chunk
        self.sent = 0

    def run(self) -> None:
        start = time.monotonic()
        with httpx.Client(timeout=15) as http:
            while not self.target.stop_load.is_set():
                due = int((time.monotonic() - start) * self.rate) - self.sent
                if due < self.chunk and due < self.rate * 0.1:
                    time.sleep(0.01)
                    continue
                size = max(1, min(due, self.chunk))
                self.send(http, size)
                self.sent += size

    def send(self, http: httpx.Client, size: int) -> None:
        raise NotImplementedError


class HttpLoad(Paced):
    def send(self, http: httpx.Client, size: int) -> None:
        t = self.target
        batch: list[Sent] = t.generate(t.load.batch, size, t.now())
        body = json.dumps([s.event for s in batch]).encode()
        headers = {"Authorization": f"Bearer {t.integrator}", "Content-Type": BATCH_TYPE}
        answer = post_until_answered(http, t, f"{t.api}/api/v1/events", body, headers, {202})
        with t.lock:
            if answer is None:
                t.unacknowledged += sum(s.valid for s in batch)
                return
            rejected = {r["index"]: r["reason"] for r in answer.json()["rejected"]}
            for i, sent in enumerate(batch):
                if i in rejected:
                    if sent.valid:
                        t.unexpected[f"valid rejected: {rejected[i].split(':')[0]}"] += 1
                    else:
                        t.invalid_rejected += 1
                elif sent.valid:
                    t.book.ack(sent.event)
                else:
                    t.unexpected["invalid accepted"] += 1


def deliver(http: httpx.Client, target: Target, delivery: Delivery,
            deadline: float | None = None) -> int | None:
    """Post a webhook delivery, signed anew at each try (a gateway's retry); the final status."""
    body = json.dumps(delivery.body).encode()

    def headers() -> dict[str, str]:
        return {"Content-Type": "application/json",
                "X-Signature": sign(target.webhook_secret, int(time.time()), body)}

    answer = post_until_answered(http, target, target.webhook, body, headers, {200, 422, 400, 401},
                                 deadline)
    if answer is None:
        return None
    return answer.status_code


class WebhookLoad(Paced):
    def send(self, http: httpx.Client, size: int) -> None:
        t = self.target
        for _ in range(size):
            delivery: Delivery = t.generate(t.load.delivery, t.now(), "payments.gateway")
            status = deliver(http, t, delivery)
            with t.lock:
                if status is None:
                    t.unacknowledged += delivery.valid
                elif status == 200 and delivery.valid:
                    t.book.ack(delivery.event)
                elif status == 422 and not delivery.valid:
                    t.invalid_rejected += 1
                else:
                    t.unexpected[f"webhook {status} ({'valid' if delivery.valid else 'invalid'})"] += 1


class MalformedPoster(threading.Thread):
    """``total`` malformed events over ``seconds``: most in batches (each must come back
    rejected), some as bodies that are not events at all (the request must be refused)."""

    def __init__(self, target: Target, total: int, seconds: float, batch: int = 100,
                 singles: int = 500) -> None:
        super().__init__(name="soak-malformed", daemon=True)
        self.target, self.total, self.seconds = target, total, seconds
        self.batch, self.singles = batch, singles

    def run(self) -> None:
        t = self.target
        batches = (self.total - self.singles) // self.batch
        plan = ["batch"] * batches + ["single"] * (self.total - batches * self.batch)
        plan = plan[::2] + plan[1::2]
        start = time.monotonic()
        with httpx.Client(timeout=15) as http:
            for i, kind in enumerate(plan):
                wait = start + i * self.seconds / len(plan) - time.monotonic()
                if wait > 0 and t.stop_load.wait(wait):
                    return
                if kind == "batch":
                    events = t.generate(t.load.malformed_batch, self.batch, t.now())
                    body, ctype, count = json.dumps(events).encode(), BATCH_TYPE, len(events)
                else:
                    body, ctype = t.generate(t.load.malformed_body, t.now())
                    count = 1
                headers = {"Authorization": f"Bearer {t.integrator}", "Content-Type": ctype}
                answer = post_until_answered(http, t, f"{t.api}/api/v1/events", body, headers,
                                             {202, 400, 413, 415, 422})
                with t.lock:
                    t.malformed_posted += count
                    if answer is None:
                        continue
                    accepted = answer.json().get("accepted", 0) if answer.status_code == 202 else 0
                    t.malformed_accepted += accepted
                    t.malformed_rejected += count - accepted


class KpiWatcher(threading.Thread):
    """Polls today's province dossier.received and notes each moment it changes."""

    def __init__(self, target: Target, interval_s: float = 0.25) -> None:
        super().__init__(name="soak-kpi-watcher", daemon=True)
        self.target, self.interval_s = target, interval_s
        self.changes: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        last: object = None
        url = f"{self.target.api}/api/v1/kpis/dossier.received/current"
        with httpx.Client(timeout=5, headers={"Authorization": f"Bearer {self.target.reader}"}) as http:
            while not self.stop.wait(self.interval_s):
                try:
                    answer = http.get(url)
                except httpx.HTTPError:
                    continue
                if answer.status_code != 200:
                    continue
                value = answer.json().get("value")
                if value != last:
                    self.changes.append(time.monotonic())
                    last = value


class SilentWebSocket(threading.Thread):
    """A feed client that authenticates, subscribes to everything and never reads again. It
    watches (from the API's side, by the API process's open connections) when the feed lets
    it go, then connects again."""

    def __init__(self, target: Target, api_process: Callable[[], psutil.Process | None]) -> None:
        super().__init__(name="soak-silent-ws", daemon=True)
        self.target, self.api_process = target, api_process
        self.stop = threading.Event()
        self.sessions: list[tuple[float, float | None, bool]] = []
        """(connected, dropped or None, whether the same API process dropped it)."""

    def run(self) -> None:
        while not self.stop.is_set():
            api = self.api_process()
            try:
                sock = self._connect()
            except OSError:
                self.stop.wait(1)
                continue
            began = time.monotonic()
            port = sock.getsockname()[1]
            dropped: float | None = None
            same = False
            while not self.stop.wait(1):
                try:
                    held = api is not None and any(
                        c.laddr and c.raddr and c.raddr.port == port for c in api.net_connections("tcp"))
                except psutil.NoSuchProcess:
                    held = False
                if not held:
                    dropped = time.monotonic()
                    same = api is not None and api.is_running()
                    break
            self.sessions.append((began, dropped, same))
            sock.close()

    def _connect(self) -> socket.socket:
        host, port = self.target.api.removeprefix("http://").split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(5)
        sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(1024)
            if not chunk:
                raise OSError("closed during the handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            sock.close()
            raise OSError(f"no upgrade: {head[:80]!r}")
        sock.sendall(_frame({"type": "auth", "token": self.target.reader}))
        sock.sendall(_frame({"type": "subscribe", "kpis": None, "areas": None, "buckets": None,
                             "stations": None}))
        return sock  # never read again


def _frame(message: dict[str, Any]) -> bytes:
    """A masked text frame (a client must mask)."""
    payload = json.dumps(message).encode()
    mask = os.urandom(4)
    size = len(payload)
    length = bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2, "big")
    head = bytes([0x81]) + length
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
