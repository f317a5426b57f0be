from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from payivr.core.events import Outcome
from payivr.core.request import EntryKind
from payivr.store import (
    NewPayment,
    PaymentStore,
    WebhookRequest,
    WebhookResponse,
)


class SimulatedClock:
    """A clock tests move by hand (starts at the real time, so DB defaults agree)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def advance_to(self, when: datetime) -> None:
        self.now = max(self.now, when)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def activity(self) -> dict[str, Any]:
        return dict(json.loads(self.body)["data"])


@dataclass
class CrmReceiver:
    """An in-process CRM endpoint: records every request, answers with ``respond``."""

    respond: Callable[[WebhookRequest], WebhookResponse] = lambda _: WebhookResponse(204)
    received: list[Received] = field(default_factory=list)
    accepted: list[Received] = field(default_factory=list)

    async def send(self, request: WebhookRequest) -> WebhookResponse:
        got = Received(dict(request.headers), request.body)
        self.received.append(got)
        response = self.respond(request)
        if 200 <= response.status < 300:
            self.accepted.append(got)
        return response


def new_payment(**overrides: Any) -> NewPayment:
    values: dict[str, Any] = {
        "call_id": "1732222222.42",
        "agent": "Alice Agent",
        "item_name": "Annual subscription",
        "amount_minor": 1234,
        "currency": "USD",
        "entry_kind": EntryKind.TAKEOVER,
        "agent_channel": "1732222222.43",
        "caller_number": "+15551230000",
        "crm_record_id": "0035g00000XyZ12AAB",
    }
    values.update(overrides)
    return NewPayment(**values)


async def finished_payment(
    store: PaymentStore, outcome: Outcome = Outcome.APPROVED, **overrides: Any
) -> Any:
    payment_id = await store.create_payment(new_payment(**overrides))
    return await store.record_outcome(payment_id, outcome, gateway_reference="ch_test_1")
