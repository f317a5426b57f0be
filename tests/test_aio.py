"""payivr.aio.cancel_and_wait: shutdown ends even when a cancel is lost."""

from __future__ import annotations

import asyncio
import contextlib

from payivr.aio import cancel_and_wait


async def swallows_the_first_cancel(stopped: list[str]) -> None:
    """What a task hit by Python 3.11's wait_for race looks like: the cancel never arrives."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(3600)
    try:
        await asyncio.sleep(3600)
    finally:
        stopped.append("stopped")


async def fails() -> None:
    raise RuntimeError("broken at shutdown")


async def test_a_task_that_lost_its_cancel_is_cancelled_again() -> None:
    stopped: list[str] = []
    stubborn = asyncio.create_task(swallows_the_first_cancel(stopped))
    plain = asyncio.create_task(asyncio.sleep(3600))
    broken = asyncio.create_task(fails())
    done = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(cancel_and_wait([stubborn, plain, broken, done]), 10)
    assert stopped == ["stopped"]
    assert stubborn.cancelled() and plain.cancelled()
    assert isinstance(broken.exception(), RuntimeError)


async def test_nothing_to_cancel_returns_at_once() -> None:
    await asyncio.wait_for(cancel_and_wait([]), 1)
