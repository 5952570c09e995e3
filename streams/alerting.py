"""Alert evaluation in the worker: an agent over the change topic, a timer, the notifier.

The agent reads the KPI values the KPI agent (of every worker) publishes, picks those the
rules watch (:func:`ioc.alerts.rules.observations`) and steps their alerts in PostgreSQL
(:func:`ioc.storage.alert_episodes.evaluate`). The timer fires pending alerts whose period passed
and escalates unacknowledged critical ones, even when no value arrives. Alert changes go
back onto the change topic as ``alert`` messages for the wall. A pending alert is also
looked at again the moment its period ends, not at the next timer tick. Rules are re-read every
``alert_rules_refresh_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import faust
from faust.streams import Stream

from ioc.alerts.machine import AlertState
from ioc.alerts.presentation import alert_json
from ioc.alerts.rules import Rule, observations
from ioc.changes import change_messages, local_iso
from ioc.clock import Clock
from ioc.geography import Geography
from ioc.settings import Settings
from ioc.storage import alert_episodes as episodes
from ioc.storage.alert_reads import alerts_by_id
from ioc.storage.alert_rules import load_rules
from streams.notifier import Notifier
from streams.publishing import Publisher, change_records

log = logging.getLogger(__name__)


class AlertEvaluator:
    """Rules, evaluation and publishing; the Faust wiring is in :func:`install`."""

    def __init__(self, settings: Settings, geography: Geography, clock: Clock, database: Any,
                 publisher: Publisher, notifier: Notifier) -> None:
        self._settings = settings
        self._geography = geography
        self._clock = clock
        self._db = database
        self._publisher = publisher
        self._notifier = notifier
        self._names = geography.area_names
        self.rules: dict[int, Rule] = {}
        self._loaded_at = float("-inf")
        self._ticks: set[asyncio.Task[list[int]]] = set()

    async def refresh_rules(self) -> None:
        if time.monotonic() - self._loaded_at >= self._settings.alert_rules_refresh_s:
            stored = await self._db.run(load_rules)
            self.rules = {s.rule.id: s.rule for s in stored}
            self._loaded_at = time.monotonic()

    async def judge(self, messages: Sequence[dict[str, Any]]) -> list[int]:
        await self.refresh_rules()
        now = self._clock.now()
        seen = observations(self.rules.values(), messages, now, self._geography.utc_offset)
        if not seen:
            return []
        changed: list[int] = await self._db.run(
            lambda c: episodes.evaluate(c, self.rules, seen, now))
        await self._announce(changed)
        return changed

    async def tick(self) -> list[int]:
        await self.refresh_rules()
        changed: list[int] = await self._db.run(
            lambda c: episodes.tick(c, self.rules, self._clock.now()))
        await self._announce(changed)
        return changed

    def _tick_soon(self) -> None:
        task = asyncio.create_task(self.tick())
        self._ticks.add(task)
        task.add_done_callback(self._ticks.discard)

    async def _announce(self, changed: list[int]) -> None:
        if not changed:
            return
        self._notifier.wake()
        rows = await self._db.run(lambda c: alerts_by_id(c, changed))
        messages = [{"type": "alert", **alert_json(r, self._names)} for r in rows]
        for row in rows:  # a pending alert is looked at again the moment its period ends
            rule = self.rules.get(row["rule_id"])
            if row["state"] == AlertState.PENDING and rule is not None:
                due = row["since"] + rule.spec.condition.pending_for - self._clock.now()
                asyncio.get_running_loop().call_later(
                    max(0.0, due.total_seconds()) + 0.001, self._tick_soon)
        await self._publisher.publish(change_records(
            self._settings.changes_topic, messages,
            local_iso(self._clock.now(), self._geography.utc_offset)))
        for message in messages:
            log.info("alert changed", extra={"alert": message["id"], "rule": message["rule_name"],
                                             "area": message["area"], "state": message["state"],
                                             "value": message["value"]})


def install(app: faust.App, settings: Settings, geography: Geography, clock: Clock, database: Any,
            publisher: Publisher) -> AlertEvaluator:
    notifier = Notifier(settings, clock, database.run, geography.area_names)
    evaluator = AlertEvaluator(settings, geography, clock, database, publisher, notifier)
    changes_topic = app.topic(settings.changes_topic, key_serializer="raw", value_serializer="raw",
                              partitions=settings.change_partitions)

    @app.agent(changes_topic, name="alerts")
    async def alert_agent(stream: faust.StreamT[bytes]) -> None:
        assert isinstance(stream, Stream)
        async for values in stream.take(500, within=0.05):
            messages = [m for v in values for m in change_messages(v)]
            try:
                await evaluator.judge(messages)
            except Exception:  # values are absolute: the next change of each is judged anew
                log.exception("alert evaluation failed; these changes are skipped",
                              extra={"messages": len(messages)})

    @app.timer(interval=settings.alert_tick_s)
    async def alert_timer() -> None:
        try:
            await evaluator.tick()
        except Exception:
            log.exception("alert timer failed; trying again at the next tick")

    @app.task
    async def alert_notifier() -> None:
        await notifier.run_forever()

    return evaluator
