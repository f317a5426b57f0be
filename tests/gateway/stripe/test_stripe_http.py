"""The aiohttp transport against a local HTTP server that answers as the fake Stripe."""

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from _fake_stripe import SECRET_KEY, FakeStripe
from _gateway_helpers import FAST_RETRY, card
from _stripe_helpers import RecordingSleep
from aiohttp import web

from payivr.core.cards import Brand
from payivr.gateway import Approved, Declined, Error
from payivr.gateway.stripe import StripeGateway
from payivr.gateway.stripe_config import StripeConfig
from payivr.gateway.transport import Reply, Request, Timeouts


class StripeServer:
    """Serves a :class:`FakeStripe` over HTTP; can hold back the first ``stall`` answers."""

    def __init__(self, fake: FakeStripe) -> None:
        self.fake = fake
        self.stall = 0
        self.release = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        answer = await self.fake.send(
            Request(
                request.method,
                request.path_qs,
                dict(request.headers),
                bytearray(raw) if request.method == "POST" else None,
            )
        )
        assert isinstance(answer, Reply)
        if self.stall:
            self.stall -= 1
            await self.release.wait()  # until after the client's read timeout
        return web.Response(status=answer.status, body=answer.body, headers=dict(answer.headers))


@pytest.fixture
async def server() -> AsyncIterator[StripeServer]:
    stripe = StripeServer(FakeStripe("sale_approved", "sale_declines"))
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", stripe.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    stripe.url = f"http://127.0.0.1:{port}"
    yield stripe
    stripe.release.set()
    await runner.cleanup()


def gateway_for(url: str, sleep: RecordingSleep) -> StripeGateway:
    config = StripeConfig(
        secret_key=SECRET_KEY, api_base=url, timeouts=Timeouts(1.0, 1.0, 0.3), retry=FAST_RETRY
    )
    return StripeGateway(config, sleep=sleep)


async def test_a_sale_and_a_decline_over_http(server: StripeServer, sleep: RecordingSleep):
    async with gateway_for(server.url, sleep) as gateway:
        approved = await gateway.sale(card("4242424242424242"), 1250, "usd", "pay-approved")
        declined = await gateway.sale(
            card("4000000000000002"), 1250, "usd", "pay-decline-generic_decline"
        )

    assert approved == Approved("pi_3R0aPprvIVRtest0A1b2C3d", Brand.VISA, "4242")
    assert declined == Declined("generic_decline", "the card was declined")
    assert server.fake.ledger.charges == {"pay-approved": 1}


async def test_a_timeout_after_sending_is_settled_by_the_replay(
    server: StripeServer, sleep: RecordingSleep
):
    server.stall = 1
    async with gateway_for(server.url, sleep) as gateway:
        result = await gateway.sale(card("4242424242424242"), 1250, "usd", "pay-approved")

    assert result == Approved("pi_3R0aPprvIVRtest0A1b2C3d", Brand.VISA, "4242")
    assert len(server.fake.seen) == 2 and server.fake.ledger.charges == {"pay-approved": 1}


async def test_nobody_listening_is_an_error_to_retry_later(sleep: RecordingSleep):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with gateway_for(f"http://127.0.0.1:{port}", sleep) as gateway:
        result = await gateway.sale(card("4242424242424242"), 1250, "usd", "pay-down")

    assert result == Error("Stripe could not be reached", retryable=True)
    assert len(sleep.waits) == FAST_RETRY.attempts - 1
