"""Outbound collection calls end to end, through the console's API, on both targets.

The agent's phone (PJSIP/1001) rings first; once answered payivr dials the customer's number
through its ``[outbound] trunk`` (the target's: ``PJSIP/{number}@trunk`` on the simulator, a
Local-channel trunk on a real Asterisk), runs AMD() in the dialplan and bridges them; the
payment then runs as on any call. Busy, no answer, unreachable, voicemail, outside calling
hours, the agent hanging up first, the agent not answering: each stored and shown.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from payivr.cli import running_payivr
from payivr.config import OutboundSettings
from payivr.console.accounts import add_agent, add_api_token
from payivr.gateway.sandbox import KeyFiles
from payivr.outbound.store import CallOutcome
from tests.e2e.harness import (
    CrmInbox,
    System,
    key_card,
    payment_events,
    start_test_sandbox,
    system_config,
)
from tests.e2e.phones import Phone, SimulatedPhone
from tests.e2e.targets import BRIDGE_PREFIX, Target

NUMBER = "+15550100"
NIGHT = "03:00-04:00"


def _closed_zone() -> str:
    """A time zone where it is not 03:00-04:00 now (the 'night' campaign is closed there)."""
    for name in ("UTC", "Asia/Tokyo"):
        if datetime.now(UTC).astimezone(ZoneInfo(name)).hour != 3:
            return name
    raise AssertionError("unreachable: the two zones are 9 hours apart")


@dataclasses.dataclass
class Desk:
    """The system, the agent's phone and the agent's API token."""

    system: System
    agent: Phone
    http: aiohttp.ClientSession

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, path, json=body) as response:
            return response.status, await response.json()

    async def place(self, **changes: Any) -> dict[str, Any]:
        body = {
            "number": NUMBER,
            "campaign": "collections",
            "timezone": "America/New_York",
            "item": "Overdue invoice",
            "amount": "137.42",
            **changes,
        }
        status, call = await self.api("POST", "/api/v1/outbound-calls", body)
        assert status == 201, call
        return dict(call)

    async def ended(self, call: dict[str, Any], within: float = 10) -> dict[str, Any]:
        await self.system.wait_event(
            lambda e: (
                e["type"] == "outbound" and e["outbound"] == call["id"] and e["status"] == "ended"
            ),
            within,
        )
        status, stored = await self.api("GET", call["status_url"])
        assert status == 200
        return dict(stored)

    def customer(self, answers: str | None = "person") -> Phone:
        """The customer at NUMBER: answers as a ``person``, a ``machine``, or rings (None)."""
        return self.system.target.trunk_phone("customer", NUMBER, answers)

    async def check_nothing_left(self) -> None:
        target = self.system.target

        async def clean() -> bool:
            channels = await target.stasis_channels()
            bridges = [b for b in await target.bridges() if b.id.startswith(BRIDGE_PREFIX)]
            return not channels and not bridges

        await self.system.wait_until(clean, within=5)
        await self.system.wait_until(
            lambda: self.agent.leg is None and not self.agent.ringing, within=5
        )
        assert not self.system.running.stasis.sessions


def heard_no_voice(phone: Phone) -> bool:
    """Nobody spoke to ``phone`` (the simulator's phones hear voices; on a real Asterisk a
    phone never bridged to another shows it by its call)."""
    return not isinstance(phone, SimulatedPhone) or phone.sim_phone.heard_voices == []


@pytest.fixture
async def desk(
    target: Target,
    database_url: str,
    gateway_keys: KeyFiles,
    crm_inbox: CrmInbox,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Desk]:
    """payivr with outbound calls on the target's trunk, and alice's phone (``agent_answers``
    False: a phone that rings on)."""
    options = dict(getattr(request, "param", {}))
    agent_answers = options.pop("agent_answers", True)
    sandbox = await start_test_sandbox(gateway_keys)
    config = system_config(target.access, database_url, sandbox, gateway_keys, crm_inbox)
    config.outbound = OutboundSettings(
        enabled=True,
        trunk=target.trunk,
        agent_ring_seconds=20,
        customer_ring_seconds=30,
        campaigns=(
            "collections | Acme Collections <+15550199> | 00:00-24:00 | daily",
            f"night | +15550198 | {NIGHT} | daily",
        ),
        **options,
    )
    config.validate()
    try:
        async with running_payivr(config) as running:
            events = payment_events(running)
            await asyncio.wait_for(running.events.connected.wait(), 10)
            agent = target.agent_phone("agent", "1001", agent_answers)
            await add_agent(running.database, "alice", agent.endpoint, "agent", "correct horse 1")
            token = await add_api_token(running.database, "alice", "crm")
            system = System(target, running, sandbox, crm_inbox, config, events)
            async with aiohttp.ClientSession(
                running.console_url, headers={"Authorization": f"Bearer {token}"}
            ) as http:
                yield Desk(system, agent, http)
    finally:
        await sandbox.close()


async def test_answered_by_a_person_then_paid_like_any_call(desk: Desk) -> None:
    customer = desk.customer()
    call = await desk.place()
    assert (call["status"], call["campaign"], call["amount"]) == (
        "ringing-agent",
        "collections",
        "137.42 USD",
    )
    await desk.system.wait_event(
        lambda e: e["type"] == "outbound" and e["status"] == "connected", within=10
    )
    # The customer saw the campaign's caller ID; the agent's phone showed the customer.
    assert customer.caller_number == "+15550199"
    assert desk.agent.caller_number == NUMBER
    await desk.system.wait_bridged(customer, desk.agent)
    bridge = next(b for b in await desk.system.target.bridges() if customer.leg in b.channels)
    assert bridge.types is None or {"mixing", "dtmf_events"} <= bridge.types

    status, started = await desk.api(
        "POST",
        "/api/v1/payments",
        {"call": "current", "item": "Overdue invoice", "amount": "137.42"},
    )
    assert status == 201, started
    assert started["call"] == call["call"]
    await key_card(customer)
    finished = await desk.system.finished()
    assert (finished["payment"], finished["outcome"]) == (started["payment"], "approved")
    assert desk.agent.received_dtmf == ""
    payment = await desk.system.running.store.get_payment(uuid.UUID(started["payment"]))
    assert payment.entry_kind.value == "outbound"
    assert payment.caller_number == NUMBER
    activity = await desk.system.crm_activity(started["payment"])
    assert activity["Payment Status"] == "Success"
    await desk.system.wait_bridged(customer, desk.agent)  # talking again

    await customer.hangup()
    stored = await desk.ended(call)
    assert (stored["outcome"], stored["amd_status"], stored["dial_status"]) == (
        "answered",
        "HUMAN",
        "ANSWER",
    )
    assert stored["payments"] == [started["payment"]]
    assert stored["answered_at"] and stored["ended_at"]
    statuses = [
        e["status"]
        for e in desk.system.events
        if e["type"] == "outbound" and e["outbound"] == call["id"]
    ]
    assert statuses == ["ringing-agent", "ringing-customer", "detecting", "connected", "ended"]
    await desk.check_nothing_left()


@pytest.mark.parametrize(
    ("sip_status", "outcome", "cause"),
    [
        (486, CallOutcome.BUSY, 17),
        (603, CallOutcome.BUSY, 21),
        (404, CallOutcome.UNREACHABLE, 1),
        (502, CallOutcome.UNREACHABLE, 27),
        (503, CallOutcome.UNREACHABLE, 34),
    ],
)
async def test_a_refused_call_is_busy_or_unreachable_by_its_cause(
    desk: Desk, sip_status: int, outcome: CallOutcome, cause: int
) -> None:
    customer = desk.customer(answers=None)
    call = await desk.place()
    await customer.wait_for(lambda p: p.ringing, within=5)
    await customer.refuse(sip_status)
    stored = await desk.ended(call)
    assert (stored["outcome"], stored["hangup_cause"]) == (outcome.value, cause)
    assert stored["answered_at"] is None
    shown = next(
        e for e in desk.system.events if e["type"] == "outbound" and e["status"] == "ended"
    )
    assert shown["outcome"] == outcome.value and shown["detail"]
    await desk.check_nothing_left()


async def test_no_answer_ends_at_the_ring_timeout(desk: Desk) -> None:
    customer = desk.customer(answers=None)
    call = await desk.place()
    await customer.wait_for(lambda p: p.ringing, within=5)
    stored = await desk.ended(call)
    # At the dial timeout Asterisk publishes no last Dial status (after RINGING): none stored.
    assert (stored["outcome"], stored["hangup_cause"], stored["dial_status"]) == (
        "no-answer",
        19,
        None,
    )
    assert not customer.ringing
    await desk.check_nothing_left()


async def test_an_answering_machine_is_voicemail_and_the_agent_is_not_connected(
    desk: Desk,
) -> None:
    customer = desk.customer(answers="machine")
    call = await desk.place()
    stored = await desk.ended(call)
    assert (stored["outcome"], stored["amd_status"], stored["amd_cause"]) == (
        "voicemail",
        "MACHINE",
        "LONGGREETING-1500-1500",
    )
    assert not any(e["type"] == "call_started" for e in desk.system.events)
    assert heard_no_voice(customer) and heard_no_voice(desk.agent)
    await desk.check_nothing_left()


@pytest.mark.parametrize("desk", [{"detect_machines": False}], indirect=True)
async def test_without_detection_the_answered_customer_is_connected_at_once(desk: Desk) -> None:
    customer = desk.customer(answers="machine")
    call = await desk.place()
    await desk.system.wait_event(lambda e: e["type"] == "outbound" and e["status"] == "connected")
    await desk.system.wait_bridged(customer, desk.agent)
    await desk.agent.hangup()
    stored = await desk.ended(call)
    assert (stored["outcome"], stored["amd_status"]) == ("answered", None)
    await desk.check_nothing_left()


async def test_outside_calling_hours_nothing_is_dialled(desk: Desk) -> None:
    customer = desk.customer()
    zone = _closed_zone()
    status, body = await desk.api(
        "POST", "/api/v1/outbound-calls", {"number": NUMBER, "campaign": "night", "timezone": zone}
    )
    assert status == 409
    assert body["error"]["code"] == "outside_calling_hours"
    assert f"calls {NIGHT} daily in the customer's time" in body["error"]["message"]
    assert zone in body["error"]["message"]
    await asyncio.sleep(0.2)
    assert desk.agent.leg is None and customer.leg is None
    status, listed = await desk.api("GET", "/api/v1/outbound-calls")
    assert (status, listed["outbound_calls"]) == (200, [])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"number": "5550100"}, "E.164"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"amount": "-3"}, "cannot be negative"),
        ({"item": "card 4242424242424242"}, "7 or more digits"),
    ],
)
async def test_bad_requests_are_refused_with_a_reason(
    desk: Desk, body: dict[str, str], message: str
) -> None:
    request = {"number": NUMBER, "campaign": "collections", "timezone": "UTC", **body}
    status, answer = await desk.api("POST", "/api/v1/outbound-calls", request)
    assert status == 422 and message in answer["error"]["message"]
    status, answer = await desk.api(
        "POST", "/api/v1/outbound-calls", {"number": NUMBER, "campaign": "nope", "timezone": "UTC"}
    )
    assert status == 409 and "collections, night" in answer["error"]["message"]


async def test_the_agent_hanging_up_first_cancels_the_customers_call(desk: Desk) -> None:
    customer = desk.customer(answers=None)
    call = await desk.place()
    await customer.wait_for(lambda p: p.ringing, within=5)
    await desk.agent.wait_for(lambda p: p.leg is not None)
    await desk.agent.hangup()
    stored = await desk.ended(call)
    assert stored["outcome"] == "cancelled"
    assert stored["detail"] == "you hung up before the customer answered"
    await customer.wait_for(lambda p: not p.ringing and p.leg is None, within=5)
    await desk.check_nothing_left()


async def test_the_agent_cancels_in_the_console_while_the_customer_rings(desk: Desk) -> None:
    customer = desk.customer(answers=None)
    call = await desk.place()
    await customer.wait_for(lambda p: p.ringing, within=5)
    status, answer = await desk.api("POST", f"{call['status_url']}/cancel")
    assert (status, answer["cancelling"]) == (202, True)
    stored = await desk.ended(call)
    assert stored["outcome"] == "cancelled"
    await customer.wait_for(lambda p: p.leg is None, within=5)
    status, answer = await desk.api("POST", f"{call['status_url']}/cancel")
    assert (status, answer["error"]["code"]) == (409, "not_ringing")
    await desk.check_nothing_left()


@pytest.mark.parametrize("desk", [{"agent_answers": False}], indirect=True)
async def test_the_agents_phone_not_answering_never_rings_the_customer(desk: Desk) -> None:
    customer = desk.customer()
    call = await desk.place()
    await desk.agent.wait_for(lambda p: p.ringing)
    stored = await desk.ended(call)
    assert stored["outcome"] == "agent-unavailable"
    assert customer.leg is None
    assert not any(
        e["type"] == "outbound" and e["status"] == "ringing-customer" for e in desk.system.events
    )
    await desk.check_nothing_left()


async def test_a_second_call_while_on_one_is_refused_and_other_agents_calls_are_hidden(
    desk: Desk,
) -> None:
    desk.customer(answers=None)
    call = await desk.place()
    status, answer = await desk.api(
        "POST",
        "/api/v1/outbound-calls",
        {"number": "+15550101", "campaign": "collections", "timezone": "UTC"},
    )
    assert (status, answer["error"]["code"]) == (409, "outbound_refused")
    db = desk.system.running.database
    await add_agent(db, "bob", "PJSIP/1002", "agent", "correct horse 2")
    token = await add_api_token(db, "bob", "crm")
    async with aiohttp.ClientSession(
        desk.system.running.console_url, headers={"Authorization": f"Bearer {token}"}
    ) as bob:
        async with bob.get(call["status_url"]) as response:
            assert response.status == 404
        async with bob.get("/api/v1/outbound-calls") as response:
            assert (await response.json())["outbound_calls"] == []
    await desk.api("POST", f"{call['status_url']}/cancel")
    await desk.ended(call)
