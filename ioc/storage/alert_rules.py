"""Alert rules in PostgreSQL (``alert_rules``): the shipped ones seeded, read, created, replaced
and retired, each change in the audit log (webhook secrets masked). Disabling or retiring a rule
closes its open alerts (:func:`ioc.storage.alert_episodes.close_rule_alerts`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from ioc.alerts.presentation import masked_spec
from ioc.alerts.rules import Rule, RuleSpec, default_rules
from ioc.storage.alert_episodes import close_rule_alerts
from ioc.storage.alert_errors import NotFound
from ioc.storage.audit import audit
from ioc.tokens import Principal


@dataclass(frozen=True, slots=True)
class StoredRule:
    rule: Rule
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    updated_by: str | None

    def as_json(self) -> dict[str, Any]:
        """The rule as the API and the audit log show it (webhook secrets masked)."""
        return {"id": self.rule.id, "enabled": self.rule.enabled, "version": self.rule.version,
                **masked_spec(self.rule.spec), "created_at": self.created_at.isoformat(),
                "created_by": self.created_by, "updated_at": self.updated_at.isoformat(),
                "updated_by": self.updated_by}


_RULE_COLUMNS = "id, spec, enabled, version, created_at, created_by, updated_at, updated_by"


def _stored_rule(row: Sequence[Any]) -> StoredRule:
    return StoredRule(Rule(row[0], RuleSpec.model_validate(row[1]), row[2], row[3]),
                      row[4], row[5], row[6], row[7])


def seed_default_rules(conn: psycopg.Connection) -> int:
    """Add the shipped rules (run once, by the migration that creates the tables)."""
    for spec in default_rules():
        conn.execute("INSERT INTO alert_rules (name, spec, created_by, updated_by)"
                     " VALUES (%s, %s, 'ioc migrate', 'ioc migrate')",
                     (spec.name, Jsonb(spec.model_dump(mode="json"))))
    return len(default_rules())


async def load_rules(conn: AsyncConnection) -> list[StoredRule]:
    cur = await conn.execute(f"SELECT {_RULE_COLUMNS} FROM alert_rules"
                             " WHERE deleted_at IS NULL ORDER BY id")
    return [_stored_rule(r) for r in await cur.fetchall()]


async def get_rule(conn: AsyncConnection, rule_id: int) -> StoredRule:
    cur = await conn.execute(f"SELECT {_RULE_COLUMNS} FROM alert_rules"
                             " WHERE id = %s AND deleted_at IS NULL", (rule_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no alert rule {rule_id}")
    return _stored_rule(row)


async def create_rule(conn: AsyncConnection, spec: RuleSpec, enabled: bool, who: Principal) -> StoredRule:
    async with conn.transaction():
        cur = await conn.execute(
            "INSERT INTO alert_rules (name, spec, enabled, created_by, updated_by)"
            f" VALUES (%s, %s, %s, %s, %s) RETURNING {_RULE_COLUMNS}",
            (spec.name, Jsonb(spec.model_dump(mode="json")), enabled, who.name, who.name))
        row = await cur.fetchone()
        assert row is not None
        stored = _stored_rule(row)
        await audit(conn, who, "alert_rule.create", f"alert_rule:{stored.rule.id}",
                    {"rule": stored.as_json()})
    return stored


async def update_rule(conn: AsyncConnection, rule_id: int, spec: RuleSpec, enabled: bool,
                      who: Principal, now: datetime) -> tuple[StoredRule, list[int]]:
    """Replace a rule; disabling it resolves its open alerts. Returns the rule and the
    alerts it changed."""
    async with conn.transaction():
        before = await get_rule(conn, rule_id)
        cur = await conn.execute(
            "UPDATE alert_rules SET name = %s, spec = %s, enabled = %s, version = version + 1,"
            " updated_at = now(), updated_by = %s WHERE id = %s AND deleted_at IS NULL"
            f" RETURNING {_RULE_COLUMNS}",
            (spec.name, Jsonb(spec.model_dump(mode="json")), enabled, who.name, rule_id))
        row = await cur.fetchone()
        assert row is not None
        stored = _stored_rule(row)
        closed = [] if enabled else await close_rule_alerts(conn, rule_id, who, now, "rule disabled")
        await audit(conn, who, "alert_rule.update", f"alert_rule:{rule_id}",
                    {"before": before.as_json(), "after": stored.as_json()})
    return stored, closed


async def delete_rule(conn: AsyncConnection, rule_id: int, who: Principal, now: datetime) -> list[int]:
    """Retire a rule (kept for its alerts' history); its open alerts are resolved."""
    async with conn.transaction():
        before = await get_rule(conn, rule_id)
        await conn.execute("UPDATE alert_rules SET deleted_at = now(), deleted_by = %s, enabled = false"
                           " WHERE id = %s", (who.name, rule_id))
        closed = await close_rule_alerts(conn, rule_id, who, now, "rule deleted")
        await audit(conn, who, "alert_rule.delete", f"alert_rule:{rule_id}", {"rule": before.as_json()})
    return closed
