"""Call recordings keep no digits: the operator's MixMonitor is muted for the payment.

The simulator models what a MixMonitor recording holds (tones read from the channel, media
written to it) and AMI's ``MixMonitorMute`` with Asterisk's checks and answers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from payivr.calls.payment import PaymentRefused
from payivr.calls.requests import PaymentRequest
from payivr.config import Config
from payivr.core.events import Outcome
from payivr.core.request import PrivacyMode
from payivr.gateway.sandbox import KeyFiles
from payivr.sim.ari import AriSimulator
from payivr.sim.ari.model import Recording
from tests.e2e.harness import Call, CrmInbox, System, heard, key_card, system_with
from tests.e2e.phones import SimulatedPhone, prompts
from tests.e2e.targets import Target


def _recording_of(phone: SimulatedPhone) -> Recording:
    channel = phone.sim_phone.channel
    assert channel is not None and channel.recording is not None
    return channel.recording


async def _audit(database_url: str, payment_id: str) -> list[tuple[str, bool, str]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute(
            "SELECT action, success, origin FROM audit_events"
            " WHERE payment_id = %s AND action LIKE 'recording.%%' ORDER BY id",
            (uuid.UUID(payment_id),),
        )
        return [(a, s, o) for a, s, o in await cursor.fetchall()]


async def test_a_recorded_call_keeps_no_digit_of_the_payment(
    system: System, sim: AriSimulator, database_url: str
) -> None:
    caller, agent = system.phones()
    assert isinstance(caller, SimulatedPhone) and isinstance(agent, SimulatedPhone)
    await sim.dial(caller.sim_phone, agent.sim_phone, context="sim-recorded")
    recording = _recording_of(caller)
    caller_name = caller.sim_phone.channel.name  # type: ignore[union-attr]
    await caller.press("9")  # before the payment: recorded
    await caller.wait_for(lambda _: "dtmf:9" in recording.entries)
    await system.agent_account(agent)
    await agent.press("*7")
    await system.wait_event(lambda e: e["type"] == "call_started")
    request = PaymentRequest("Annual plan", 13742, "USD", "alice", privacy_mode=PrivacyMode.HOLD)
    payment_id = await system.running.takeovers.request_for_agent(agent.endpoint, request)
    await key_card(caller)
    finished = await system.finished()
    assert finished["outcome"] == "approved"
    await heard(caller, "returning-to-agent")
    await system.check_reconnected(Call("star7-hold", caller, agent, payment_id))

    # Nothing of the payment is in the recording: no key, no prompt (the read-backs of the
    # last four, the expiry and the postal code are prompts).
    assert recording.entries == ["dtmf:9"], recording.entries
    # Resumed once the outcome is out (it may still be on its way when the caller is back).
    await system.wait_until(lambda: not recording.read_muted and not recording.write_muted)
    await caller.press("5")  # back with the agent: recorded again
    await caller.wait_for(lambda _: "dtmf:5" in recording.entries)
    expected = [
        ("recording.paused", True, caller_name),
        ("recording.resumed", True, caller_name),
    ]
    async with asyncio.timeout(5):
        while True:
            if await _audit(database_url, payment_id) == expected:
                break
            await asyncio.sleep(0.05)
    await system.hang_up_all(caller, agent)
    await system.check_nothing_left()


@pytest.mark.parametrize("context", ["sim-dial", "sim-recording-stopped"])
async def test_an_unrecorded_call_is_not_touched(
    system: System, database_url: str, context: str
) -> None:
    """No MixMonitor, or one the dialplan stopped (its MIXMONITOR_FILENAME stays set and
    Asterisk answers MixMonitorMute with "Cannot set mute flag"): the payment goes ahead."""
    caller, agent = system.phones()
    await system.agent_account(agent)
    await system.target.connect(caller, agent, context)
    await agent.press("*7")
    await system.wait_event(lambda e: e["type"] == "call_started")
    request = PaymentRequest("Annual plan", 13742, "USD", "alice")
    payment_id = await system.running.takeovers.request_for_agent(agent.endpoint, request)
    await key_card(caller)
    assert (await system.finished())["outcome"] == "approved"
    assert await _audit(database_url, payment_id) == []
    await system.hang_up_all(caller, agent)


@pytest.fixture
async def system_without_ami(
    target: Target, database_url: str, gateway_keys: KeyFiles, crm_inbox: CrmInbox
) -> AsyncIterator[System]:
    """payivr with ``ami.enabled = false``: calls reach it through its own entries only."""

    def ami_off(config: Config) -> None:
        config.ami.enabled = False

    async with system_with(target, database_url, gateway_keys, crm_inbox, ami_off) as system:
        yield system


async def test_a_recording_that_cannot_be_paused_refuses_the_payment(
    system_without_ami: System, database_url: str
) -> None:
    """Without AMI nothing can mute a MixMonitor: no card is asked for into a recording."""
    system = system_without_ami
    caller, agent = system.phones()
    await system.target.call_entry(caller, "inbound-recorded", agent)
    await system.wait_bridged(caller, agent)
    request = PaymentRequest("Annual plan", 13742, "USD", "alice")
    with pytest.raises(PaymentRefused, match="recording could not be paused"):
        await system.running.takeovers.request_for_agent(agent.endpoint, request)
    assert "confirm-amount" not in prompts(caller)
    await system.wait_bridged(caller, agent)  # caller and agent still talk
    session = system.running.stasis.session_for_agent(agent.endpoint)
    assert session is not None
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        async with asyncio.timeout(5):  # the outcome is written behind the refusal
            while True:
                cursor = await conn.execute(
                    "SELECT outcome, reason FROM payments WHERE call_id = %s", (session.call.key,)
                )
                outcome, reason = await cursor.fetchone()  # type: ignore[misc]
                if outcome is not None:
                    break
                await asyncio.sleep(0.05)
    assert outcome == Outcome.CANCELLED.value
    assert "recording could not be paused" in reason and "nothing was charged" in reason
    await system.hang_up_all(caller, agent)
