"""The maximum amount holds for every way in (issue 13.4): each attack goes through a public
interface (the agent's keypad and Asterisk's AMI, a transferred call, the console's HTTP API)
with an amount over ``flow.max_amount_minor`` and starts no payment."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from payivr.console.accounts import add_api_token
from tests.e2e.harness import System, heard
from tests.e2e.targets import SimulatorTarget

MAX_AMOUNT_MINOR = 10_000  # 100.00 USD; the test dialplan's transfer asks 137.42


@pytest.fixture
def flow_settings() -> dict[str, Any]:
    return {"max_amount_minor": MAX_AMOUNT_MINOR}


@pytest.fixture
def fastagi_enabled() -> bool:
    return True


async def _payments(system: System) -> int:
    async with system.running.database.pool.connection() as conn:
        cursor = await conn.execute("SELECT count(*) FROM payments")
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_attack_star7_with_an_amount_over_the_maximum_takes_nothing_over(
    system: System,
) -> None:
    if isinstance(system.target, SimulatorTarget):
        # The suite's *7 sends no amount (the console asks); the shipped extensions.conf
        # waits 3 s for the agent's amount, as here.
        system.target.pbx.setvar(None, "PAYIVR_AMOUNT_TIMEOUT", "3")
    caller, agent = system.phones()
    await system.agent_account(agent)
    await system.target.connect(caller, agent)
    await agent.press("*7")
    await agent.wait_for(lambda phone: any("beep" in sound for sound in phone.heard), within=15)
    await agent.press("99999999#")
    # Then one within the maximum: AMI events are handled in order, so once this payment
    # starts the first request has been answered, and it started nothing.
    await agent.press("*7")
    await agent.wait_for(lambda phone: sum("beep" in sound for sound in phone.heard) == 2, within=15)
    await agent.press("5000#")
    await system.wait_event(lambda e: e["type"] == "payment_started", within=20)
    async with system.running.database.pool.connection() as conn:
        cursor = await conn.execute("SELECT amount_minor FROM payments")
        assert await cursor.fetchall() == [(5000,)]
    await system.hang_up_all(caller, agent)


async def test_attack_a_transfer_over_the_maximum_is_refused(system: System) -> None:
    caller, agent = system.phones()
    await system.target.call_entry(caller, "transfer", agent)
    await heard(caller, "request-not-understood")
    assert await _payments(system) == 0
    assert await system.target.stasis_channels() == []
    await system.hang_up_all(caller)


async def test_attack_the_console_in_another_currency_is_capped_too(system: System) -> None:
    caller, agent = system.phones()
    await system.target.connect(caller, agent)
    agent_name = await system.agent_account(agent)  # the operator's account on the phone
    token = await add_api_token(system.running.database, agent_name, "attack")
    async with aiohttp.ClientSession(
        system.running.console_url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        for currency, amount in (("EUR", "100.01"), ("JPY", "10001")):
            body = {"item": "Plan", "amount": amount, "currency": currency}
            async with http.post("/api/v1/payments", json=body) as answer:
                assert answer.status == 422
                assert "over the maximum" in (await answer.json())["error"]["message"]
    assert await _payments(system) == 0
    assert await system.bridged(caller, agent)
    await system.hang_up_all(caller, agent)


async def _agi_pay(system: System, agent_channel: str, caller_channel: str, amount: str) -> None:
    """What ``AGI(agi://payivr/pay,${BRIDGEPEER},<amount>)`` sends from the agent's channel."""
    assert system.running.fastagi is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", system.running.fastagi.port)
    headers = [
        "agi_network: yes",
        "agi_network_script: pay",
        "agi_request: agi://payivr/pay",
        f"agi_channel: {agent_channel}",
        f"agi_arg_1: {caller_channel}",
        f"agi_arg_2: {amount}",
    ]
    writer.write(("\n".join(headers) + "\n\n").encode())
    await asyncio.wait_for(reader.read(), 10)  # payivr ends the session, then acts
    writer.close()


async def test_attack_fastagi_with_an_amount_over_the_maximum_takes_nothing_over(
    system: System,
) -> None:
    caller, agent = system.phones()
    await system.agent_account(agent)
    await system.target.connect(caller, agent)
    assert system.running.ami is not None
    call = await system.running.ami.find_call(agent.endpoint)  # the channels' names
    assert call is not None
    await _agi_pay(system, call.agent.name, call.peer.name, "99999999")
    # Then one within the maximum: once it starts, the first request was answered already.
    await _agi_pay(system, call.agent.name, call.peer.name, "5000")
    await system.wait_event(lambda e: e["type"] == "payment_started", within=20)
    async with system.running.database.pool.connection() as conn:
        cursor = await conn.execute("SELECT amount_minor FROM payments")
        assert await cursor.fetchall() == [(5000,)]
    await system.hang_up_all(caller, agent)
