"""Bearer tokens, checked against the digests in ``api_tokens`` (cached briefly)."""

from __future__ import annotations

import time

from psycopg_pool import AsyncConnectionPool

from ioc.storage.keys import principal_of_digest
from ioc.tokens import Principal, token_digest


class TokenCache:
    def __init__(self, pool: AsyncConnectionPool, ttl_s: float = 10.0) -> None:
        self._pool = pool
        self._ttl = ttl_s
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}

    async def principal(self, token: str | None) -> Principal | None:
        if not token:
            return None
        digest = token_digest(token)
        hit = self._cache.get(digest)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        async with self._pool.connection() as conn:
            found = await principal_of_digest(conn, digest)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now, found)
        return found

    def forget(self) -> None:
        """Drop every cached answer (after a key is revoked here)."""
        self._cache.clear()
