"""Issue 13 #3: forged takeover requests, sent on the AMI wire and to the FastAGI socket.

A ``*7`` request names its channels and amount itself. Any AMI account with ``write = user``
could raise ``UserEvent(PayIVRRequest)`` naming any channels, and anyone reaching the FastAGI
port could send an AGI request: payivr redirected whatever they named into its Stasis app.
Now nothing is redirected unless the agent channel is a console account's softphone, Asterisk
says the agent and the peer are bridged together now, and the amount is within the limit; the
FastAGI listener takes only the addresses it is told and, when set, a shared secret.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator

import pytest

from payivr.core.amounts import amount_problem
from payivr.sim.ami.server import AmiSimulator
from payivr.sim.ari import AriSimulator
from tests.e2e.harness import System
from tests.e2e.phones import Phone, SimulatedPhone
from tests.logbuffer import payivr_log_buffer

CRM_SECRET = "crm-integration-secret"  # an AMI account a CRM was given, with write = user


class AmiWire:
    """A raw AMI client, as any holder of an AMI account with ``write = user`` has."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def login(cls, ami: AmiSimulator, user: str, secret: str) -> AmiWire:
        reader, writer = await asyncio.open_connection("127.0.0.1", ami.port)
        await reader.readline()  # Asterisk Call Manager/...
        wire = cls(reader, writer)
        assert "Success" in await wire.send(Action="Login", Username=user, Secret=secret)
        return wire

    async def send(self, **headers: str) -> str:
        self.writer.write(
            "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode() + b"\r\n"
        )
        await self.writer.drain()
        while True:
            message = (await self.reader.readuntil(b"\r\n\r\n")).decode()
            if message.startswith("Response:"):
                return message

    async def close(self) -> None:
        self.writer.close()


def _channel_name(sim: AriSimulator, phone: Phone) -> str:
    assert isinstance(phone, SimulatedPhone) and phone.leg is not None
    return sim.channels[phone.leg].name


async def _refusal(log: io.StringIO, count: int, within: float = 10) -> list[str]:
    """The reasons of the first ``count`` refused requests in payivr's log."""
    async with asyncio.timeout(within):
        while True:
            reasons = [
                json.loads(line)["reason"]
                for line in log.getvalue().splitlines()
                if '"feature_code_takeover_refused"' in line
            ]
            if len(reasons) >= count:
                return reasons
            await asyncio.sleep(0.05)


@pytest.fixture
async def crm_ami(system: System, sim: AriSimulator) -> AsyncIterator[AmiWire]:
    ami = system.target.ami  # type: ignore[attr-defined]
    ami.users["crm"] = CRM_SECRET
    wire = await AmiWire.login(ami, "crm", CRM_SECRET)
    yield wire
    await wire.close()


async def test_attack_forged_payivr_requests_on_the_ami_wire_move_no_channel(
    system: System, sim: AriSimulator, crm_ami: AmiWire
) -> None:
    caller, agent = system.phones()
    other_caller, other_agent = system.phones(1)
    name = await system.agent_account(agent)  # the operator's account on the agent's phone
    await system.target.connect(caller, agent)
    await system.target.connect(other_caller, other_agent)
    agent_channel, caller_channel = _channel_name(sim, agent), _channel_name(sim, caller)
    forged = [
        # The caller's own phone named as the agent: it is no console account's softphone.
        {"Agent": caller_channel, "Peer": agent_channel},
        # An agent's channel with another call's caller: not bridged together.
        {"Agent": agent_channel, "Peer": _channel_name(sim, other_caller)},
        # A channel that does not exist.
        {"Agent": "PJSIP/1101-7fffffff", "Peer": caller_channel},
        # The real pair, with an amount far over flow.max_amount_minor.
        {"Agent": agent_channel, "Peer": caller_channel, "Amount": "999999999"},
    ]
    with payivr_log_buffer() as log:
        for headers in forged:
            answer = await crm_ami.send(Action="UserEvent", UserEvent="PayIVRRequest", **headers)
            assert "Event Sent" in answer
        reasons = await _refusal(log, len(forged))
    assert sorted(reasons) == sorted(
        [
            "the agent channel is not the softphone of a console account",
            "Asterisk does not have the agent and the peer bridged together",
            "Asterisk does not have the agent and the peer bridged together",
            amount_problem(999999999, "USD", system.config.flow.max_amount_minor),
        ]
    )
    # Nothing moved: both calls are still bridged by Dial(), outside payivr.
    assert await system.bridged(caller, agent)
    assert await system.bridged(other_caller, other_agent)
    assert not system.running.stasis.sessions

    # The real request, on the same wire, still works: it is the agent's *7.
    answer = await crm_ami.send(
        Action="UserEvent", UserEvent="PayIVRRequest", Agent=agent_channel, Peer=caller_channel
    )
    assert "Event Sent" in answer
    await system.wait_event(lambda e: e["type"] == "call_started" and e["agent"] == name)
    await system.hang_up_all(caller, agent, other_caller, other_agent)
