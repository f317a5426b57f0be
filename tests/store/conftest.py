from __future__ import annotations

import pytest
from _store_helpers import CrmReceiver, SimulatedClock

from payivr.standard_webhooks import new_secret
from payivr.store import PaymentStore, WebhookAdapter


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock()


@pytest.fixture
def secret() -> str:
    return new_secret()


@pytest.fixture
def crm() -> CrmReceiver:
    return CrmReceiver()


@pytest.fixture
def adapter(crm: CrmReceiver, secret: str, clock: SimulatedClock) -> WebhookAdapter:
    return WebhookAdapter("crm", "http://127.0.0.1:9/activities", secret, crm.send, clock=clock)


@pytest.fixture
def store(database, clock) -> PaymentStore:  # type: ignore[no-untyped-def]
    return PaymentStore(database, crm_endpoints=["crm"], clock=clock)
