"""Payment-gateway webhooks: signed with HMAC-SHA256, turned into payment.completed.

``ioc connect payments`` serves ``POST /webhooks/payments``. The gateway signs each delivery:

    X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

and sends

    {"id": "whevt_…", "type": "payment.succeeded", "created": <unix>,
     "data": {"transaction_id": "…", "amount": 150000, "currency": "VND",
              "method": "qr", "purpose": "fee", "area": "288",
              "paid_at": "<RFC 3339>", "service_code": "…" (optional)}}

Answers: 200 once the event is acked by the broker (or the delivery is of another type and
is ignored, said so in the body); 400 unreadable body or signature header; 401 bad
signature, or a timestamp outside the tolerance; 408 a body not complete within
``IOC_PAYMENTS_BODY_TIMEOUT_S``; 409 a signature already used by an acknowledged delivery
(a replay); 413 a body over ``IOC_PAYMENTS_MAX_BODY_BYTES`` (a declared Content-Length over
it is refused before any of the body is read); 422 a payment that is not a valid event (its
payload goes to the dead-letter topic with the reason); 503 the broker did not ack within
``IOC_PAYMENTS_ACK_TIMEOUT_S``, or the same delivery is still in flight (the gateway retries).

A signature is recorded as used only once its delivery's outcome is acknowledged by the
broker (the event, or its dead letter): a retry of a delivery that got 503 is accepted. While
one delivery holds a signature, another with the same signature waits for its outcome: 409
once it was acked, its own attempt if it failed. Neither can count a payment twice: the event
id is ``pay:<transaction id>``, the same on every retry, so a second copy (say the process
died between the ack and the record) is a duplicate the stream worker ignores. Signatures
seen within the tolerance are remembered in a file, so a restart does not reopen the replay
window.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from kafka.errors import KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import ClientDisconnect

from connectors.metrics import CONNECTOR_ERRORS, CONNECTOR_EVENTS, error_kind
from connectors.publisher import EventPublisher
from ioc.clock import Clock
from ioc.events import Rejection, Rules, to_cloudevent, validate_event, with_v1_area
from ioc.http_limits import BodyRefused, read_bounded
from ioc.signing import SignatureError, verify

log = logging.getLogger(__name__)


def payment_event(delivery: Any, source: str) -> dict[str, Any] | str:
    """A ``payment.succeeded`` delivery as a CloudEvent, or why it cannot be one. Pure; the
    event's own rules are checked afterwards by :func:`ioc.events.validate_event`."""
    if not isinstance(delivery, dict) or not isinstance(delivery.get("data"), dict):
        return "a delivery must be a JSON object with a 'data' object"
    data = with_v1_area(delivery["data"])
    currency = data.get("currency", "VND")
    if currency != "VND":
        return f"currency {currency!r}: only VND payments are counted"
    missing = [f for f in ("transaction_id", "amount", "method", "purpose", "area", "paid_at")
               if data.get(f) in (None, "")]
    if missing:
        return f"data lacks {', '.join(missing)}"
    out: dict[str, Any] = {"payment_id": data["transaction_id"], "area": data["area"],
                           "amount_vnd": data["amount"], "method": data["method"],
                           "purpose": data["purpose"]}
    if data.get("service_code"):
        out["service_code"] = data["service_code"]
    return to_cloudevent(source=source, event_id=f"pay:{data['transaction_id']}",
                         type_="payment.completed", time=data["paid_at"], data=out)


class Claim(Enum):
    HELD = "held"
    """This delivery holds the signature until it commits or releases it."""
    USED = "used"
    """An acknowledged delivery used the signature: a replay."""
    BUSY = "busy"
    """Another delivery with the signature did not settle within the wait."""


class SeenSignatures:
    """Signatures of acknowledged deliveries within the tolerance, kept in memory and appended
    to a file; and those of deliveries in flight, which a second copy waits for. Used from the
    event loop only."""

    def __init__(self, path: Path, tolerance_s: int, now: float) -> None:
        self._path = path
        self._tolerance = tolerance_s
        self._seen: dict[str, int] = {}
        self._in_flight: dict[str, asyncio.Event] = {}
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

    async def claim(self, signature: str, wait_s: float) -> Claim:
        """Hold the signature for this delivery, unless it was used; while another delivery
        holds it, wait up to ``wait_s`` for that one to commit (USED) or release it."""
        try:
            async with asyncio.timeout(wait_s):
                while True:
                    if signature in self._seen:
                        return Claim.USED
                    holder = self._in_flight.get(signature)
                    if holder is None:
                        self._in_flight[signature] = asyncio.Event()
                        return Claim.HELD
                    await holder.wait()
        except TimeoutError:
            return Claim.BUSY

    def commit(self, signature: str, timestamp: int, now: float) -> None:
        """Record the signature as used (its delivery's outcome is acknowledged) and let any
        waiting copy see it."""
        if len(self._seen) > 100_000:
            self._seen = {s: t for s, t in self._seen.items() if now - t <= self._tolerance}
        self._seen[signature] = timestamp
        self._file.write(f"{timestamp} {signature}\n")
        self._file.flush()
        self.release(signature)

    def release(self, signature: str) -> None:
        """Stop holding the signature (a no-op once released); a waiting copy may take it."""
        holder = self._in_flight.pop(signature, None)
        if holder is not None:
            holder.set()

    def close(self) -> None:
        self._file.close()


@dataclass(frozen=True)
class PaymentsConfig:
    secret: bytes
    source: str
    tolerance_s: int
    seen_file: Path
    ack_timeout_s: float = 10.0
    max_body_bytes: int = 64 * 1024
    body_timeout_s: float = 15.0


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

    async def settle(delivery: Any, body: bytes, now: datetime) -> JSONResponse:
        """What becomes of a verified delivery, acknowledged by the broker; HTTPException(503)
        when the broker did not ack."""
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
                await run_in_threadpool(partial(publisher.dead_letter, [(body, code, reason)],
                                                connector="payments",
                                                timeout_s=config.ack_timeout_s))
                count("rejected", code)
                return JSONResponse({"detail": f"{code}: {reason}"}, status_code=422)
            assert isinstance(event, dict)
            await run_in_threadpool(partial(publisher.publish, [event],
                                            timeout_s=config.ack_timeout_s))
        except KafkaError as exc:
            count("failed", "broker")
            CONNECTOR_ERRORS.labels("payments", error_kind(exc)).inc()
            raise HTTPException(503, f"the broker did not take the event ({exc!r}); retry: "
                                     "this delivery was not recorded") from None
        count("accepted")
        return JSONResponse({"status": "accepted", "id": event["id"]})

    @app.post("/webhooks/payments", responses={
        400: {"description": "unreadable body or X-Signature"},
        401: {"description": "bad or stale signature"},
        408: {"description": "the body did not arrive in time (the connection closes)"},
        409: {"description": "signature already used by an acknowledged delivery"},
        413: {"description": "body over the limit (the connection closes)"},
        422: {"description": "not a valid payment (dead-lettered)"},
        503: {"description": "the broker did not ack, or the same delivery is in flight; retry"}})
    async def webhook(request: Request) -> JSONResponse:
        try:
            body = await read_bounded(request.stream(), request.headers.get("content-length"),
                                      config.max_body_bytes, config.body_timeout_s)
        except BodyRefused as exc:
            count("rejected", "too_large" if exc.status == 413 else "body_timeout")
            raise HTTPException(exc.status, exc.reason, {"Connection": "close"}) from None
        except ClientDisconnect:
            count("rejected", "client_gone")
            raise HTTPException(400, "the client closed the connection during the body") from None
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
        claim = await seen.claim(signature, config.ack_timeout_s + 1)
        if claim is Claim.USED:
            count("rejected", "replayed")
            raise HTTPException(409, "this signature was already used by an acknowledged "
                                     "delivery: a replay")
        if claim is Claim.BUSY:
            count("failed", "in_flight")
            raise HTTPException(503, "a delivery with this signature is still being published; "
                                     "retry")
        try:
            answer = await settle(delivery, body, now)
            seen.commit(signature, stamp, clock.now().timestamp())
            return answer
        finally:
            seen.release(signature)

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app

