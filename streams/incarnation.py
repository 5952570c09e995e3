"""A worker never outlives the broker incarnation it started on."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import faust

from ioc.settings import Settings

log = logging.getLogger(__name__)


def leave_on_new_broker(app: faust.App, settings: Settings, cluster_id: str,
                        probe: Callable[[str], str]) -> None:
    """Exit at once when the broker turns out to be another incarnation (a memory-only broker
    restarted, a cluster rebuilt): the worker's offsets would be stored under the old cluster
    id and the new incarnation's records taken for ones already counted. ``probe`` reads the
    cluster id from the bootstrap servers; a supervisor starts a fresh worker."""

    @app.timer(interval=settings.broker_cluster_check_s)
    async def same_broker() -> None:
        try:
            now = await asyncio.to_thread(probe, settings.kafka_bootstrap)
        except Exception:  # unreachable for now: the consumer retries, and so do we
            return
        if now != cluster_id:
            log.critical("the broker is a new incarnation; exiting",
                         extra={"cluster_id": cluster_id, "now": now})
            logging.shutdown()
            os._exit(3)  # at once: no further commit may carry the old cluster id


def wait_for_go(go_file: Path | None) -> None:
    """A standby worker (``IOC_WORKER_STANDBY_FILE``) has paid for its imports and waits here,
    touching nothing, until its supervisor creates the file; then it starts as any worker."""
    if go_file is None:
        return
    log.info("standby worker waiting", extra={"go_file": str(go_file)})
    while not go_file.exists():
        time.sleep(0.02)
    go_file.unlink(missing_ok=True)
