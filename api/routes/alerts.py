"""Alerts (``/api/v1/alerts``), their rules (``/api/v1/alert-rules``), the notification
dead letters and the audit log. Semantics in docs/alerts.md."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from api.deps import Admin, Reader, Responder, State
from api.params import LongText, RowId, Text, given_area
from api.producer import BrokerUnavailable
from api.state import AppState
from ioc.alerts.machine import AlertState as StoredState
from ioc.alerts.presentation import alert_json, keep_secrets
from ioc.alerts.rules import RuleCheckError, RuleSpec, alert_scope, check_rule
from ioc.changes import local_iso, pack_changes
from ioc.storage import alert_episodes as episodes
from ioc.storage import alert_outbox as outbox
from ioc.storage import alert_reads as reads
from ioc.storage import alert_rules as rules
from ioc.storage.alert_errors import Conflict, NotFound
from ioc.storage.audit import audit_entries

log = logging.getLogger(__name__)
router = APIRouter(tags=["alerts"])

if TYPE_CHECKING:
    AlertState = str
else:  # the Literal of the states ioc.alerts.machine.AlertState defines (their one definition)
    AlertState = Literal[tuple(s.value for s in StoredState)]


class Alert(BaseModel):
    """One alert: an episode of one rule in one scope, from pending to resolved."""

    id: int
    rule_id: int
    rule_name: str
    kpi: str
    bucket: str
    metric: str | None
    area: str | None = Field(description="null: the whole province (or a station)")
    area_name: str | None
    district: str | None = Field(description="v1 name of area, the same value")
    district_name: str | None = Field(description="v1 name of area_name, the same value")
    station: str | None = Field(description="the station, for rules with scope 'stations'")
    state: AlertState
    severity: Literal["info", "warning", "critical"]
    comparison: Literal["above", "below"]
    threshold: float
    recovery: float
    value: float | None = Field(description="the last value judged")
    cell_start: str | None = Field(description="the bucket of that value (a gauge: its instant)")
    since: str = Field(description="when the current state began")
    pending_at: str | None
    fired_at: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    resolved_at: str | None
    resolved_by: str | None = Field(description="null when the values resolved it")
    escalation_level: int
    updated_at: str


class HistoryEntry(BaseModel):
    at: str
    kind: Literal["pending", "cancelled", "fired", "acknowledged", "resolved", "commented", "escalated"]
    actor: str | None = Field(description="null: the evaluator")
    value: float | None
    note: str | None


class Attempt(BaseModel):
    attempt: int
    at: str
    ok: bool
    status: int | None = Field(description="HTTP status or SMTP reply code")
    error: str | None
    duration_ms: float


class Notification(BaseModel):
    id: int
    alert_id: int
    event: Literal["fired", "resolved", "escalated"]
    kind: Literal["webhook", "email"]
    target: str = Field(description="URL or mailto: (secrets are never shown)")
    state: Literal["queued", "sent", "dead"]
    attempts: int
    next_at: str
    created_at: str
    sent_at: str | None
    last_error: str | None
    attempt_log: list[Attempt]


class AlertDetail(Alert):
    history: list[HistoryEntry]
    notifications: list[Notification]


class Note(BaseModel):
    comment: LongText | None = None


class Comment(BaseModel):
    comment: LongText = Field(min_length=1)


class StoredRuleOut(RuleSpec):
    """A rule as stored; webhook secrets are shown as 16 asterisks."""

    id: int
    enabled: bool
    version: int
    created_at: str
    created_by: str | None
    updated_at: str
    updated_by: str | None


class RuleIn(RuleSpec):
    enabled: bool = True


class AuditEntry(BaseModel):
    id: int
    at: str
    actor: str
    role: str
    action: str
    object: str
    details: dict[str, Any]


_ERRORS: dict[int | str, dict[str, Any]] = {404: {"description": "no such alert"},
                                            409: {"description": "not allowed in the alert's state"}}


async def _alert_detail(state: AppState, alert_id: int) -> AlertDetail:
    async with state.pool.connection() as conn:
        rows = await reads.alerts_by_id(conn, [alert_id])
        if not rows:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
        history = await reads.alert_history(conn, alert_id)
        notifications = await reads.alert_notifications(conn, alert_id=alert_id)
    alert = alert_json(rows[0], state.geography.area_names)
    return AlertDetail.model_validate({**alert, "history": history, "notifications": notifications})


async def _announce(state: AppState, alert: Alert) -> None:
    """Tell every API process's wall clients (through the change topic) what a person did."""
    message = {"type": "alert", **alert.model_dump()}
    values = pack_changes([message], local_iso(state.clock.now(), state.geography.utc_offset))
    try:
        await state.producer.send_all([(None, v) for v in values], state.settings.changes_topic)
    except BrokerUnavailable:  # the change is committed; walls catch up at their next snapshot
        log.warning("alert change not announced on the feed", extra={"alert": alert.id})


@router.get("/api/v1/alerts", response_model=list[Alert])
async def list_alerts(
    state: State, _: Reader,
    state_: Annotated[list[AlertState] | None, Query(alias="state", description="repeatable")] = None,
    rule_id: RowId | None = None,
    area: Annotated[Text | None, Query(description="an area code, or 'province'")] = None,
    district: Annotated[Text | None, Query(description="the v1 name of area")] = None,
    station: Annotated[Text | None, Query(description="a station id (rules with scope 'stations')")] = None,
    severity: Literal["info", "warning", "critical"] | None = None,
    before_id: Annotated[RowId | None, Query(description="page: alerts older than this id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Alert]:
    """Alerts, newest first (operator, leader, admin)."""
    area = given_area(area, district)
    if area is not None and area != "province":
        area = state.geography.canonical(area) or area
    if area is not None and station is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "give an area or a station, not both")
    scope = (None if area is None and station is None
             else alert_scope(None if area == "province" else area, station))
    async with state.pool.connection() as conn:
        rows = await reads.list_alerts(conn, states=state_, rule_id=rule_id, scope=scope,
                                       severity=severity, before_id=before_id, limit=limit)
    names = state.geography.area_names
    return [Alert(**alert_json(r, names)) for r in rows]


@router.get("/api/v1/alerts/{alert_id}", response_model=AlertDetail, responses={404: _ERRORS[404]})
async def get_alert(alert_id: RowId, state: State, _: Reader) -> AlertDetail:
    """One alert with its history and every notification attempt."""
    return await _alert_detail(state, alert_id)


@router.post("/api/v1/alerts/{alert_id}/ack", response_model=AlertDetail, responses=_ERRORS)
async def acknowledge(alert_id: RowId, state: State, who: Responder, body: Note | None = None) -> AlertDetail:
    """Acknowledge a firing alert (operator, admin): it stays open until the values recover,
    and it no longer escalates."""
    await _act(state, alert_id, lambda c: episodes.acknowledge_alert(
        c, alert_id, who, state.clock.now(), body.comment if body else None))
    detail = await _alert_detail(state, alert_id)
    await _announce(state, detail)
    return detail


@router.post("/api/v1/alerts/{alert_id}/resolve", response_model=AlertDetail, responses=_ERRORS)
async def resolve(alert_id: RowId, state: State, who: Responder, body: Note | None = None) -> AlertDetail:
    """Close an open alert by hand (operator, admin). If the condition still holds, the next
    value opens a new alert after the rule's pending period."""
    await _act(state, alert_id, lambda c: episodes.resolve_alert(
        c, alert_id, who, state.clock.now(), body.comment if body else None))
    detail = await _alert_detail(state, alert_id)
    await _announce(state, detail)
    return detail


@router.post("/api/v1/alerts/{alert_id}/comments", response_model=AlertDetail, status_code=201,
             responses={404: _ERRORS[404]})
async def comment(alert_id: RowId, body: Comment, state: State, who: Reader) -> AlertDetail:
    """Add a comment to an alert's history (operator, leader, admin)."""
    await _act(state, alert_id, lambda c: episodes.comment_alert(c, alert_id, who, state.clock.now(),
                                                              body.comment))
    return await _alert_detail(state, alert_id)


async def _act(state: AppState, alert_id: int, action: Any) -> None:
    async with state.pool.connection() as conn:
        try:
            await action(conn)
        except NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
        except Conflict as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


# -- rules -----------------------------------------------------------------------------------

def _checked(state: AppState, body: RuleIn) -> RuleSpec:
    spec = RuleSpec.model_validate(body.model_dump(exclude={"enabled"}))
    if spec.areas:  # as the statistics office writes them ("4" is "00004")
        spec = spec.model_copy(update={"areas": [state.geography.canonical(a) or a for a in spec.areas]})
    try:
        check_rule(spec, state.geography.area_codes)
    except RuleCheckError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc
    return spec


def _rule_out(stored: rules.StoredRule) -> StoredRuleOut:
    return StoredRuleOut.model_validate(stored.as_json())


_RULE_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such rule"},
    409: {"description": "another rule has that name"},
    422: {"description": "the rule is invalid; the detail names the field"}}


@router.get("/api/v1/alert-rules", response_model=list[StoredRuleOut])
async def list_rules(state: State, _: Admin) -> list[StoredRuleOut]:
    """Every rule (admin)."""
    async with state.pool.connection() as conn:
        return [_rule_out(r) for r in await rules.load_rules(conn)]


@router.get("/api/v1/alert-rules/{rule_id}", response_model=StoredRuleOut, responses=_RULE_ERRORS)
async def get_rule(rule_id: RowId, state: State, _: Admin) -> StoredRuleOut:
    async with state.pool.connection() as conn:
        try:
            return _rule_out(await rules.get_rule(conn, rule_id))
        except NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.post("/api/v1/alert-rules", response_model=StoredRuleOut, status_code=201, responses=_RULE_ERRORS)
async def create_rule(body: RuleIn, state: State, who: Admin) -> StoredRuleOut:
    """Add a rule (admin). Workers apply it within ``IOC_ALERT_RULES_REFRESH_S``."""
    spec = _checked(state, body)
    async with state.pool.connection() as conn:
        try:
            return _rule_out(await rules.create_rule(conn, spec, body.enabled, who))
        except psycopg.errors.UniqueViolation as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, f"a rule named {spec.name!r} exists") from exc


@router.put("/api/v1/alert-rules/{rule_id}", response_model=StoredRuleOut, responses=_RULE_ERRORS)
async def replace_rule(rule_id: RowId, body: RuleIn, state: State, who: Admin) -> StoredRuleOut:
    """Replace a rule (admin). Open alerts carry on under the new thresholds; disabling a rule
    resolves its open alerts. A webhook secret sent back as shown (16 asterisks) keeps the stored one."""
    async with state.pool.connection() as conn:
        try:
            before = await rules.get_rule(conn, rule_id)
            spec = _checked(state, RuleIn.model_validate(keep_secrets(body.model_dump(), before.rule.spec)))
            stored, closed = await rules.update_rule(conn, rule_id, spec, body.enabled, who,
                                                     state.clock.now())
        except NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
        except psycopg.errors.UniqueViolation as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, f"a rule named {body.name!r} exists") from exc
        rows = await reads.alerts_by_id(conn, closed)
    for row in rows:
        await _announce(state, Alert(**alert_json(row, state.geography.area_names)))
    return _rule_out(stored)


@router.delete("/api/v1/alert-rules/{rule_id}", status_code=204, responses=_RULE_ERRORS)
async def delete_rule(rule_id: RowId, state: State, who: Admin) -> None:
    """Retire a rule (admin); its open alerts are resolved, its history kept."""
    async with state.pool.connection() as conn:
        try:
            closed = await rules.delete_rule(conn, rule_id, who, state.clock.now())
        except NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
        rows = await reads.alerts_by_id(conn, closed)
    for row in rows:
        await _announce(state, Alert(**alert_json(row, state.geography.area_names)))


# -- dead letters and the audit log ----------------------------------------------------------

@router.get("/api/v1/alert-notifications", response_model=list[Notification])
async def list_notifications(
    state: State, _: Admin,
    state_: Annotated[Literal["queued", "sent", "dead"] | None, Query(alias="state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Notification]:
    """Notifications with their attempts, newest first; ``state=dead`` lists the dead letters."""
    async with state.pool.connection() as conn:
        return [Notification(**n) for n in await reads.alert_notifications(conn, state=state_, limit=limit)]


@router.post("/api/v1/alert-notifications/{notification_id}/retry", status_code=202,
             responses={409: {"description": "not dead-lettered"}})
async def retry_notification(notification_id: RowId, state: State, who: Admin) -> dict[str, str]:
    """Queue a dead-lettered notification again (admin)."""
    async with state.pool.connection() as conn:
        try:
            await outbox.retry_dead(conn, notification_id, who, state.clock.now())
        except Conflict as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return {"status": "queued"}


@router.get("/api/v1/audit", response_model=list[AuditEntry])
async def audit_log(
    state: State, _: Admin,
    before_id: Annotated[RowId | None, Query(description="page: entries older than this id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEntry]:
    """Who acknowledged, resolved or commented on which alert, who changed which rule or key
    (admin), newest first."""
    async with state.pool.connection() as conn:
        return [AuditEntry(**e) for e in await audit_entries(conn, before_id, limit)]
