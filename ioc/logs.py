"""Structured logs: one JSON object per line, with the ``extra`` fields of each call.

No secret reaches a log: a ``token=`` value in any line (a WebSocket URL from an old client,
a URL in an HTTP client's error) and a ``Bearer`` credential are replaced by ``[redacted]``.
Request lines (uvicorn's access and WebSocket handshake lines, httpx's ``HTTP Request:``)
are logged at debug level, so a busy process's log grows slowly at the default level.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

# token=<value> (a URL's query, an environment line), "token": "<value>" (a JSON message, with
# or without escaped quotes, or a Python repr), Bearer <value>, and anything shaped like an
# issued key (ioc.tokens.new_token) wherever it stands
_SECRET = re.compile(
    r"(?i)(\b(?:[a-z0-9]+_)*token=|\bbearer\s+"
    r"|\\?[\"'](?:[a-z0-9]+_)*token\\?[\"']\s*:\s*\\?[\"'])[^&\s\"'\\,;]+")
_ISSUED_KEY = re.compile(r"\bioc_(?:int|ope|lea|adm)_[A-Za-z0-9_-]{32}(?![A-Za-z0-9_-])")
_REDACTED = "[redacted]"


def redact(text: str) -> str:
    """``text`` without the values of tokens and ``Bearer`` credentials."""
    return _ISSUED_KEY.sub(_REDACTED, _SECRET.sub(lambda m: m.group(1) + _REDACTED, text))


def _is_request_line(record: logging.LogRecord) -> bool:
    if record.name in ("uvicorn.access", "httpx"):
        return True
    return record.name == "uvicorn.error" and isinstance(record.msg, str) \
        and record.msg.startswith('%s - "WebSocket ')


class RequestLinesAtDebug(logging.Filter):
    """One line per request is debug detail: demote request lines logged at INFO to DEBUG,
    and let them through only when the root logger is at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and _is_request_line(record):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


class Redacting(logging.Formatter):
    """Another formatter's lines, redacted (message, extra fields and tracebacks alike)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(level: str = "INFO", json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Redacting(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s")))
    handler.addFilter(RequestLinesAtDebug())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel("WARNING")
