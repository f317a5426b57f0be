"""The webhook adapter over real HTTP (aiohttp) to a receiver on 127.0.0.1."""

import aiohttp
from _store_helpers import finished_payment
from aiohttp import web

from payivr.store import (
    InvalidSignature,
    OutboxStatus,
    OutboxWorker,
    WebhookAdapter,
    aiohttp_send,
    crm_endpoints,
    crm_list,
    verify,
)


async def test_delivery_over_http_verifies_at_the_receiver(store, database, secret, clock):
    received = []
    answers = iter([503, 200, 410])

    async def activities(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(secret, request.headers, body, now=clock.now)
        except InvalidSignature:
            return web.Response(status=401)
        received.append(request.headers["webhook-id"])
        status = next(answers)
        return web.Response(status=status, headers={"Retry-After": "30"} if status == 503 else {})

    app = web.Application()
    app.router.add_post("/activities", activities)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            adapter = WebhookAdapter(
                "crm",
                f"http://127.0.0.1:{port}/activities",
                secret,
                aiohttp_send(session),
                clock=clock,
            )
            worker = OutboxWorker(database, [adapter], clock=clock)
            await finished_payment(store)
            await finished_payment(store)
            await worker.run_once()  # 503, Retry-After: 30
            clock.advance(seconds=30)
            await worker.run_once()  # first delivered, second gets 410
    finally:
        await runner.cleanup()

    first, second = await crm_list(database)
    assert received == [str(first.id), str(first.id), str(second.id)]
    assert first.status is OutboxStatus.DELIVERED
    assert second.status is OutboxStatus.PENDING
    assert not (await crm_endpoints(database))[0].enabled


async def test_unreachable_receiver_is_retried(store, database, secret, clock):
    async with aiohttp.ClientSession() as session:
        adapter = WebhookAdapter(
            "crm", "http://127.0.0.1:9/", secret, aiohttp_send(session), clock=clock
        )
        await finished_payment(store)
        await OutboxWorker(database, [adapter], clock=clock).run_once()
    [entry] = await crm_list(database)
    assert entry.status is OutboxStatus.PENDING
    assert entry.last_error is not None and entry.last_error.startswith("transport error")
