"""What the calls layer shows of a call to the layers above it (console, API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CallInfo:
    """A call an agent is on, as far as the console may show it."""

    call_key: str
    agent_endpoint: str | None  # e.g. PJSIP/1001
    caller_number: str | None
    started_at: datetime  # aware UTC
    payment_id: str | None = None  # the payment in progress on it, if any
