"""Payment-gateway webhooks: signed with HMAC-SHA256, turned into payment.completed.

``ioc connect payments`` serves ``POST /webhooks/payments``. The gateway signs each delivery:

    X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

and sends

    {"id": "whevt_…", "type": "payment.succeeded", "created": <unix>,
     "data": {"transaction_id": "…", "amount": 150000, "currency": "VND",
              "method": "qr", "purpose": "fee", "district": "288",
              "paid_at": "<RFC 3339>", "service_code": "…" (optional)}}

Answers: 200 once the event is acked by the broker (or the delivery is of another type and
is ignored, said so in the body); 400 unreadable body or signature header; 401 bad
signature, or a timestamp outside the tolerance; 409 a signature already used (a replay);
422 a payment that is not a valid event (its payload goes to the dead-letter topic with the
reason); 503 the broker did not ack (the gateway retries; the event id is the transaction id,
so a retry is a duplicate downstream). Signatures seen within the tolerance are remembered in
a file, so a restart does not reopen the replay window.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from kafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from connectors.metrics import CONNECTOR_EVENTS
from connectors.publisher import EventPublisher
from ioc.clock import Clock
from ioc.events import Rejection, Rules, validate_event
from ioc.signing import SignatureError, verify

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


def payment_event(delivery: Any, source: str) -> dict[str, Any] | str:
    """A ``payment.succeeded`` delivery as a CloudEvent, or why it cannot be one. Pure; the
    event's own rules are checked afterwards by :func:`ioc.events.validate_event`."""
    if not isinstance(delivery, dict) or not isinstance(delivery.get("data"), dict):
        return "a delivery must be a JSON object with a 'data' object"
    data = delivery["data"]
    currency = data.get("currency", "VND")
    if currency != "VND":
        return f"currency {currency!r}: only VND payments are counted"
    missing = [f for f in ("transaction_id", "amount", "method", "purpose", "district", "paid_at")
               if data.get(f) in (None, "")]
    if missing:
        return f"data lacks {', '.join(missing)}"
    out: dict[str, Any] = {"payment_id": data["transaction_id"], "district": data["district"],
                           "amount_vnd": data["amount"], "method": data["method"],
                           "purpose": data["purpose"]}
    if data.get("service_code"):
        out["service_code"] = data["service_code"]
    return {"specversion": "1.0", "id": f"pay:{data['transaction_id']}", "source": source,
            "type": "payment.completed", "time": data["paid_at"],
            "datacontenttype": "application/json", "data": out}


class SeenSignatures:
    """Signatures accepted within the tolerance, kept in memory and appended to a file."""

    def __init__(self, path: Path, tolerance_s: int, now: float) -> None:
        self._path = path
        self._tolerance = tolerance_s
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                stamp, _, sig = line.partition(" ")
                if stamp.isdigit() and now - int(stamp) <= tolerance_s:
                    self._seen[sig] = int(stamp)
        self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 - held while serving
        for sig, at in self._seen.items():
            self._file.write(f"{at} {sig}\n")
        self._file.flush()

    def claim(self, signature: str, timestamp: int, now: float) -> bool:
        """True the first time a signature is seen; False for a replay."""
        with self._lock:
            if signature in self._seen:
                return False
            if len(self._seen) > 100_000:
                self._seen = {s: t for s, t in self._seen.items() if now - t <= self._tolerance}
            self._seen[signature] = timestamp
            self._file.write(f"{timestamp} {signature}\n")
            self._file.flush()
            return True

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class PaymentsConfig:
    secret: bytes
    source: str
    tolerance_s: int
    seen_file: Path


def create_payments_app(config: PaymentsConfig, publisher: EventPublisher, rules: Rules,
                        clock: Clock) -> FastAPI:
    if not config.secret:
        raise ValueError("IOC_PAYMENTS_WEBHOOK_SECRET is empty: set the key shared with the gateway")
    seen = SeenSignatures(config.seen_file, config.tolerance_s, clock.now().timestamp())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            seen.close()

    app = FastAPI(title="IOC payments webhook connector", version="0.1.0", lifespan=lifespan)

    def count(outcome: str, reason: str = "") -> None:
        CONNECTOR_EVENTS.labels("payments", outcome, reason).inc()

    @app.post("/webhooks/payments", responses={
        400: {"description": "unreadable body or X-Signature"},
        401: {"description": "bad or stale signature"},
        409: {"description": "signature already used"}, 413: {"description": "body over 64 KiB"},
        422: {"description": "not a valid payment (dead-lettered)"},
        503: {"description": "the broker did not ack; retry"}})
    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            count("rejected", "too_large")
            raise HTTPException(413, f"a delivery is at most {MAX_BODY} bytes")
        now = clock.now()
        try:
            stamp, signature = verify(config.secret, request.headers.get("x-signature"), body,
                                      now.timestamp(), config.tolerance_s)
        except SignatureError as exc:
            count("rejected", "bad_signature")
            raise HTTPException(exc.status, exc.reason) from None
        try:
            delivery = json.loads(body)
        except ValueError:
            count("rejected", "invalid_json")
            raise HTTPException(400, "the body is not valid JSON") from None
        if not seen.claim(signature, stamp, now.timestamp()):
            count("rejected", "replayed")
            raise HTTPException(409, "this signature was already used: a replayed delivery")
        if isinstance(delivery, dict) and delivery.get("type") != "payment.succeeded":
            count("ignored", "other_type")
            return JSONResponse({"status": "ignored",
                                 "reason": f"type {delivery.get('type')!r} carries no payment"})
        event = payment_event(delivery, config.source)
        if isinstance(event, str):
            code, reason = "unmappable_delivery", event
        else:
            judged = validate_event(event, rules, now)
            code, reason = (judged.code.value, judged.reason) if isinstance(judged, Rejection) \
                else ("", "")
        try:
            if code:
                await run_in_threadpool(publisher.dead_letter, [(body, code, reason)],
                                        connector="payments")
                count("rejected", code)
                raise HTTPException(422, f"{code}: {reason}")
            assert isinstance(event, dict)
            await run_in_threadpool(publisher.publish, [event])
        except KafkaError as exc:
            count("failed", "broker")
            raise HTTPException(503, f"the broker did not take the event ({exc!r}); retry") from None
        count("accepted")
        return JSONResponse({"status": "accepted", "id": event["id"]})

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app

