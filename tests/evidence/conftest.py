"""Fixtures of the evidence tests: the end-to-end system (tests/e2e) with everything payivr
writes or sends captured (see capture.py), the console on a free port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from payivr.cli import running_payivr
from payivr.gateway.sandbox import KeyFiles
from tests.e2e.conftest import crm_inbox, gateway_keys, target
from tests.e2e.harness import CrmInbox, System, payment_events, start_test_sandbox, system_config
from tests.e2e.targets import SimulatorTarget, Target
from tests.evidence.capture import Capture, logging_to

__all__ = ["crm_inbox", "gateway_keys", "target"]


@dataclass
class Evidence:
    system: System
    capture: Capture
    database_url: str

    @property
    def sim_target(self) -> SimulatorTarget:
        assert isinstance(self.system.target, SimulatorTarget)
        return self.system.target


@pytest.fixture
def flow_settings() -> dict[str, Any]:
    """Override in a test module to change the flow's settings (e.g. short timeouts)."""
    return {}


@pytest.fixture
async def evidence(
    target: Target,
    database_url: str,
    gateway_keys: KeyFiles,
    crm_inbox: CrmInbox,
    flow_settings: dict[str, Any],
) -> AsyncIterator[Evidence]:
    """payivr on the simulators with logging at DEBUG and every output captured."""
    if not isinstance(target, SimulatorTarget):
        pytest.skip("the evidence tests watch the simulators")
    capture = Capture()
    with logging_to(capture.log):
        capture.watch_ari(target.sim)
        capture.watch_ami(target.ami)
        sandbox = await start_test_sandbox(gateway_keys)
        capture.watch_gateway(sandbox)
        config = system_config(
            target.access, database_url, sandbox, gateway_keys, crm_inbox, **flow_settings
        )
        config.console.listen = "127.0.0.1:0"
        config.console.metrics_open = True  # the supervisor's scan reads /metrics too
        try:
            async with capture.bus_listener(database_url), running_payivr(config) as running:
                events = payment_events(running)
                await asyncio.wait_for(running.events.connected.wait(), 10)
                system = System(target, running, sandbox, crm_inbox, config, events)
                yield Evidence(system, capture, database_url)
        finally:
            await sandbox.close()
