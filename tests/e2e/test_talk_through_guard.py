"""Issue 13 hardening: talk-through only where the agent cannot hear the caller's keys, and
only where the operator allows it.

Talk-through keeps the agent in the caller's bridge and relies on Asterisk absorbing the keys
it receives as events. Any agent could choose it, and a caller whose phone sends its keys as
tones in the audio (PJSIP ``dtmf_mode = inband``, or ``auto`` without RFC 4733) would have
been heard keying the card. Both are asked for here through the console's HTTP API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from payivr.config import Config
from payivr.gateway.sandbox import KeyFiles
from payivr.sim.ari import AriSimulator
from tests.e2e.harness import AGENT_PASSWORD, CrmInbox, System, system_with
from tests.e2e.phones import Phone, SimulatedPhone
from tests.e2e.targets import Target


async def _ask(system: System, agent: Phone, privacy_mode: str) -> tuple[int, Any]:
    """The agent signs in to the console and asks for a payment on their current call."""
    url = system.running.console_url
    name = await system.agent_account(agent)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        login = await session.post(
            f"{url}/api/v1/login", json={"name": name, "password": AGENT_PASSWORD}
        )
        assert login.status == 200, await login.text()
        csrf = (await login.json())["csrf_token"]
        answer = await session.post(
            f"{url}/api/v1/payments",
            json={"item": "Plan", "amount": "10.00", "privacy_mode": privacy_mode},
            headers={"X-CSRF-Token": csrf},
        )
        return answer.status, await answer.json()


@pytest.mark.parametrize("dtmf_mode", ["inband", "auto"])
async def test_attack_talk_through_with_a_caller_sending_tones_is_refused(
    system: System, sim: AriSimulator, dtmf_mode: str
) -> None:
    caller, agent = system.phones()
    assert isinstance(caller, SimulatedPhone)
    caller.sim_phone.dtmf_mode = dtmf_mode
    await system.target.connect(caller, agent)
    status, body = await _ask(system, agent, "talk-through")
    assert status == 409, body
    assert body["error"]["code"] == "payment_refused"
    assert f"the caller's DTMF mode is {dtmf_mode}" in body["error"]["message"]
    assert not system.events or all(e["type"] != "payment_started" for e in system.events)
    # On hold the agent hears music, not the caller: the same call pays.
    status, body = await _ask(system, agent, "hold")
    assert status == 201, body
    await system.hang_up_all(caller, agent)


@pytest.fixture
async def no_talk_through(
    target: Target, database_url: str, gateway_keys: KeyFiles, crm_inbox: CrmInbox
) -> AsyncIterator[System]:
    """payivr with ``calls.allow_talk_through = false``."""

    def forbid(config: Config) -> None:
        config.calls.allow_talk_through = False

    async with system_with(target, database_url, gateway_keys, crm_inbox, forbid) as system:
        yield system


async def test_attack_an_agent_choosing_talk_through_where_it_is_turned_off(
    no_talk_through: System,
) -> None:
    system = no_talk_through
    caller, agent = system.phones()
    await system.target.connect(caller, agent)
    status, body = await _ask(system, agent, "talk-through")
    assert status == 409, body
    assert "talk-through is turned off here" in body["error"]["message"]
    status, body = await _ask(system, agent, "hold")
    assert status == 201, body
    await system.hang_up_all(caller, agent)


@pytest.fixture
async def vouched_for(
    target: Target, database_url: str, gateway_keys: KeyFiles, crm_inbox: CrmInbox
) -> AsyncIterator[System]:
    """payivr with ``calls.talk_through_unchecked_technologies = ["PJSIP", "Local"]``."""

    def vouch(config: Config) -> None:
        config.calls.talk_through_unchecked_technologies = ("PJSIP", "Local")

    async with system_with(target, database_url, gateway_keys, crm_inbox, vouch) as system:
        yield system


async def test_the_dtmf_check_is_left_out_for_the_technologies_the_operator_names(
    vouched_for: System,
) -> None:
    """What ``calls.talk_through_unchecked_technologies`` means: for a technology named
    there payivr does not read the caller's DTMF mode (the operator vouches for it, e.g. a
    queue's Local channels in front of RFC 4733 trunks). On the simulator the caller's PJSIP
    phone even sends tones in band, and talk-through starts all the same: name only the
    technologies whose mode payivr cannot read (on a real Asterisk, the Local callers)."""
    system = vouched_for
    caller, agent = system.phones()
    if isinstance(caller, SimulatedPhone):
        caller.sim_phone.dtmf_mode = "inband"
    await system.target.connect(caller, agent)
    status, body = await _ask(system, agent, "talk-through")
    assert status == 201, body
    await system.hang_up_all(caller, agent)
