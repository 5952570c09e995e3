"""Bounds uvicorn leaves open on an HTTP/1.1 server: header time and size, body size and time.

uvicorn with httptools (measured with 0.54 / 0.9) arms no timer on a new connection before
its first request, and none while a request's headers trickle in (each byte received cancels
its keep-alive timer), so a client that opens a connection and sends a byte now and then
holds it forever; httptools takes headers of any size (10 MB of headers were read into
memory in a test). :func:`guarded_http` is the httptools protocol with both bounded:

- from the connection's start, and from the end of each response, the next request's
  headers must be complete within ``header_timeout_s``; otherwise the client gets
  ``408`` (or, if it sent nothing, the connection is closed) and the connection closes;
- header bytes beyond ``max_header_bytes`` get ``431`` and the connection closes (checked
  after each read, so at most one read, 256 KiB, more is held).

uvicorn's own keep-alive timeout still closes an idle connection between requests first.
The body is the application's to bound: :func:`read_bounded` refuses a declared length over
the limit before reading anything, keeps nothing past the limit (and reads at most a bounded
amount more, dropped, so the client sees the 413), and gives up after ``timeout_s`` (the
caller answers 408 or 413 with ``Connection: close``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from http import HTTPStatus

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class BodyRefused(Exception):
    """The body was not read: over the size limit (413) or too slow to arrive (408)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_bounded(chunks: AsyncIterator[bytes], declared_length: str | None, limit: int,
                       timeout_s: float, *, drain_bytes: int = 1024 * 1024) -> bytes:
    """The body from ``chunks``; :class:`BodyRefused` when its declared length is over
    ``limit`` (nothing read), when more than ``limit`` bytes arrive, or when it is not complete
    within ``timeout_s`` of the call (408). Past the limit, up to ``drain_bytes`` more are read
    and dropped within the same deadline before giving up: a client that writes its whole
    body before reading the answer then sees the 413 instead of a reset connection."""
    if declared_length is not None and declared_length.strip().isdigit() \
            and int(declared_length) > limit:
        raise BodyRefused(413, f"the body is {int(declared_length):,} bytes; at most {limit:,} "
                               "are accepted")
    parts: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in chunks:
                size += len(chunk)
                if size <= limit:
                    parts.append(chunk)
                elif size > limit + drain_bytes:
                    break
    except TimeoutError:
        if size <= limit:
            raise BodyRefused(408, f"the body was not complete within {timeout_s:g} s") from None
    if size > limit:
        raise BodyRefused(413, f"the body exceeds {limit:,} bytes")
    return b"".join(parts)


def guarded_http(header_timeout_s: float, max_header_bytes: int) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with a deadline and a size limit on request headers; pass
    it as ``uvicorn.run(..., http=guarded_http(...))``."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _header_deadline: asyncio.TimerHandle | None = None
        _header_bytes = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._await_headers()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._header_deadline is not None:  # headers still incomplete after this read
                self._header_bytes += len(data)
                if self._header_bytes > max_header_bytes:
                    self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                                 f"request headers over {max_header_bytes:,} bytes")

        def on_headers_complete(self) -> None:
            self._stop_waiting()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.timeout_keep_alive_task is not None:  # idle: the next request may come
                self._await_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

        def _await_headers(self) -> None:
            self._stop_waiting()
            self._header_deadline = self.loop.call_later(
                header_timeout_s, self._refuse, HTTPStatus.REQUEST_TIMEOUT,
                f"request headers not complete within {header_timeout_s:g} s")

        def _stop_waiting(self) -> None:
            if self._header_deadline is not None:
                self._header_deadline.cancel()
                self._header_deadline = None
            self._header_bytes = 0

        def _refuse(self, status: HTTPStatus, reason: str) -> None:
            sent_something = self._header_bytes > 0 or status != HTTPStatus.REQUEST_TIMEOUT
            self._stop_waiting()
            if self.transport.is_closing():
                return
            if sent_something:
                body = reason.encode()
                self.transport.write(
                    f"HTTP/1.1 {status.value} {status.phrase}\r\ncontent-type: text/plain; "
                    f"charset=utf-8\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
                    .encode() + body)
            self.transport.close()

    return GuardedHttpToolsProtocol
