"""The connection pool is bounded: Asterisk drops connections beyond http.conf sessionlimit."""

from __future__ import annotations

import asyncio

from payivr.ari.client import DEFAULT_POOL_LIMIT, AriClient

from .fakeari import PASSWORD, USER, FakeAri


async def test_default_pool_is_twenty() -> None:
    assert DEFAULT_POOL_LIMIT == 20
    assert AriClient("http://127.0.0.1:8088", USER, PASSWORD).pool_limit == 20


async def test_concurrent_requests_never_exceed_the_pool(fake: FakeAri) -> None:
    fake.delay = 0.02
    async with AriClient(fake.url, USER, PASSWORD, pool_limit=5) as client:
        await asyncio.gather(*(client.channels.answer(f"c{i}") for i in range(60)))
    assert len(fake.requests) == 60
    assert fake.max_in_flight == 5
    assert len(fake.peers) <= 5  # connections are reused, never more than the limit
