"""No secret in a log line, and request lines only at debug level."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from ioc.logs import redact, setup_logging
from ioc.tokens import Role, new_token


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)


def test_token_values_and_bearer_credentials_are_redacted() -> None:
    line = '127.0.0.1:5 - "WebSocket /ws?token=ioc_ope_a-B_1&x=1" [accepted]'
    assert redact(line) == '127.0.0.1:5 - "WebSocket /ws?token=[redacted]&x=1" [accepted]'
    assert redact("Authorization: Bearer ioc_adm_xyz") == "Authorization: Bearer [redacted]"
    assert redact("IOC_DVC_TOKEN=s3cret rest") == "IOC_DVC_TOKEN=[redacted] rest"
    assert redact("tokens=5 refused") == "tokens=5 refused"
    frame = """< TEXT '{\\"type\\": \\"auth\\", \\"token\\": \\"abc-1_x\\"}' [69 bytes]"""
    assert "abc-1_x" not in redact(frame) and redact(frame).endswith("[69 bytes]")
    assert redact("{'token': 'abc', 'x': 1}") == "{'token': '[redacted]', 'x': 1}"
    key = new_token(Role.ADMIN)
    assert redact(f"key {key} shown") == "key [redacted] shown"
    assert redact("ioc_api_loop_lag_seconds_bucket") == "ioc_api_loop_lag_seconds_bucket"


def logging_to(out: io.StringIO, level: str) -> None:
    setup_logging(level, json_lines=True)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)


def test_json_lines_stay_json_and_carry_no_token(captured: io.StringIO) -> None:
    logging_to(captured, "INFO")
    log = logging.getLogger("tests.logs")
    log.warning('"GET /ws?token=ioc_lea_secret" failed', extra={"url": "/x?token=ioc_adm_secret"})
    try:
        raise ValueError("while fetching http://h/?token=ioc_ope_secret")
    except ValueError:
        log.exception("boom")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert len(lines) == 2
    assert "secret" not in captured.getvalue()
    assert lines[0]["url"] == "/x?token=[redacted]"


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_request_lines_are_debug_detail(captured: io.StringIO, level: str) -> None:
    logging_to(captured, level)
    logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" [accepted]', "1.2.3.4:5", "/ws")
    logging.getLogger("httpx").info('HTTP Request: POST http://127.0.0.1:1/webhook "HTTP/1.1 200 OK"')
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    if level == "INFO":
        assert [line["msg"] for line in lines] == ["Application startup complete."]
    else:
        assert [line["level"] for line in lines] == ["debug", "debug", "info"]
