"""Snapshot reads shared by the clients that subscribe alike at the same moment.

A wall's snapshot at 114 units holds about 2,300 values. When a thousand walls connect at
once (an API restart, a morning), reading and encoding one snapshot per client kept the
API busy for seconds. Here one read, and one encoding of its result, serves every client
that asked for the same subscription while that read waited to start.

The feed's promise still holds: a client is registered with the hub (its changes wait in
its buffer) before it asks, and the read that serves it starts after it asked, so no change
can fall between its snapshot and its buffer. A read never serves a client that asked
after it started: that client waits for the next read, which starts once the running one
is done (so a subscription has at most one read running and one waiting).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from api.fanout import Shared
from api.feed_client import snapshot_versions

Read = Callable[[], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot message, shared (its JSON text made once), and the version of each value
    it holds by change key (each client starts its own versions from these)."""

    message: Shared
    versions: dict[str, int]

    @classmethod
    def of(cls, message: dict[str, Any]) -> Snapshot:
        return cls(Shared(message), snapshot_versions(message))


class SnapshotReads:
    """One read per subscription at a time, shared by whoever asked before it started."""

    def __init__(self) -> None:
        self._waiting: dict[Hashable, asyncio.Future[Snapshot]] = {}
        self._running: dict[Hashable, asyncio.Task[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.reads = 0
        """Reads made so far (for tests and metrics)."""

    async def snapshot(self, key: Hashable, read: Read) -> Snapshot:
        """The snapshot of ``key`` from a read that starts after this call; ``read`` makes
        it when no read of ``key`` is waiting to start. The result is shared: do not
        change it (its JSON text is made once, by the first sender)."""
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = asyncio.get_running_loop().create_future()
            waiting.add_done_callback(_retrieved)  # every client may have gone meanwhile
            task = asyncio.create_task(self._start(key, waiting, read))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(waiting)

    async def _start(self, key: Hashable, result: asyncio.Future[Snapshot], read: Read) -> None:
        me = asyncio.current_task()
        assert me is not None
        try:
            before = self._running.get(key)
            if before is not None:
                await asyncio.wait([before])
            del self._waiting[key]  # from here on, whoever asks waits for the next read
            self._running[key] = me
            self.reads += 1
            snapshot = Snapshot.of(await read())
        except Exception as exc:
            if not result.done():
                result.set_exception(exc)
        else:
            if not result.done():
                result.set_result(snapshot)
        finally:
            if not result.done():  # cancelled (shutdown) or interrupted: nobody waits forever
                result.cancel()
            if self._waiting.get(key) is result:
                del self._waiting[key]
            if self._running.get(key) is me:
                del self._running[key]


def _retrieved(future: asyncio.Future[Snapshot]) -> None:
    if not future.cancelled():
        future.exception()
