"""API tokens per role. Only their SHA-256 digests are stored."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

import psycopg


class Role(StrEnum):
    INTEGRATOR = "integrator"
    OPERATOR = "operator"
    LEADER = "leader"
    ADMIN = "admin"


READ_ROLES = frozenset({Role.OPERATOR, Role.LEADER, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    name: str
    sources: tuple[str, ...] | None
    """Sources an integrator key may publish for; None = any."""


def new_token(role: Role) -> str:
    return f"ioc_{role.value[:3]}_{secrets.token_urlsafe(24)}"


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def store_token(conn: psycopg.Connection, token: str, role: Role, name: str,
                sources: list[str] | None = None) -> None:
    conn.execute(
        "INSERT INTO api_tokens (token_hash, role, name, sources) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (token_hash) DO NOTHING",
        (token_digest(token), role.value, name, sources),
    )
