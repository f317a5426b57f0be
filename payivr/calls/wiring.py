"""What call control is given by the application: one :class:`CallServices` for every call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from payivr.ari.client import AriClient
from payivr.calls.driver import Authorizer
from payivr.calls.notifier import Notifier
from payivr.calls.recording import RecordingGuard
from payivr.calls.records import PaymentRecords
from payivr.config import CallSettings
from payivr.core.flow import FlowConfig


@dataclass(frozen=True)
class CallServices:
    """Everything a session needs, wired once by the application."""

    ari: AriClient
    app: str
    calls: CallSettings
    flow: FlowConfig
    authorize: Authorizer
    records: PaymentRecords
    notifier: Notifier
    today: Callable[[], date]
    currency: str = "USD"
    max_amount_minor: int = 1_000_000
    bridge_prefix: str = "payivr-"
    recordings: RecordingGuard | None = None  # mutes the operator's call recordings
