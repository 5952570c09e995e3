"""``/ws``: the live feed for the operations wall (message fields in docs/feed.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from api.fanout import Subscription
from api.feed_client import WS_DISCONNECTS, ClientSession
from api.state import AppState
from api.views import index_snapshot_values, snapshot_values
from ioc.alerts.presentation import alert_json
from ioc.changes import gauge_messages, local_iso
from ioc.kpis.buckets import Bucket, bucket_start
from ioc.kpis.catalogue import BY_ID, CATALOGUE, Kind
from ioc.kpis.counters import PROVINCE
from ioc.kpis.gauges import GAUGE_KPIS
from ioc.kpis.service_index import INDICATOR_KPIS
from ioc.storage import gauges as gauge_store
from ioc.storage import kpi_reads
from ioc.storage.alert_episodes import OPEN
from ioc.storage.alert_reads import list_alerts
from ioc.tokens import READ_ROLES, token_digest

router = APIRouter(tags=["feed"])

AUTH_TIMEOUT_S = 10.0
CLOSE_BAD_AUTH = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_STUCK = 4408
CLOSE_TOO_MANY = 4429
MAX_AUTH_MESSAGE = 4096  # characters of a first message
MAX_TOKEN_LENGTH = 512  # issued tokens are about 40 characters
BUCKETS = frozenset({"1m", "1h", "1d", "now"})


MAX_PARTS = 8
"""``also`` parts one subscription may have."""


def parse_subscription(raw: dict[str, Any], known_areas: frozenset[str],
                       canonical: Callable[[str], str | None] = lambda code: code) -> Subscription:
    """A ``subscribe`` message's subscription (docs/feed.md); ValueError says what is wrong."""
    also = raw.get("also", [])
    if not isinstance(also, list) or not all(isinstance(part, dict) for part in also):
        raise ValueError("'also' must be a list of objects")
    if len(also) > MAX_PARTS:
        raise ValueError(f"'also' may have at most {MAX_PARTS} parts")
    for part in also:
        unknown = sorted(set(part) - {"kpis", "areas", "districts", "buckets"})
        if unknown:
            raise ValueError(f"a part of 'also' takes kpis, areas and buckets, not {', '.join(unknown)}")
    parts = tuple(_part(part, known_areas, canonical) for part in also)
    own = _part(raw, known_areas, canonical)
    return Subscription(kpis=own.kpis, areas=own.areas, buckets=own.buckets,
                        stations=_set(raw, "stations", None) if "stations" in raw else frozenset(),
                        also=parts)


def _part(raw: dict[str, Any], known_areas: frozenset[str],
          canonical: Callable[[str], str | None]) -> Subscription:
    if "districts" in raw and "areas" not in raw:  # the v1 name
        raw = {**raw, "areas": raw["districts"]}
    if isinstance(raw.get("areas"), list):  # as the statistics office writes the codes
        raw = {**raw, "areas": [canonical(a) or a if isinstance(a, str) and a != "province" else a
                                for a in raw["areas"]]}
    return Subscription(kpis=_set(raw, "kpis", frozenset(BY_ID)),
                        areas=_set(raw, "areas", known_areas | {PROVINCE}),
                        buckets=_set(raw, "buckets", BUCKETS))


def _set(raw: dict[str, Any], name: str, known: frozenset[str] | None) -> frozenset[str] | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"'{name}' must be a list of strings or null")
    items = frozenset("" if v == "province" else v for v in value)
    unknown = sorted(v for v in items if known is not None and v not in known)
    if unknown:
        raise ValueError(f"unknown {name}: {', '.join(unknown)}")
    return items


async def build_snapshot(state: AppState, subscription: Subscription) -> dict[str, Any]:
    now = state.clock.now()
    offset = state.geography.utc_offset
    day = bucket_start(now, Bucket.DAY, offset)
    wanted_kpis, wanted_areas = subscription.all_kpis(), subscription.all_areas()
    kpis = [k for k in CATALOGUE if k.kind in (Kind.COUNTER, Kind.RATIO)
            and (wanted_kpis is None or k.id in wanted_kpis)]
    gauges = [k for k in GAUGE_KPIS if wanted_kpis is None or k in wanted_kpis]
    index_kpis = [k for k in CATALOGUE if k.kind is Kind.INDEX
                  and (wanted_kpis is None or k.id in wanted_kpis)]
    scopes = [PROVINCE, *(d.code for d in state.geography.units)]
    if wanted_areas is not None:
        scopes = [s for s in scopes if s in wanted_areas]
    async with state.pool.connection() as conn:
        rows = await kpi_reads.day_cells(conn, day, [k.id for k in kpis])
        indicator_rows = (await kpi_reads.day_cells(conn, day, list(INDICATOR_KPIS))
                          if index_kpis else [])
        versions = await kpi_reads.index_versions(conn, day) if index_kpis else {}
        gauge_values = (await gauge_store.gauges_now(conn, now, state.settings.station_silence)
                        if gauges else {})
        open_alerts = await list_alerts(
            conn, states=OPEN, rule_id=None, scope=None, severity=None,
            before_id=None, limit=500)
    values = snapshot_values(kpis, scopes, rows, day, offset)
    values += index_snapshot_values(index_kpis, scopes, indicator_rows, versions, day, offset)
    values += [m for m in gauge_messages(gauge_values, scopes, now, offset) if m["kpi"] in gauges]
    values = [v for v in values if subscription.wants(v)]  # buckets, and each part's own KPIs and areas
    return {"type": "snapshot", "as_of": local_iso(now, offset),
            "day_start": local_iso(day, offset),
            "day_end": local_iso(day + timedelta(days=1), offset), "values": values,
            "alerts": [alert_json(a, state.geography.area_names) for a in open_alerts]}


async def send_snapshot(state: AppState, client: ClientSession) -> None:
    """Queue the client's snapshot: :func:`build_snapshot`, one read shared by the clients
    that asked alike meanwhile (api/snapshots.py); the client is registered with the hub
    before it asks."""
    subscription = client.subscription
    shared = await state.snapshots.snapshot(subscription,
                                            partial(build_snapshot, state, subscription))
    client.snapshot(shared.message, shared.versions)


class BadAuth(ValueError):
    """A first message that is not ``{"type": "auth", "token": "<string>"}``."""


def first_message(message: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON object a first frame holds; raises BadAuth when it holds none."""
    text = message.get("text")
    if text is None:
        raise BadAuth("the first message must be a text frame")
    if len(text) > MAX_AUTH_MESSAGE:
        raise BadAuth("the first message is too long")
    try:
        first = json.loads(text)
    except ValueError:
        raise BadAuth("the first message must be JSON") from None
    if not isinstance(first, dict):
        raise BadAuth("the first message must be a JSON object")
    return first


def token_of(first: Mapping[str, Any]) -> str | None:
    """A first message's token; raises BadAuth when it cannot be one."""
    token = first.get("token")
    if token is None and first.get("type") != "auth":
        return None  # e.g. a subscribe before auth: no token given
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise BadAuth("'token' must be a non-empty string")
    return token


def subscription_in(first: Mapping[str, Any], known_areas: frozenset[str],
                    canonical: Callable[[str], str | None]) -> Subscription | None:
    """The subscription an ``auth`` message carries in ``subscribe`` (the fields of a
    ``subscribe`` message), so that the first snapshot is already the one wanted; None when
    it carries none. Raises ValueError when it is not a valid subscription."""
    raw = first.get("subscribe")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("subscribe: must be an object")
    try:
        return parse_subscription(raw, known_areas, canonical)
    except ValueError as exc:
        raise ValueError(f"subscribe: {exc}") from None


async def _refuse(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):  # the client may already be gone
        await ws.send_json({"type": "error", "error": reason})
        await ws.close(code, reason)


@dataclass(frozen=True, slots=True)
class Authenticated:
    holder: bytes
    """The token's digest (connections are counted per token)."""
    subscription: Subscription | None = None
    """What the first message asked for, if it asked."""
    problem: str | None = None
    """Why the subscription it carried was not taken (then the default stands)."""


async def _authenticate(ws: WebSocket, state: AppState, token: str | None) -> Authenticated | None:
    """Who connected, once theirs is a valid reader token, and the subscription their first
    message carries; None after closing the socket. Without ``?token=``, the token comes in
    the first message (docs/feed.md: close codes)."""
    subscription, problem = None, None
    if token is None:
        try:
            message = await asyncio.wait_for(ws.receive(), AUTH_TIMEOUT_S)
        except TimeoutError:
            await _refuse(ws, CLOSE_UNAUTHORIZED, f"no token within {AUTH_TIMEOUT_S:.0f} s")
            return None
        if message["type"] == "websocket.disconnect":
            return None
        try:
            first = first_message(message)
            token = token_of(first)
        except BadAuth as exc:
            await _refuse(ws, CLOSE_BAD_AUTH, str(exc))
            return None
        try:
            subscription = subscription_in(first, state.geography.area_codes, state.geography.canonical)
        except ValueError as exc:  # told after the snapshot, as for a bad subscribe message
            problem = str(exc)
    if token is not None and len(token) > MAX_TOKEN_LENGTH:
        await _refuse(ws, CLOSE_BAD_AUTH, "'token' must be a non-empty string")
        return None
    principal = await state.tokens.principal(token)
    if principal is None:
        await _refuse(ws, CLOSE_UNAUTHORIZED, "a valid token is required")
        return None
    if principal.role not in READ_ROLES:
        await _refuse(ws, CLOSE_FORBIDDEN, "the feed needs an operator, leader or admin token")
        return None
    assert token is not None
    return Authenticated(token_digest(token), subscription, problem)


@router.websocket("/ws")
async def feed(ws: WebSocket, token: str | None = None) -> None:
    state: AppState = ws.app.state.ioc
    await ws.accept()
    authenticated = await _authenticate(ws, state, token)
    if authenticated is None:
        return
    holder = authenticated.holder
    settings = state.settings
    if state.hub.connections_of(holder) >= settings.ws_max_connections_per_token:
        await ws.send_json({"type": "error", "error": "too many connections for this token "
                            f"(at most {settings.ws_max_connections_per_token})"})
        await ws.close(CLOSE_TOO_MANY)
        WS_DISCONNECTS.labels("too_many_connections").inc()
        return
    client = ClientSession(ws.send_text, buffer_limit=settings.ws_queue_limit,
                           stuck_timeout_s=settings.ws_stuck_timeout_s,
                           heartbeat_s=settings.ws_heartbeat_s,
                           flush_interval_s=settings.ws_flush_interval_s,
                           frames=state.hub.frames)
    if authenticated.subscription is not None:
        client.subscription = authenticated.subscription
    known = state.geography.area_codes
    state.hub.add(client, holder)  # from now on no change is missed: they wait in its buffer
    sender: asyncio.Task[None] | None = None
    try:
        await send_snapshot(state, client)
        if authenticated.problem is not None:
            client.push({"type": "error", "error": authenticated.problem})
        # Sending starts once the snapshot is queued, so it is always the first message (a
        # change that came while it was read waits behind it, or is superseded by it).
        sender = asyncio.create_task(client.run_sender())
        receiver = asyncio.create_task(_receive(ws, state, client, known))
        _done, _ = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        receiver.cancel()
        if client.closed_reason is not None:
            with contextlib.suppress(Exception):
                await ws.close(CLOSE_STUCK, client.closed_reason)
    finally:
        if client.closed_reason is None:
            client.close("gone")
        if sender is not None:
            sender.cancel()
        state.hub.remove(client)


async def _receive(ws: WebSocket, state: AppState, client: ClientSession,
                   known: frozenset[str]) -> None:
    while True:
        try:
            message = await ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            client.push({"type": "error", "error": "messages must be JSON text frames"})
            continue
        subscription: Subscription | None = None
        try:
            message = json.loads(text)
            if not isinstance(message, dict):
                raise ValueError("messages must be JSON objects")
            kind = message.get("type")
            if kind == "subscribe":
                subscription = parse_subscription(message, known, state.geography.canonical)
            elif kind == "auth":
                # (after ?token= an auth message may carry a subscription; its token is not read again)
                subscription = subscription_in(message, known, state.geography.canonical)
            elif kind == "ping":
                client.push({"type": "pong"})
            else:
                raise ValueError(f"unknown message type {kind!r}")
        except ValueError as exc:  # the client's mistake: it is told, and keeps what it had
            client.push({"type": "error", "error": str(exc)})
            continue
        if subscription is not None:  # a failed read ends the connection, not the subscription
            client.resubscribe(subscription)
            await send_snapshot(state, client)
