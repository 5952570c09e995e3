"""A fake of the provincial administrative-procedure system's change API, for tests and the demo.

The real system (Cổng dịch vụ công / hệ thống thông tin giải quyết TTHC) is modelled as a
journal of dossier status changes, numbered by ``seq``, read page by page:

    GET /api/v1/dossier-changes?after=<seq>&limit=<n>     Authorization: Bearer <token>
    200 {"changes": [{"seq": 17, "dossier_id": "...", "status": "received|resolved|withdrawn",
                      "changed_at": "<RFC 3339>", "service_code": "...", "agency_code": "...",
                      "area": "288", "channel": "online", "service_level": "full_online",
                      "due_at": "<RFC 3339>"}, ...],
         "last_seq": 42}

The fake serves a journal held in memory; ``append`` adds changes (tests add malformed ones
too), and ``ioc connect fake-dvc`` fills it from the simulator as time passes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from ioc.geography import Geography

_STATUS = {"dossier.received": "received", "dossier.resolved": "resolved",
           "dossier.withdrawn": "withdrawn", "dossier.rated": "rated",
           "feedback.received": "feedback_received", "feedback.resolved": "feedback_resolved"}


def change_of(event: dict[str, Any]) -> dict[str, Any] | None:
    """A simulated dossier or feedback event as the system's change record (None for other
    types)."""
    status = _STATUS.get(event["type"])
    if status is None:
        return None
    return {"status": status, "changed_at": event["time"], **event["data"]}


class Journal:
    """The numbered changes; kept in a file when given one, so that a restarted fake goes on
    numbering where it stopped (as the real system's journal would)."""

    def __init__(self, path: Path | None = None) -> None:
        self._changes: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._file = None
        self.requests = 0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                self._changes = [json.loads(line) for line in
                                 path.read_text(encoding="utf-8").splitlines() if line.strip()]
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held while serving

    def append(self, changes: Iterable[dict[str, Any]]) -> int:
        with self._lock:
            for change in changes:
                numbered = {"seq": len(self._changes) + 1, **change}
                self._changes.append(numbered)
                if self._file is not None:
                    self._file.write(json.dumps(numbered, ensure_ascii=False) + "\n")
            if self._file is not None:
                self._file.flush()
            return len(self._changes)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def page(self, after: int, limit: int) -> dict[str, Any]:
        with self._lock:
            self.requests += 1
            start = max(0, after)
            return {"changes": self._changes[start:start + limit], "last_seq": len(self._changes)}


class FakeDvc:
    """The fake system's HTTP server, in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str = "",
                 journal_file: Path | None = None) -> None:
        self.journal = Journal(journal_file)
        self.token = token
        self.fail_next = 0
        """Answer this many coming requests with 503 (to test the connector's retries)."""
        journal = self.journal
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                if url.path != "/api/v1/dossier-changes":
                    self._send(404, {"error": "not found"})
                    return
                if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._send(401, {"error": "invalid token"})
                    return
                if fake.fail_next > 0:
                    fake.fail_next -= 1
                    self._send(503, {"error": "maintenance"})
                    return
                query = parse_qs(url.query)
                try:
                    after = int(query.get("after", ["0"])[0])
                    limit = min(5000, int(query.get("limit", ["500"])[0]))
                except ValueError:
                    self._send(400, {"error": "after and limit must be integers"})
                    return
                self._send(200, journal.page(after, limit))

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-dvc",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeDvc:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.journal.close()


def run_fake_dvc(host: str, port: int, token: str, *, rate: float, seed: int,
                 geography: Geography, stop: threading.Event | None = None) -> None:
    """``ioc connect fake-dvc``: serve a journal filled by the simulator in real time."""
    from datetime import UTC

    from connectors.simulator import Simulator

    stop = stop or threading.Event()
    fake = FakeDvc(host, port, token).start()
    now = datetime.now(UTC)
    sim = Simulator(geography, seed=seed, source="dvc", rate=rate, start=now)
    fake.journal.append(c for c in map(change_of, sim.backlog(now, 1)) if c)
    print(f"fake administrative-procedure system at {fake.url}/api/v1/dossier-changes", flush=True)
    last = now
    try:
        while not stop.wait(1.0):
            t = datetime.now(UTC)
            fake.journal.append(c for c in map(change_of, sim.between(last, t)) if c)
            last = t
    finally:
        fake.stop()
