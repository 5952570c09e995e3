"""How alerts and rules are shown: an alert row as the API's JSON, and rules with their webhook
secrets masked (and a masked secret sent back read as the stored one). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ioc.alerts.rules import RuleSpec, WebhookTarget, scope_parts

SECRET_MASK = "*" * 16
"""What the API shows for a webhook secret; sent back unchanged, it keeps the stored one."""


def alert_json(row: Mapping[str, Any], area_names: Mapping[str, str]) -> dict[str, Any]:
    """A stored alert (a row of :mod:`ioc.storage.alert_reads`) as the API, the feed and the
    notifications show it: times in ISO 8601, its scope as ``area``/``station``."""
    out = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items() if k != "scope"}
    area, station = scope_parts(row["scope"])
    out["area"] = area
    out["area_name"] = area_names.get(area) if area else None
    out["district"], out["district_name"] = out["area"], out["area_name"]  # v1 names
    out["station"] = station
    return out


def _targets(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec["targets"], *(t for s in spec["escalation"] for t in s["targets"])]


def masked_spec(spec: RuleSpec) -> dict[str, Any]:
    """A rule's JSON with every webhook secret shown as :data:`SECRET_MASK`."""
    out = spec.model_dump(mode="json")
    for target in _targets(out):
        if "secret" in target:
            target["secret"] = SECRET_MASK
    return out


def keep_secrets(new: dict[str, Any], before: RuleSpec) -> dict[str, Any]:
    """A rule sent back (as JSON) with each masked secret of a webhook it already had replaced
    by the stored secret; changed in place and returned."""
    old = {t.url: t.secret for t in [*before.targets, *(t for s in before.escalation for t in s.targets)]
           if isinstance(t, WebhookTarget)}
    for target in _targets(new):
        if target.get("secret") == SECRET_MASK and target.get("url") in old:
            target["secret"] = old[target["url"]]
    return new
