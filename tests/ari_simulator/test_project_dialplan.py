"""The simulator runs the project's own dialplan/ files: the *7 feature with an amount, the
takeover contexts, and their fallback when payivr is not connected."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from payivr.sim.ari import AriSimulator, SimPhone, UserEventRaised

from .helpers import AriTestClient

DIALPLAN = Path(__file__).resolve().parents[2] / "dialplan"

pytestmark = pytest.mark.skipif(not (DIALPLAN / "payivr.conf").is_file(),
                                reason="the project's dialplan/ is not there")


def _user_events(sim: AriSimulator) -> tuple[list[UserEventRaised], asyncio.Event]:
    """Every UserEvent the dialplan raises, and an event set at the first."""
    raised: list[UserEventRaised] = []
    request = asyncio.Event()

    def listen(event: object) -> None:
        if isinstance(event, UserEventRaised):
            raised.append(event)
            request.set()

    sim.add_listener(listen)
    return raised, request


async def _call_with_feature(sim: AriSimulator) -> tuple[SimPhone, SimPhone, str, str,
                                                         list[UserEventRaised]]:
    sim.dialplan.load((DIALPLAN / "payivr.conf").read_text())
    sim.dialplan.load_features((DIALPLAN / "features.conf").read_text())
    raised, request = _user_events(sim)
    caller = sim.add_phone("caller", "PJSIP/1002")
    agent = sim.add_phone("agent", "PJSIP/1001")
    call = await sim.dial(caller, agent, dynamic_features="payivr")
    await agent.press("*71999#")
    await asyncio.wait_for(request.wait(), 3)
    return caller, agent, call.caller_channel_id, call.agent_channel_id, raised


async def test_the_feature_code_sends_the_amount_and_takeover_passes_the_key(
    sim: AriSimulator, client: AriTestClient
) -> None:
    events = await client.events("payivr")
    caller, _, caller_id, agent_id, raised = await _call_with_feature(sim)
    assert raised[0].fields == {"Agent": sim.channels[agent_id].name,
                                "Peer": sim.channels[caller_id].name, "Amount": "1999",
                                "App": ""}  # PAYIVR_APP: unset, payivr's default application
    assert caller.received_dtmf == ""  # the code and the amount never reach the customer
    for channel in (caller_id, agent_id):
        sim.set_variable(channel, "PAYIVR_KEY", "req-1")
    await sim.redirect(caller_id, "payivr-takeover", "caller", 1,
                       extra_channel=agent_id, extra_exten="agent")
    await events.wait_for(lambda e: e["type"] == "StasisStart" and e["args"][1] == "agent")
    starts = sorted(e["args"] for e in events.events if e["type"] == "StasisStart")
    assert starts == [["takeover", "agent", "req-1"], ["takeover", "caller", "req-1"]]


async def test_without_payivr_the_caller_hears_the_apology_and_is_back_with_the_agent(
    sim: AriSimulator,
) -> None:
    caller, agent, caller_id, agent_id, _ = await _call_with_feature(sim)
    sim.set_variable(caller_id, "PAYIVR_PEER", sim.channels[agent_id].name)
    await sim.redirect(caller_id, "payivr-takeover", "caller", 1,
                       extra_channel=agent_id, extra_exten="agent")
    await caller.wait_for(lambda p: p.can_hear(agent) and agent.can_hear(p))
    assert "sound:payivr/en/payments-unavailable" in caller.heard
    assert sim.channels[caller_id].variables["STASISSTATUS"] == "FAILED"
    assert sim.channels[caller_id].variables["BRIDGERESULT"] == "SUCCESS"


async def test_the_shipped_globals_apply_and_the_amount_timeout_is_per_digit(
    sim: AriSimulator,
) -> None:
    """asterisk/extensions.conf's [globals] (PAYIVR_AMOUNT_TIMEOUT=3) reach every channel, and
    Read() waits that long for each digit (app_read), so an agent keying slowly, each key
    within 3 s but the whole amount over 10 s, still sends all of it."""
    sim.dialplan.load((DIALPLAN.parent / "asterisk" / "extensions.conf").read_text())
    assert sim.dialplan.global_variables["PAYIVR_AMOUNT_TIMEOUT"] == "3"
    sim.dialplan.load((DIALPLAN / "payivr.conf").read_text())
    sim.dialplan.load_features((DIALPLAN / "features.conf").read_text())
    raised, request = _user_events(sim)
    caller = sim.add_phone("caller", "PJSIP/1002")
    agent = sim.add_phone("agent", "PJSIP/1001")
    await sim.dial(caller, agent, dynamic_features="payivr")
    await agent.press("*7")
    await agent.press("13742#", gap_ms=2500)
    await asyncio.wait_for(request.wait(), 3)
    assert raised[0].fields["Amount"] == "13742"


def _shipped_pbx(sim: AriSimulator) -> tuple[SimPhone, SimPhone]:
    """asterisk/extensions.conf and features.conf as the compose file mounts them, with the
    customer's phone (1002, [from-customers]) and the agent's (1001, [from-agents])."""
    for conf in (DIALPLAN.parent / "asterisk" / "extensions.conf", DIALPLAN / "payivr.conf"):
        sim.dialplan.load(conf.read_text())
    for conf in (DIALPLAN.parent / "asterisk" / "features.conf", DIALPLAN / "features.conf"):
        sim.dialplan.load_features(conf.read_text())
    customer = sim.add_phone("customer", "PJSIP/1002", context="from-customers")
    agent = sim.add_phone("agent", "PJSIP/1001", context="from-agents")
    return customer, agent


async def test_the_agent_blind_transfers_with_hash_1_as_features_conf_says(
    sim: AriSimulator,
) -> None:
    """Dial()'s t arms features.conf's blindxfer (#1) for the agent: a number that does not
    exist is refused and the call goes on; 7291 sends the customer to [payivr-transfer] with
    BLINDTRANSFER naming the agent's channel, and hangs the agent up. No digit of it reaches
    the customer."""
    customer, agent = _shipped_pbx(sim)
    await customer.call("1001", context="from-customers")
    await customer.wait_for(lambda p: p.can_hear(agent) and agent.can_hear(p))
    agent_channel = agent.channel
    assert agent_channel is not None
    await agent.press("#15")  # nothing in [from-agents] starts with 5: refused at once
    await agent.wait_for(lambda p: "sound:pbx-invalid" in p.heard, within=3)
    assert customer.can_hear(agent) and "sound:pbx-transfer" in agent.heard
    await agent.press("#17291")
    await agent.wait_for(lambda p: p.channel is None)
    assert customer.channel is not None
    assert customer.channel.variables["BLINDTRANSFER"] == agent_channel.name
    # payivr is not connected here: the customer hears why and goes back to the agent.
    await customer.wait_for(lambda p: "sound:payivr/en/payments-unavailable" in p.heard)
    assert customer.received_dtmf == ""


async def test_without_t_or_T_hash_1_is_no_transfer(sim: AriSimulator) -> None:
    customer, agent = _shipped_pbx(sim)
    sim.dialplan.add("from-customers", "1001", "Dial(PJSIP/1001,30)")
    await customer.call("1001", context="from-customers")
    await customer.wait_for(lambda p: p.can_hear(agent))
    await agent.press("#17291")
    await customer.wait_for(lambda p: p.received_dtmf == "#17291")
    assert agent.channel is not None
