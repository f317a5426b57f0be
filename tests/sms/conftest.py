"""Fixtures: a pay-by-text rig per test (fresh database, sandbox gateway, simulated carrier)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _sms_helpers import FakeClock, Rig, make_service
from cryptography.hazmat.primitives.asymmetric import rsa

from payivr.gateway.inprocess import InProcessGateway
from payivr.sim.sms import SimulatedCarrier
from payivr.store.cards_on_file import CardsOnFile
from payivr.store.database import Database
from payivr.store.payments import PaymentStore


@pytest.fixture(scope="session")
def gateway_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def rig(database: Database, gateway_key: rsa.RSAPrivateKey) -> AsyncIterator[Rig]:
    clock = FakeClock()
    gateway = InProcessGateway(private_key=gateway_key)
    carrier = SimulatedCarrier(clock=clock)
    payments = PaymentStore(database, crm_endpoints=["crm"], clock=clock)
    service = make_service(database, clock, gateway, carrier, payments)
    carrier.connect(service.handle_event)
    yield Rig(
        database, clock, gateway, carrier, payments, CardsOnFile(database, clock=clock), service
    )
