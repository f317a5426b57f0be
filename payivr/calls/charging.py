"""The flow's ``Authorize`` command served by a payment gateway adapter."""

from __future__ import annotations

import time
from collections.abc import Callable

from payivr.calls.driver import Authorizer, GatewayAnswer
from payivr.core.events import Authorize
from payivr.gateway.interface import Gateway, to_flow_event


def gateway_authorizer(
    gateway: Gateway, observe_latency: Callable[[float], None] | None = None
) -> Authorizer:
    """Charge once per payment: the idempotency key is the payment id."""

    async def authorize(command: Authorize) -> GatewayAnswer:
        started = time.monotonic()
        try:
            result = await gateway.sale(
                command.card, command.amount_minor, command.currency, command.idempotency_key
            )
        finally:
            if observe_latency is not None:
                observe_latency(time.monotonic() - started)
        return to_flow_event(result)

    return authorize
