"""The embedded default's role tokens: created on first start, kept in credentials.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psycopg

from ioc.storage.keys import store_token
from ioc.tokens import Role, new_token


def ensure_credentials(path: Path, database_url: str) -> dict[str, str]:
    """Load or create one token per role, and make sure the database knows their digests."""
    if path.exists():
        tokens: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    else:
        tokens = {role.value: new_token(role) for role in Role}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(tokens, indent=2) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for role in Role:
            store_token(conn, tokens[role.value], role, f"embedded default {role.value}")
    return tokens
