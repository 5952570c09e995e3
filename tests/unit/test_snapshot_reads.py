"""Snapshot reads shared by clients that subscribe alike (api/snapshots.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.snapshots import SnapshotReads
from ioc.changes import change_key

VALUE = {"type": "kpi", "kpi": "dossier.received", "area": None, "bucket": "1d",
         "start": "2026-12-03T00:00:00+07:00", "value": 5, "version": 9}


def _message(n: int) -> dict[str, Any]:
    return {"type": "snapshot", "n": n, "values": [VALUE]}


def test_askers_before_the_read_starts_share_it() -> None:
    async def scenario() -> None:
        reads = SnapshotReads()
        made: list[int] = []

        async def read() -> dict[str, Any]:
            made.append(len(made))
            return _message(len(made))

        got = await asyncio.gather(*(reads.snapshot("wall", read) for _ in range(5)))
        assert made == [0] and reads.reads == 1
        assert all(g is got[0] for g in got)
        assert got[0].message.text().startswith('{"type":"snapshot"')
        assert got[0].versions == {change_key(VALUE): 9}
        other = await reads.snapshot("all", read)  # another subscription, its own read
        assert other.message["n"] == 2 and reads.reads == 2

    asyncio.run(scenario())


def test_an_asker_after_the_read_started_gets_the_next_read_after_it() -> None:
    async def scenario() -> None:
        reads = SnapshotReads()
        log: list[str] = []
        release = asyncio.Event()

        async def first() -> dict[str, Any]:
            log.append("first starts")
            await release.wait()
            log.append("first ends")
            return _message(1)

        async def second() -> dict[str, Any]:
            log.append("second starts")
            return _message(2)

        early = asyncio.create_task(reads.snapshot("wall", first))
        await asyncio.sleep(0.01)
        assert log == ["first starts"]
        log.append("late asks")
        late = asyncio.create_task(reads.snapshot("wall", second))
        also_late = asyncio.create_task(reads.snapshot("wall", second))
        await asyncio.sleep(0.01)
        assert log == ["first starts", "late asks"]  # no second read while the first runs
        release.set()
        assert (await early).message["n"] == 1
        assert (await late).message["n"] == 2 and (await also_late) is (await late)
        assert log == ["first starts", "late asks", "first ends", "second starts"]
        assert reads.reads == 2

    asyncio.run(scenario())


def test_a_failed_read_fails_its_askers_and_the_next_ask_reads_again() -> None:
    async def scenario() -> None:
        reads = SnapshotReads()

        async def broken() -> dict[str, Any]:
            raise ConnectionError("database gone")

        async def fine() -> dict[str, Any]:
            return _message(3)

        results = await asyncio.gather(reads.snapshot("wall", broken),
                                       reads.snapshot("wall", broken), return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)
        assert (await reads.snapshot("wall", fine)).message["n"] == 3

    asyncio.run(scenario())


def test_an_asker_that_goes_away_does_not_cancel_the_read_for_the_others() -> None:
    async def scenario() -> None:
        reads = SnapshotReads()
        release = asyncio.Event()

        async def slow() -> dict[str, Any]:
            await release.wait()
            return _message(4)

        gone = asyncio.create_task(reads.snapshot("wall", slow))
        stays = asyncio.create_task(reads.snapshot("wall", slow))
        await asyncio.sleep(0.01)
        gone.cancel()
        release.set()
        assert (await stays).message["n"] == 4
        with pytest.raises(asyncio.CancelledError):
            await gone

    asyncio.run(scenario())


def test_a_read_cancelled_at_shutdown_leaves_no_client_waiting_forever() -> None:
    async def scenario() -> None:
        reads = SnapshotReads()
        release = asyncio.Event()

        async def slow() -> dict[str, Any]:
            await release.wait()
            return _message(5)

        first = asyncio.create_task(reads.snapshot("wall", slow))
        await asyncio.sleep(0.01)
        queued = asyncio.create_task(reads.snapshot("wall", slow))  # waits behind the first
        await asyncio.sleep(0.01)
        for task in list(reads._tasks):
            task.cancel()
        for client in (first, queued):
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(client, 1)
        release.set()
        assert (await reads.snapshot("wall", slow)).message["n"] == 5  # a new read, not stuck

    asyncio.run(scenario())


def test_a_snapshot_that_cannot_be_taken_apart_fails_its_askers() -> None:
    async def scenario() -> None:
        reads = SnapshotReads()

        async def shapeless() -> dict[str, Any]:
            return {"type": "snapshot"}  # no values

        with pytest.raises(KeyError):
            await asyncio.wait_for(reads.snapshot("wall", shapeless), 1)

    asyncio.run(scenario())
