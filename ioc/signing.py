"""HMAC-SHA256 signatures of HTTP bodies, as payment gateways send them to us and as we send
alert webhooks: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>``. Pure."""

from __future__ import annotations

import hashlib
import hmac


class SignatureError(ValueError):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, header: str | None, body: bytes, now: float, tolerance_s: int) -> tuple[int, str]:
    """Check a signature header; returns (timestamp, signature). Pure."""
    if not header:
        raise SignatureError(400, "the X-Signature header is missing")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp, given = parts.get("t", ""), parts.get("v1", "")
    if not stamp.isdigit() or not given:
        raise SignatureError(400, "X-Signature must be 't=<unix seconds>,v1=<hex HMAC-SHA256>'")
    timestamp = int(stamp)
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, given):
        raise SignatureError(401, "the signature does not match the body")
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError(401, f"the signature is {int(now - timestamp)} s old; at most "
                                  f"{tolerance_s} s is accepted (a replay?)")
    return timestamp, given
