"""asyncio helpers payivr needs beyond the standard library."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

RECANCEL_SECONDS = 1.0


async def cancel_and_wait(tasks: Collection[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until every one has ended, cancelling again each second.

    On Python 3.11, ``asyncio.wait_for`` drops a cancel that arrives in the loop turn its
    awaitable completes, and libraries use it (psycopg_pool waits for a free connection with
    it): a task hit there goes on as if never cancelled, and a plain ``cancel(); await``
    waits for ever. A second cancel lands on whatever the task awaits next.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: an error at shutdown is not reported as unhandled
