"""Bounds on what a client can make the API wait for or fail on (docs/contract/api.md: a stalled upload
gets 408 or is closed within 30 s; no client input gets a 5xx).

- :class:`BodyDeadline`: a request's body must be complete within ``IOC_API_BODY_TIMEOUT_S``
  of its headers, on every route; otherwise ``408`` with ``Connection: close``.
- :func:`data_error`: the last resort for a value only the database refuses (a
  ``psycopg.DataError``: NUL in text, a number out of a column's range): ``422`` instead of
  ``500``. Parameters are bounded where they are declared (api/params.py); this catches what
  slips past them.

Request headers are bounded by the HTTP protocol class (ioc/http_limits.py, used by
``ioc api``): complete within ``IOC_API_HEADER_TIMEOUT_S``, at most
``IOC_API_MAX_HEADER_BYTES``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import psycopg
from fastapi import HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class BodyTooSlow(HTTPException):
    """The body was not complete in time: 408, and the connection closes."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(408, f"the request body was not complete within {timeout_s:g} s",
                         headers={"Connection": "close"})


class BodyDeadline:
    """ASGI middleware: reading a request's body fails with :class:`BodyTooSlow` once
    ``timeout_s`` have passed since the request reached the application."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        complete = False

        async def receive_in_time() -> Message:
            nonlocal complete
            if complete:  # after the body: waiting for a disconnect is not bounded
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTooSlow(self.timeout_s) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        await self.app(scope, receive_in_time, send)


async def data_error(request: Request, exc: Exception) -> JSONResponse:
    """A value the database refused: the client's to fix (422)."""
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    log.warning("database refused a request value", extra={"path": request.url.path,
                                                           "error": first_line})
    return JSONResponse({"detail": f"a value in the request cannot be stored or compared: "
                                   f"{first_line}"}, status_code=422)


DATA_ERRORS = (psycopg.DataError,)


def document_common_statuses(schema: dict[str, Any]) -> dict[str, Any]:
    """Add to each operation of an OpenAPI document the statuses every route of its kind can
    answer, besides its own: 401 and 403 where a token is needed, 400 (unreadable), 408 (too
    slow) and 422 (invalid) where there is a request body, 422 where there are parameters."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            if operation.get("security"):
                responses.setdefault("401", {"description": "no valid token"})
                responses.setdefault("403", {"description": "the token's role may not do this"})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "the body cannot be read"})
                responses.setdefault("408", {"description": "the body was not complete within "
                                                            "IOC_API_BODY_TIMEOUT_S"})
            if "requestBody" in operation or operation.get("parameters"):
                responses.setdefault("422", {"description": "a parameter or the body is invalid; "
                                                            "the detail names it"})
    return schema


_MAX_ECHO = 200


def _echo(value: Any) -> Any:
    """An input as it may be echoed in an error: strict JSON (no NaN, no lone surrogate), short."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        text.encode()
    except (TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return ascii(value)[:_MAX_ECHO]
    return value if len(text) <= _MAX_ECHO else text[:_MAX_ECHO] + "…"


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with each offending input echoed safely: the stock handler renders the
    input as given, and a lone surrogate or a NaN in it made the error itself a 500."""
    assert isinstance(exc, RequestValidationError)
    detail = []
    for error in exc.errors():
        item: dict[str, Any] = {"type": error["type"], "loc": list(error["loc"]), "msg": error["msg"]}
        if "input" in error:
            item["input"] = _echo(error["input"])
        if "ctx" in error:
            item["ctx"] = {key: _echo(value) for key, value in error["ctx"].items()}
        detail.append(item)
    return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)
