"""Fixtures of the end-to-end tests (see harness.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from payivr.cli import running_payivr
from payivr.config import FastAgiSettings
from payivr.gateway.pki import write_test_tls
from payivr.gateway.sandbox import KeyFiles, keygen
from payivr.sim.ari import AriSimulator
from tests.e2e.harness import (
    Arrivals,
    CrmInbox,
    System,
    payment_events,
    start_test_sandbox,
    system_config,
)
from tests.e2e.phones import real_seconds
from tests.e2e.targets import SimulatorTarget, Target, target_from_environment, target_type

HERE = Path(__file__).resolve().parent
TEST_AUDIO_SECONDS = 480.0
"""Call audio one test may hear in all (a card payment's prompts take ~100 s; the longest
tests pay twice, or pay after a restart)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each end-to-end test's time limit: the configured one plus its call audio at the
    target's time scale (the simulator plays prompts 100 times faster than Asterisk)."""
    time_scale = target_type().time_scale
    for item in items:
        if item.path.is_relative_to(HERE) and item.get_closest_marker("timeout") is None:
            limit = float(item.config.getini("timeout") or 0)
            if limit:
                item.add_marker(
                    pytest.mark.timeout(real_seconds(limit, time_scale, TEST_AUDIO_SECONDS))
                )


@pytest.fixture(scope="session")
def gateway_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyFiles:
    directory = tmp_path_factory.mktemp("gateway-keys")
    files = keygen(directory, bits=2048)
    write_test_tls(directory)
    return files


@pytest.fixture
async def crm_inbox() -> AsyncIterator[CrmInbox]:
    """A CRM that records every activity and its headers. (A short shutdown: a keep-alive
    connection left by payivr's outbox made the cleanup wait aiohttp's 60 s.)"""
    received: Arrivals[dict[str, Any]] = Arrivals()
    headers: list[dict[str, str]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        headers.append({k.lower(): v for k, v in request.headers.items()})
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/activities", receive)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield CrmInbox(f"http://127.0.0.1:{port}/activities", received, headers)
    await runner.cleanup()


@pytest.fixture
def flow_settings() -> dict[str, Any]:
    """Override in a test module to change the flow's settings (e.g. short timeouts)."""
    return {}


@pytest.fixture
def fastagi_enabled() -> bool:
    """Override in a test module to start payivr's FastAGI listener (on a free port)."""
    return False


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    """The Asterisk under test: the simulators, or the real one PAYIVR_TEST_ARI_URL names."""
    chosen = target_from_environment()
    await chosen.start()
    try:
        yield chosen
    finally:
        await chosen.close()


@pytest.fixture
def sim(target: Target) -> AriSimulator:
    """The ARI simulator, for tests that need it (skipped against a real Asterisk)."""
    if not isinstance(target, SimulatorTarget):
        pytest.skip("needs the ARI simulator")
    return target.sim


@pytest.fixture
async def system(
    target: Target,
    database_url: str,
    gateway_keys: KeyFiles,
    crm_inbox: CrmInbox,
    flow_settings: dict[str, Any],
    fastagi_enabled: bool,
) -> AsyncIterator[System]:
    sandbox = await start_test_sandbox(gateway_keys)
    config = system_config(
        target.access, database_url, sandbox, gateway_keys, crm_inbox, **flow_settings
    )
    config.fastagi = FastAgiSettings(enabled=fastagi_enabled, listen="127.0.0.1:0")
    try:
        async with running_payivr(config) as running:
            events = payment_events(running)
            await asyncio.wait_for(running.events.connected.wait(), 10)
            yield System(target, running, sandbox, crm_inbox, config, events)
    finally:
        await sandbox.close()
