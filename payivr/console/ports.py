"""What the console needs from the rest of payivr, as small Protocols.

The console never talks to ARI or AMI itself. The application's wiring gives it a
:class:`CallControl` that knows the calls in progress (held in Stasis, or still bridged by
``Dial()`` and reached through an AMI takeover) and starts or cancels payments on them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from payivr.calls.requests import PaymentRequest
from payivr.calls.views import CallInfo
from payivr.core.events import Step


class CallControl(Protocol):
    """Calls and payments, as the console sees them.

    Errors the console turns into answers: :class:`payivr.calls.requests.RequestRefused`
    (bad request, 422), :class:`LookupError` such as ``UnknownCall`` (no such call, 404),
    :class:`payivr.calls.payment.PaymentRefused` (a payment cannot start now, 409).
    """

    async def current_call(self, agent_endpoint: str) -> CallInfo | None:
        """The call the agent on ``agent_endpoint`` is on now, wherever it is bridged."""

    async def call(self, call_key: str) -> CallInfo | None:
        """A call by its key (for requests that name the call)."""

    async def active_calls(self) -> list[CallInfo]:
        """Every call in progress (supervisors see them all)."""

    async def request_for_agent(self, agent_endpoint: str, request: PaymentRequest) -> str:
        """Start a payment on the agent's current call (taking it over first if it is
        only bridged by ``Dial()``); returns the payment id."""

    async def request_on_call(self, call_key: str, request: PaymentRequest) -> str:
        """Start a payment on the call ``call_key``; returns the payment id."""

    async def cancel_payment(self, payment_id: str) -> bool:
        """The agent cancels a payment in progress; False when it is not in progress here."""

    async def reask_step(self, payment_id: str, step: Step) -> bool:
        """The agent sends the caller back to ``step``; False when the payment is not in
        progress here or the caller is not where that step can be asked again."""


HealthCheck = Callable[[], Awaitable[object]]
"""Answers (any value) when the dependency is reachable; raises or hangs when it is not."""
