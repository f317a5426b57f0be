"""Helpers for the end-to-end tests. payivr end to end: the real wiring (``running_payivr``) against the ARI simulator, the TLS
sandbox gateway, a PostgreSQL database and a CRM receiver, all on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from payivr.ari.simulator import AriSimulator
from payivr.ari.simulator.phones import SimPhone
from payivr.calls.requests import PaymentRequest
from payivr.cli import Running
from payivr.config import Config, load_config
from payivr.gateway.sandbox import KeyFiles, RunningSandbox, read_secret
from payivr.store import generate_secret

ROOT = Path(__file__).resolve().parents[2]
TIME_SCALE = 0.02  # real seconds per simulated second: prompts play 50 times faster


@dataclasses.dataclass
class CrmInbox:
    """A CRM that records every activity posted to it."""

    url: str
    received: list[dict[str, Any]]
    headers: list[dict[str, str]]


@dataclasses.dataclass
class System:
    sim: AriSimulator
    running: Running
    sandbox: RunningSandbox
    crm: CrmInbox
    config: Config
    events: list[dict[str, Any]]
    requests_seen: list[tuple[str, str, int]]

    def phones(
        self, caller_endpoint: str = "PJSIP/1002", agent_endpoint: str = "PJSIP/1001"
    ) -> tuple[SimPhone, SimPhone]:
        return (
            self.sim.add_phone("caller", endpoint=caller_endpoint),
            self.sim.add_phone("agent", endpoint=agent_endpoint),
        )

    async def feature_code(self, caller: SimPhone, agent: SimPhone) -> None:
        """The agent keys ``*7`` on a call bridged by Dial(): AMI UserEvent, Redirect, Stasis."""
        await self.sim.dial(caller, agent)
        await agent.press("*7")
        await self.wait_event(
            lambda e: e["type"] == "call_started" and e["agent"] == agent.endpoint
        )

    async def takeover(self, caller: SimPhone, agent: SimPhone, request: PaymentRequest) -> str:
        """``*7``, then the agent's *Request payment* (console/API); returns the payment id."""
        await self.feature_code(caller, agent)
        return await self.running.takeovers.request_for_agent(agent.endpoint, request)

    async def wait_event(
        self, predicate: Callable[[dict[str, Any]], bool], within: float = 10
    ) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                await asyncio.sleep(0.01)

    async def finished(self, within: float = 15) -> dict[str, Any]:
        return await self.wait_event(lambda e: e["type"] == "payment_finished", within)


async def heard(phone: SimPhone, prompt: str, within: float = 10) -> None:
    uri = f"sound:payivr/en/{prompt}"
    await phone.wait_for(lambda p: uri in p.heard, within=within)


async def answer_prompt(phone: SimPhone, prompt: str, keys: str) -> None:
    """Wait until the phone hears ``prompt`` (its last occurrence being new), then key."""
    await heard(phone, prompt)
    await phone.press(keys, duration_ms=80, gap_ms=120)


def system_config(
    ami_port: int,
    sim_url: str,
    database_url: str,
    sandbox: RunningSandbox,
    keys: KeyFiles,
    crm: CrmInbox,
    **flow: Any,
) -> Config:
    config = load_config(
        None,
        {
            "PAYIVR_ARI_URL": sim_url,
            "PAYIVR_ARI_PASSWORD": "sim-secret",
            "PAYIVR_AMI_HOST": "127.0.0.1",
            "PAYIVR_AMI_PORT": str(ami_port),
            "PAYIVR_AMI_SECRET": "ami-secret",
            "PAYIVR_DATABASE_URL": database_url,
            "PAYIVR_GATEWAY_URL": sandbox.url,
            "PAYIVR_GATEWAY_PUBLIC_KEY": str(keys.public_key_pem),
            "PAYIVR_GATEWAY_SIGNING_SECRET": read_secret(keys.signing_secret),
            "PAYIVR_GATEWAY_CA_BUNDLE": str(sandbox.ca_file),
            "PAYIVR_CRM_WEBHOOK_URL": crm.url,
            "PAYIVR_CRM_WEBHOOK_SECRET": generate_secret(),
            "PAYIVR_CONSOLE_LISTEN": "127.0.0.1:0",
            "PAYIVR_LOG_LEVEL": "DEBUG",
        },
    )
    config.flow = dataclasses.replace(config.flow, **flow)
    config.validate()
    return config
