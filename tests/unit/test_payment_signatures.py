"""The payments webhook's signature ledger and the bounded body reader (pure logic, a real
file for the ledger)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectors.payments import Claim, SeenSignatures
from ioc.http_limits import BodyRefused, read_bounded

NOW = 1_800_000_000.0


def test_a_signature_is_used_only_once_its_delivery_is_committed(tmp_path: Path) -> None:
    async def scenario() -> None:
        seen = SeenSignatures(tmp_path / "sigs.txt", 300, NOW)
        assert await seen.claim("a", 1) is Claim.HELD
        seen.release("a")  # the broker did not ack: 503, nothing recorded
        assert await seen.claim("a", 1) is Claim.HELD  # the gateway's retry
        seen.commit("a", int(NOW), NOW)
        assert await seen.claim("a", 1) is Claim.USED  # a replay
        seen.release("a")  # a no-op once committed
        assert await seen.claim("a", 1) is Claim.USED
        seen.close()

    asyncio.run(scenario())
    reopened = SeenSignatures(tmp_path / "sigs.txt", 300, NOW + 10)

    async def after_restart() -> None:
        assert await reopened.claim("a", 1) is Claim.USED

    asyncio.run(after_restart())
    reopened.close()


def test_only_committed_signatures_survive_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        seen = SeenSignatures(tmp_path / "sigs.txt", 300, NOW)
        assert await seen.claim("held-at-crash", 1) is Claim.HELD
        assert await seen.claim("done", 1) is Claim.HELD
        seen.commit("done", int(NOW), NOW)
        seen.close()  # the process dies while "held-at-crash" waits for its ack

    asyncio.run(scenario())

    async def after_restart() -> None:
        seen = SeenSignatures(tmp_path / "sigs.txt", 300, NOW + 1)
        assert await seen.claim("held-at-crash", 1) is Claim.HELD
        assert await seen.claim("done", 1) is Claim.USED
        seen.close()

    asyncio.run(after_restart())


def test_a_copy_in_flight_waits_for_the_first_and_never_both_hold(tmp_path: Path) -> None:
    async def scenario() -> None:
        seen = SeenSignatures(tmp_path / "sigs.txt", 300, NOW)
        assert await seen.claim("s", 1) is Claim.HELD
        # The first fails: the waiting copy takes the signature over.
        waiting = asyncio.create_task(seen.claim("s", 5))
        await asyncio.sleep(0)
        assert not waiting.done()
        seen.release("s")
        assert await waiting is Claim.HELD
        # That one is acked: another waiting copy learns it is a replay.
        second = asyncio.create_task(seen.claim("s", 5))
        await asyncio.sleep(0)
        seen.commit("s", int(NOW), NOW)
        assert await second is Claim.USED
        # A holder that never settles: the copy gives up after its wait.
        assert await seen.claim("t", 1) is Claim.HELD
        assert await seen.claim("t", 0.05) is Claim.BUSY
        seen.close()

    asyncio.run(scenario())


async def _chunks(*parts: bytes, stall_after: int | None = None) -> AsyncIterator[bytes]:
    for index, part in enumerate(parts):
        if stall_after is not None and index == stall_after:
            await asyncio.Event().wait()  # a client that stops sending
        yield part


def test_read_bounded_refuses_declared_oversize_before_reading() -> None:
    read: list[bytes] = []

    async def tracked() -> AsyncIterator[bytes]:
        async for part in _chunks(b"x" * 10):
            read.append(part)
            yield part

    with pytest.raises(BodyRefused) as refused:
        asyncio.run(read_bounded(tracked(), "5000000", 1024, 5))
    assert refused.value.status == 413 and read == []


@pytest.mark.parametrize(("parts", "declared", "status"), [
    ((b"a" * 600, b"b" * 600), None, 413),  # chunked: cut at the limit
    ((b"a" * 600, b"b" * 600), "1000", 413),  # more than declared arrives
])
def test_read_bounded_cuts_a_body_over_the_limit(parts: tuple[bytes, ...], declared: str | None,
                                                 status: int) -> None:
    with pytest.raises(BodyRefused) as refused:
        asyncio.run(read_bounded(_chunks(*parts), declared, 1024, 5))
    assert refused.value.status == status


def test_read_bounded_gives_up_on_a_stalled_body() -> None:
    with pytest.raises(BodyRefused) as refused:
        asyncio.run(read_bounded(_chunks(b"{", b"}", stall_after=1), "2", 1024, 0.05))
    assert refused.value.status == 408


def test_read_bounded_returns_a_body_within_limits() -> None:
    assert asyncio.run(read_bounded(_chunks(b"{", b'"a": 1', b"}"), "8", 1024, 5)) == b'{"a": 1}'


def test_read_bounded_drops_a_bounded_amount_past_the_limit_then_refuses() -> None:
    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"z" * 1000

    with pytest.raises(BodyRefused) as refused:
        asyncio.run(read_bounded(endless(), None, 1024, 5, drain_bytes=4096))
    assert refused.value.status == 413
    with pytest.raises(BodyRefused) as stalled_past_limit:
        asyncio.run(read_bounded(_chunks(b"a" * 2000, b"b", stall_after=1), None, 1024, 0.05))
    assert stalled_past_limit.value.status == 413
