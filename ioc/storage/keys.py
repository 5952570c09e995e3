"""API keys in ``api_tokens``: create (only the digest is stored), list, revoke, and look up
the holder of a token by its digest.

Sync functions for the CLI, async ones for the admin endpoints, over the same SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection

from ioc.events import is_source
from ioc.tokens import Principal, Role, new_token, token_digest

_INSERT = ("INSERT INTO api_tokens (token_hash, role, name, sources, created_by)"
           " VALUES (%s, %s, %s, %s, %s) RETURNING id, created_at")
_LIST = ("SELECT id, role, name, sources, created_at, created_by, revoked_at, revoked_by"
         " FROM api_tokens ORDER BY id")
_STORE = ("INSERT INTO api_tokens (token_hash, role, name, sources) VALUES (%s, %s, %s, %s)"
          " ON CONFLICT (token_hash) DO NOTHING")
_PRINCIPAL = ("SELECT role, name, sources FROM api_tokens"
              " WHERE token_hash = %s AND revoked_at IS NULL")
_REVOKE = ("UPDATE api_tokens SET revoked_at = now(), revoked_by = %s"
           " WHERE id = %s AND revoked_at IS NULL RETURNING id")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    role: Role
    name: str
    sources: tuple[str, ...] | None
    created_at: datetime
    created_by: str | None
    revoked_at: datetime | None
    revoked_by: str | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role.value, "name": self.name,
                "sources": list(self.sources) if self.sources is not None else None,
                "created_at": self.created_at.isoformat(), "created_by": self.created_by,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
                "revoked_by": self.revoked_by}


@dataclass(frozen=True, slots=True)
class NewKey:
    info: KeyInfo
    token: str
    """Shown once; only its SHA-256 digest is stored."""


class KeyRequestError(ValueError):
    """A key request that cannot be honoured (bad role or sources)."""


def check_request(role: Role, sources: list[str] | None) -> tuple[str, ...] | None:
    """Integrator keys may be bound to sources; other roles publish nothing."""
    if role is not Role.INTEGRATOR and sources:
        raise KeyRequestError("only integrator keys are bound to sources")
    if sources is None or role is not Role.INTEGRATOR:
        return None
    bad = [s for s in sources if not is_source(s)]
    if bad:
        raise KeyRequestError(f"sources must be 1..64 of [a-z0-9._-]: {', '.join(bad)}")
    if not sources:
        raise KeyRequestError("an integrator key bound to no source could publish nothing")
    return tuple(dict.fromkeys(sources))


def _info(row: tuple[Any, ...]) -> KeyInfo:
    return KeyInfo(row[0], Role(row[1]), row[2], tuple(row[3]) if row[3] is not None else None,
                   row[4], row[5], row[6], row[7])


def _new_key(role: Role, sources: list[str] | None
             ) -> tuple[str, tuple[str, ...] | None, bytes, list[str] | None]:
    """A checked request's token, bound sources, and the digest and sources to store."""
    bound = check_request(role, sources)
    token = new_token(role)
    return token, bound, token_digest(token), list(bound) if bound is not None else None


def create_key(conn: psycopg.Connection, role: Role, name: str, sources: list[str] | None,
               created_by: str) -> NewKey:
    token, bound, digest, stored = _new_key(role, sources)
    row = conn.execute(_INSERT, (digest, role.value, name, stored, created_by)).fetchone()
    assert row is not None
    return NewKey(KeyInfo(row[0], role, name, bound, row[1], created_by, None, None), token)


def store_token(conn: psycopg.Connection, token: str, role: Role, name: str,
                sources: list[str] | None = None) -> None:
    """Store a token made elsewhere (the embedded default's role tokens); one already
    stored is left as it is."""
    conn.execute(_STORE, (token_digest(token), role.value, name, sources))


def list_keys(conn: psycopg.Connection) -> list[KeyInfo]:
    return [_info(r) for r in conn.execute(_LIST).fetchall()]


def revoke_key(conn: psycopg.Connection, key_id: int, revoked_by: str) -> bool:
    return conn.execute(_REVOKE, (revoked_by, key_id)).fetchone() is not None


async def create_key_async(conn: AsyncConnection, role: Role, name: str,
                           sources: list[str] | None, created_by: str) -> NewKey:
    token, bound, digest, stored = _new_key(role, sources)
    cur = await conn.execute(_INSERT, (digest, role.value, name, stored, created_by))
    row = await cur.fetchone()
    assert row is not None
    return NewKey(KeyInfo(row[0], role, name, bound, row[1], created_by, None, None), token)


async def list_keys_async(conn: AsyncConnection) -> list[KeyInfo]:
    cur = await conn.execute(_LIST)
    return [_info(r) for r in await cur.fetchall()]


async def revoke_key_async(conn: AsyncConnection, key_id: int, revoked_by: str) -> bool:
    cur = await conn.execute(_REVOKE, (revoked_by, key_id))
    return await cur.fetchone() is not None


async def bound_sources_async(conn: AsyncConnection) -> set[str]:
    """Every source some unrevoked integrator key is bound to (the metric label values)."""
    cur = await conn.execute(
        "SELECT DISTINCT unnest(sources) FROM api_tokens"
        " WHERE revoked_at IS NULL AND sources IS NOT NULL")
    return {row[0] for row in await cur.fetchall()}


async def principal_of_digest(conn: AsyncConnection, digest: bytes) -> Principal | None:
    """Who holds the unrevoked token with this SHA-256 digest (None: no such token)."""
    cur = await conn.execute(_PRINCIPAL, (digest,))
    row = await cur.fetchone()
    return None if row is None else Principal(
        Role(row[0]), row[1], tuple(row[2]) if row[2] is not None else None)
