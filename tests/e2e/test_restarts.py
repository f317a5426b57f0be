"""payivr killed with SIGKILL in every state of a payment, then started again (issue 8 §1).

payivr runs as its own process (``payivr serve``) against the target (the simulators or a real
Asterisk), the sandbox gateway and the test database; the agent asks for the payment from the console, the caller keys on
a simulated phone, and the process is killed with SIGKILL at each step. At the next start
the payment ends from what the database and the gateway say (never charged twice, never
left unfinished), and the call that was left in Stasis is taken back: caller and agent talk
again, the agent no longer on hold, and a new payment can be asked for on the same call.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import psycopg
import pytest

from payivr.calls.recovery import RESTARTED_BEFORE_CHARGING
from payivr.console.accounts import add_agent
from payivr.gateway import wire
from payivr.gateway.sandbox import KeyFiles, RunningSandbox
from payivr.store import Database
from tests.e2e.harness import (
    VISA,
    CrmInbox,
    answer_prompt,
    heard,
    key_card,
    key_until,
    start_test_sandbox,
    system_environment,
)
from tests.e2e.phones import Phone, prompts, real_seconds
from tests.e2e.targets import SimulatorTarget, Target

PASSWORD = "restart-test-password-1"
T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], within: float) -> T:
    """Poll ``check`` until it returns something truthy; return that."""
    async with asyncio.timeout(within):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PayivrProcess:
    """``payivr serve`` in a process of its own, started again after each kill."""

    def __init__(self, environment: dict[str, str], log_file: Path) -> None:
        self.environment = environment
        self.log_file = log_file
        self.console_url = f"http://{environment['PAYIVR_CONSOLE_LISTEN']}"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        executable = Path(sys.executable).with_name("payivr")
        with self.log_file.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                str(executable),
                "serve",
                env={**os.environ, **self.environment},
                stdout=log,
                stderr=log,
            )
        async with aiohttp.ClientSession() as session, asyncio.timeout(30):
            while True:
                assert self.process.returncode is None, self.log_file.read_text()[-3000:]
                try:
                    async with session.get(f"{self.console_url}/healthz") as answer:
                        if answer.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


class Agent:
    """The agent's console, signed in over HTTP."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.csrf = ""

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        # A new session each time: the process behind the URL is killed and started again.
        async with aiohttp.ClientSession(
            base_url=self.url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as session:
            async with session.post(
                "/api/v1/login", json={"name": self.name, "password": PASSWORD}
            ) as login:
                assert login.status == 200, await login.text()
                csrf = (await login.json())["csrf_token"]
            async with session.request(
                method, path, json=body, headers={"X-CSRF-Token": csrf}
            ) as answer:
                return answer.status, await answer.json()

    async def request_payment(self) -> str:
        body = {"item": "Annual plan", "amount": "137.42", "privacy_mode": "hold"}
        status, answer = await self.call("POST", "/api/v1/payments", body)
        assert status == 201, answer
        payment: str = answer["payment"]
        return payment


@dataclass
class Restartable:
    target: Target
    payivr: PayivrProcess
    sandbox: RunningSandbox
    database_url: str
    caller: Phone
    agent_phone: Phone
    agent: Agent

    def seconds(self, within: float) -> float:
        """A wait of ``within`` real seconds, plus call audio at the target's time scale."""
        return real_seconds(within, self.target.time_scale)

    async def payment(self, payment_id: str) -> dict[str, Any]:
        async with await psycopg.AsyncConnection.connect(self.database_url) as conn:
            cursor = conn.cursor(row_factory=psycopg.rows.dict_row)
            await cursor.execute("SELECT * FROM payments WHERE id = %s", (payment_id,))
            row = await cursor.fetchone()
        assert row is not None
        return row

    async def wait_for_payment(
        self, payment_id: str, check: Callable[[dict[str, Any]], bool], within: float = 15
    ) -> dict[str, Any]:
        async def checked() -> dict[str, Any] | None:
            row = await self.payment(payment_id)
            return row if check(row) else None

        return await eventually(checked, self.seconds(within))

    async def talking_again(self, within: float = 10) -> None:
        """Caller and agent in one payivr bridge, the agent's music and mute gone."""
        await eventually(self._talking, self.seconds(within))

    async def nothing_in_stasis(self) -> None:
        async def empty() -> bool:
            return not await self.target.stasis_channels()

        await eventually(empty, self.seconds(10))

    async def _talking(self) -> bool:
        caller, agent = self.caller.leg, self.agent_phone.leg
        if caller is None or agent is None:
            return False
        for bridge in await self.target.bridges():
            if {caller, agent} <= bridge.channels and bridge.id.startswith("payivr-"):
                if not isinstance(self.target, SimulatorTarget):
                    return True  # ARI shows neither music on hold nor mutes
                channel = self.target.sim.channels.get(agent)
                return (
                    channel is not None
                    and channel.moh_class is None
                    and not channel.silence
                    and not (channel.muted_in or channel.muted_out)
                )
        return False


@pytest.fixture
async def restartable(
    target: Target,
    database_url: str,
    gateway_keys: KeyFiles,
    crm_inbox: CrmInbox,
    tmp_path: Path,
) -> AsyncIterator[Restartable]:
    sandbox = await start_test_sandbox(gateway_keys)
    environment = system_environment(target.access, database_url, sandbox, gateway_keys, crm_inbox)
    environment["PAYIVR_CONSOLE_LISTEN"] = f"127.0.0.1:{free_port()}"
    environment["PAYIVR_LOG_LEVEL"] = "INFO"
    environment["PAYIVR_CALLS_RECONCILE_INTERVAL"] = "0.5"
    caller = target.caller_phone("caller", "1102")
    agent_phone = target.agent_phone("agent", "1101")
    db = await Database.connect(database_url, max_size=1, migrate=False)
    try:
        await add_agent(db, "alice", agent_phone.endpoint, "agent", PASSWORD)
    finally:
        await db.close()
    payivr = PayivrProcess(environment, tmp_path / "payivr.log")
    await payivr.start()
    try:
        yield Restartable(
            target,
            payivr,
            sandbox,
            database_url,
            caller,
            agent_phone,
            Agent(payivr.console_url, "alice"),
        )
    finally:
        await payivr.stop()
        await sandbox.close()


async def card_read_back(caller: Phone) -> None:
    await answer_prompt(caller, "confirm-amount", "1")
    await answer_prompt(caller, "enter-card-number", VISA + "#")
    await heard(caller, "card-ending-in")


# The HANGUP_POINTS before the charge (mid-entry: some keys in), and
# the card number's read-back.
BEFORE_CHARGING: dict[str, Callable[[Phone], Awaitable[None]]] = {
    **{
        point: functools.partial(key_until, point=point)
        for point in ("amount", "card-number", "expiry", "security-code", "postal-code")
    },
    "card-read-back": card_read_back,
}


async def start_payment(system: Restartable) -> str:
    await system.target.connect(system.caller, system.agent_phone)
    payment_id = await system.agent.request_payment()
    await heard(system.caller, "confirm-amount")
    return payment_id


async def pay_again_on_the_same_call(system: Restartable) -> None:
    """The call was taken back: the agent asks again and the caller pays."""
    heard_before = len(prompts(system.caller))
    payment_id = await system.agent.request_payment()
    await system.caller.wait_for(lambda p: "confirm-amount" in prompts(p)[heard_before:], within=10)
    await key_card(system.caller)
    row = await system.wait_for_payment(payment_id, lambda r: r["state"] == "finished")
    assert row["outcome"] == "approved"
    await system.talking_again()


@pytest.mark.parametrize("state", list(BEFORE_CHARGING))
async def test_killed_before_charging(restartable: Restartable, state: str) -> None:
    system = restartable
    payment_id = await start_payment(system)
    await BEFORE_CHARGING[state](system.caller)
    await system.payivr.kill()
    await system.payivr.start()
    row = await system.wait_for_payment(payment_id, lambda r: r["state"] == "finished")
    assert (row["outcome"], row["reason"]) == ("cancelled", RESTARTED_BEFORE_CHARGING)
    assert system.sandbox.processor.ledger.charges(payment_id) == 0
    await system.talking_again()
    if state == "card-read-back":
        await pay_again_on_the_same_call(system)
    await system.caller.hangup()
    await system.nothing_in_stasis()


async def test_killed_while_the_gateway_charges(restartable: Restartable) -> None:
    """The charge is on its way: the gateway is asked until it says (processing, then
    approved); the payment is approved once, charged once."""
    system = restartable
    system.sandbox.faults.latency = 1.5
    payment_id = await start_payment(system)
    await key_card(system.caller)

    async def sale_received() -> bool:
        status = await system.sandbox.processor.handle(
            "GET", wire.status_path(payment_id), None, None
        )
        return status.status != 404

    await eventually(sale_received, system.seconds(10))  # and held there for 1.5 s
    await system.payivr.kill()
    await system.payivr.start()
    row = await system.wait_for_payment(payment_id, lambda r: r["state"] == "finished")
    assert row["outcome"] == "approved" and row["gateway_reference"]
    assert system.sandbox.processor.ledger.charges(payment_id) == 1
    await system.talking_again()
    await system.caller.hangup()


async def test_killed_while_the_approval_is_announced(restartable: Restartable) -> None:
    system = restartable
    payment_id = await start_payment(system)
    await key_card(system.caller)
    await heard(system.caller, "payment-approved")
    await system.payivr.kill()
    await system.payivr.start()
    row = await system.wait_for_payment(payment_id, lambda r: r["state"] == "finished")
    assert row["outcome"] == "approved"
    assert system.sandbox.processor.ledger.charges(payment_id) == 1
    await system.talking_again()
    await system.caller.hangup()


async def test_killed_twice_the_outcome_is_recorded_once(restartable: Restartable) -> None:
    """Killed, started, killed and started again: the call is taken back each time, the
    payment's outcome and its audit event are written once."""
    system = restartable
    payment_id = await start_payment(system)
    await system.payivr.kill()
    await system.payivr.start()
    await system.wait_for_payment(payment_id, lambda r: r["state"] == "finished")
    await system.talking_again()
    await system.payivr.kill()
    await system.payivr.start()
    await system.talking_again()
    async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM audit_events WHERE action = 'payment.recovered'"
            " AND payment_id = %s",
            (payment_id,),
        )
        assert await cursor.fetchone() == (1,)
    await system.caller.hangup()
    await system.nothing_in_stasis()


async def test_killed_during_a_warm_transfer_the_dialplan_calls_the_agent_back(
    restartable: Restartable,
) -> None:
    """The caller pays alone (the agent blind-transferred them): nothing pairs the leg with an
    agent in Stasis, so the restarted payivr hands it back to the dialplan, which apologises
    and dials the transferring agent, as it does whenever payivr cannot take a call."""
    system = restartable
    await system.target.call_entry(system.caller, "transfer", system.agent_phone)
    await answer_prompt(system.caller, "confirm-amount", "1")
    await answer_prompt(system.caller, "enter-card-number", VISA[:6])
    await system.payivr.kill()
    await system.payivr.start()
    await heard(system.caller, "payments-unavailable")

    async def talking_through_the_dialplan() -> bool:
        caller, agent = system.caller.leg, system.agent_phone.leg
        return any(
            caller is not None and agent is not None and {caller, agent} <= bridge.channels
            for bridge in await system.target.bridges()
        )

    await eventually(talking_through_the_dialplan, system.seconds(15))

    async def settled() -> list[tuple[Any, ...]] | None:
        async with await psycopg.AsyncConnection.connect(system.database_url) as conn:
            cursor = await conn.execute("SELECT outcome, reason FROM payments")
            rows = await cursor.fetchall()
        return rows if rows and all(row[0] is not None for row in rows) else None

    assert await eventually(settled, system.seconds(15)) == [("cancelled", RESTARTED_BEFORE_CHARGING)]
    await system.caller.hangup()
    await system.nothing_in_stasis()
