"""Sign-in attempts per address: a sliding window kept in this process's memory.

The first line against a login flood: an address over the limit is answered 429 before any
database connection or password hash is spent on it. (Per name, failed sign-ins slow down in
the database: see :mod:`payivr.console.accounts`.) With several payivr instances each keeps
its own window, so an address gets the allowance once per instance.
"""

from __future__ import annotations

import collections
import math
from datetime import datetime, timedelta

from payivr.store.models import Clock

ATTEMPTS_PER_ADDRESS = 20
WINDOW = timedelta(minutes=1)
_SWEEP_AT = 10_000  # addresses remembered before the quiet ones are forgotten


class AddressThrottle:
    def __init__(
        self, clock: Clock, limit: int = ATTEMPTS_PER_ADDRESS, window: timedelta = WINDOW
    ) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window
        self._attempts: dict[str, collections.deque[datetime]] = {}

    def admit(self, address: str) -> int | None:
        """Count one attempt from ``address``; None if allowed, else seconds to wait."""
        now = self._clock()
        if len(self._attempts) >= _SWEEP_AT:
            self._sweep(now)
        attempts = self._attempts.setdefault(address, collections.deque())
        while attempts and now - attempts[0] >= self._window:
            attempts.popleft()
        if len(attempts) >= self._limit:
            return max(1, math.ceil((self._window - (now - attempts[0])).total_seconds()))
        attempts.append(now)
        return None

    def _sweep(self, now: datetime) -> None:
        for address in [
            a for a, times in self._attempts.items() if now - times[-1] >= self._window
        ]:
            del self._attempts[address]
