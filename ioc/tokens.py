"""API tokens per role: how they are made and digested (only the SHA-256 digests are stored,
by ioc/storage/keys.py)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum


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

