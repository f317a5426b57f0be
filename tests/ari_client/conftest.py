from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from payivr.ari.client import AriClient

from .fakeari import PASSWORD, USER, FakeAri


@pytest.fixture
async def fake() -> AsyncIterator[FakeAri]:
    server = await FakeAri().start()
    yield server
    await server.stop()


@pytest.fixture
async def ari(fake: FakeAri) -> AsyncIterator[AriClient]:
    async with AriClient(fake.url, USER, PASSWORD, request_timeout=5.0) as client:
        yield client
