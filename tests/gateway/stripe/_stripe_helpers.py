"""Helpers shared by the Stripe adapter tests (fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from payivr.gateway.stripe import StripeGateway

MakeGateway = Callable[..., StripeGateway]


class RecordingSleep:
    """Records the waits the adapter asks for and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
