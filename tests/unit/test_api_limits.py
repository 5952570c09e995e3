"""The API's last-resort guards (api/limits.py), without a server: the body deadline, the
validation error that must render whatever the client sent, the statuses documented."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request

from api.limits import BodyDeadline, BodyTooSlow, document_common_statuses, validation_error


def _request() -> Request:
    return Request({"type": "http", "method": "POST", "path": "/x", "headers": [], "query_string": b""})


@pytest.mark.parametrize("given", [float("nan"), float("inf"), "\ud800", "a\x00b", "x" * 100_000,
                                   {"k": [1, float("-inf")]}, ValueError("boom")])
def test_a_validation_error_renders_whatever_input_it_echoes(given: Any) -> None:
    exc = RequestValidationError([{"type": "value_error", "loc": ("body", "comment"), "msg": "bad",
                                   "input": given, "ctx": {"error": given}}])
    response = asyncio.run(validation_error(_request(), exc))
    assert response.status_code == 422
    detail = json.loads(bytes(response.body))["detail"]
    assert detail[0]["loc"] == ["body", "comment"]
    assert len(json.dumps(detail[0]["input"])) < 300


def test_a_body_that_does_not_arrive_in_time_is_refused() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass

    async def stalled() -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    async def first_chunk_then_stall() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"type": "http.request", "body": b"[", "more_body": True} if calls == 1 else await stalled()

    calls = 0
    guarded = BodyDeadline(app, timeout_s=0.05)
    with pytest.raises(BodyTooSlow) as caught:
        asyncio.run(guarded({"type": "http"}, first_chunk_then_stall, None))
    assert caught.value.status_code == 408
    assert caught.value.headers == {"Connection": "close"}


def test_a_complete_body_is_not_timed_and_other_scopes_pass_through() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())

    async def whole() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    asyncio.run(BodyDeadline(app, timeout_s=0.05)({"type": "http"}, whole, None))
    asyncio.run(BodyDeadline(app, timeout_s=0.05)({"type": "websocket"}, whole, None))
    assert len(seen) == 2


def test_common_statuses_are_documented_where_they_apply() -> None:
    schema = {"paths": {
        "/a": {"post": {"security": [{"HTTPBearer": []}], "requestBody": {}, "responses": {"201": {}}}},
        "/b": {"get": {"parameters": [{"name": "q"}], "responses": {"200": {}}}},
        "/c": {"get": {"responses": {"200": {}}}},
    }}
    paths = document_common_statuses(schema)["paths"]
    assert sorted(paths["/a"]["post"]["responses"]) == ["201", "400", "401", "403", "408", "422"]
    assert sorted(paths["/b"]["get"]["responses"]) == ["200", "422"]
    assert sorted(paths["/c"]["get"]["responses"]) == ["200"]
