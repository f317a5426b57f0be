"""A Stripe adapter wired to the fake Stripe that replays recorded exchanges."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _fake_stripe import SECRET_KEY, FakeStripe
from _gateway_helpers import FAST_RETRY
from _stripe_helpers import Clock, MakeGateway, RecordingSleep

from payivr.gateway.stripe import StripeGateway
from payivr.gateway.stripe_config import StripeConfig


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_gateway(sleep: RecordingSleep, clock: Clock) -> AsyncIterator[MakeGateway]:
    made: list[StripeGateway] = []

    def make(fake: FakeStripe, *, moto: bool = False) -> StripeGateway:
        config = StripeConfig(secret_key=SECRET_KEY, moto=moto, retry=FAST_RETRY)
        gateway = StripeGateway(config, transport=fake, sleep=sleep, clock=clock)
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        await gateway.close()
