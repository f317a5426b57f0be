"""Card data never leaks (issue 8 §3): one run, every test card, every entry, both privacy
modes, everything captured and scanned.

Sixteen payments run at once in one payivr (ARI + AMI simulators, TLS sandbox gateway,
PostgreSQL, CRM receiver), logging at DEBUG: every test card of DESIGN.md (eight approved,
seven declined, one failing Luhn three times), spread so that every entry and privacy mode
(``*7`` + console request, console request alone, inbound, each on hold and talk-through;
pay line; warm transfer) gets an approved and a failed card. Agents request the payments
through the console API; they and a supervisor follow them over the WebSocket and read the
status, the history and the audit trail.

Then everything payivr wrote or sent (see :mod:`tests.evidence.capture`) is scanned
(:mod:`tests.evidence.cardscan`): no PAN, no 7-digit run of one, no expiry, no security code
next to its name, anywhere, except inside the encrypted card token sent to the gateway,
which is decrypted here to prove the card went there and only there.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from payivr.console.accounts import add_agent
from tests.e2e.harness import ENTRY_MODES, ITEM, Call, answer_prompt, heard, heard_again
from tests.e2e.phones import Phone, prompts
from tests.evidence.capture import ConsoleClient
from tests.evidence.cardscan import KeyedCard, find_card_data, scan
from tests.evidence.conftest import Evidence

EXPIRY = "0931"  # September 2031
POSTAL_CODE = "90210"
PASSWORD = "a long enough evidence password 7"

APPROVED = [
    "4242424242424242",
    "5555555555554444",
    "2223003122003222",
    "378282246310005",
    "6011111111111117",
    "36227206271667",
    "3566002020360505",
    "6200000000000005",
]
DECLINED = [
    "4000000000000002",
    "4000000000009995",
    "4000000000009987",
    "4000000000009979",
    "4000000000000069",
    "4000000000000127",
    "4000000000000119",
]
LUHN_FAILURE = "4242424242424241"


def security_code(pan: str) -> str:
    return "4817" if pan.startswith(("34", "37")) else "481"


CARDS = [KeyedCard(pan, EXPIRY, security_code(pan)) for pan in [*APPROVED, *DECLINED, LUHN_FAILURE]]
MODES = list(ENTRY_MODES)  # eight: cards i and i + 8 use mode i


async def key_whole_card(caller: Phone, card: KeyedCard) -> None:
    amex = len(card.security_code) == 4
    await answer_prompt(caller, "confirm-amount", "1")
    await answer_prompt(caller, "enter-card-number", card.pan + "#")
    # a patient caller: the read-backs are heard to the end (what payivr says is captured)
    await caller.wait_for(lambda p: f"digits:{card.pan[-4:]}" in p.heard, within=10)
    await caller.press("1", duration_ms=80)
    await answer_prompt(caller, "enter-expiry", card.expiry)
    await caller.wait_for(lambda p: f"number:20{card.expiry[2:]}" in p.heard, within=10)
    await caller.press("1", duration_ms=80)
    await answer_prompt(
        caller, "enter-security-code-amex" if amex else "enter-security-code", card.security_code
    )
    await answer_prompt(caller, "security-code-entered", "1")
    await answer_prompt(caller, "enter-postal-code", POSTAL_CODE + "#")
    await answer_prompt(caller, "postal-code-is", "1")


async def key_failing_card(caller: Phone, card: KeyedCard) -> None:
    await answer_prompt(caller, "confirm-amount", "1")
    for attempt in range(1, 4):
        await heard_again(caller, "enter-card-number", attempt)
        await caller.press(card.pan + "#", duration_ms=80, gap_ms=120)


class Run:
    """The sixteen payments and the people watching them."""

    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence
        self.system = evidence.system
        self.url = self.system.running.console_url
        self.agents: dict[int, ConsoleClient] = {}
        self.supervisor = ConsoleClient(self.url, evidence.capture, "sam")
        self.payments: dict[int, str] = {}

    async def sign_in_everyone(self) -> None:
        db = self.system.running.database
        await add_agent(db, "sam", None, "supervisor", PASSWORD)
        await self.supervisor.sign_in(PASSWORD)
        await self.supervisor.subscribe()
        for index, mode in enumerate(MODES * 2):
            endpoint = f"PJSIP/{1000 + 100 * (index + 1) + 1}"  # System.phones(index)'s agent
            name = f"agent{index}"
            await add_agent(db, name, endpoint, "agent", PASSWORD)
            if ENTRY_MODES[mode][0] in ("takeover", "inbound"):
                client = ConsoleClient(self.url, self.evidence.capture, name)
                await client.sign_in(PASSWORD)
                await client.subscribe()
                self.agents[index] = client

    async def request_from_console(self, index: int, privacy: str) -> str:
        client = self.agents[index]
        body = {"item": ITEM, "amount": "137.42", "privacy_mode": privacy}
        status, answer = await client.call("POST", "/api/v1/payments", body)
        assert status == 201, answer
        payment: str = answer["payment"]
        return payment

    async def start(self, index: int, mode: str) -> Call:
        entry, privacy = ENTRY_MODES[mode]
        system = self.system
        caller, agent = system.phones(index)
        call = Call(mode, caller, None if entry == "payline" else agent)
        if mode.startswith("star7"):
            await system.target.connect(caller, agent)
            # Both keys at once: at 50x speed the feature-digit timeout is 20 ms, which a
            # busy loop (16 calls, DEBUG logging) can overrun between two presses.
            sim = self.evidence.sim_target.sim
            for key in "*7":
                sim.engine.dtmf.device_dtmf(sim.find_channel(agent.leg or ""), key, 100)
            await system.wait_event(
                lambda e: e["type"] == "call_started" and e["agent"] == f"agent{index}"
            )
            call.payment_id = await self.request_from_console(index, privacy)
        elif mode.startswith("console"):
            await system.target.connect(caller, agent)
            call.payment_id = await self.request_from_console(index, privacy)
        elif entry == "inbound":
            await system.target.call_entry(caller, "inbound", agent)
            await system.wait_bridged(caller, agent)
            call.payment_id = await self.request_from_console(index, privacy)
        else:
            await system.target.call_entry(caller, entry, agent if entry == "transfer" else None)
        return call

    async def pay(self, index: int, mode: str, card: KeyedCard) -> Call:
        call = await self.start(index, mode)
        poller = asyncio.create_task(self.follow(index, call))
        play: Callable[[Phone, KeyedCard], Awaitable[None]] = (
            key_failing_card if card.pan == LUHN_FAILURE else key_whole_card
        )
        await play(call.caller, card)
        await heard(call.caller, "returning-to-agent" if call.agent else "goodbye", within=20)
        poller.cancel()
        return call

    async def follow(self, index: int, call: Call) -> None:
        """The agent's screen polls its payment's status while the caller keys."""
        client = self.agents.get(index)
        while client is not None and call.payment_id:
            await client.call("GET", f"/api/v1/payments/{call.payment_id}")
            await client.call("GET", "/api/v1/calls/current")
            await asyncio.sleep(0.05)

    async def read_everything(self, payment_ids: list[str]) -> None:
        """What an agent, a supervisor and a monitoring system can read afterwards."""
        for client in self.agents.values():
            for path in (
                "/api/v1/me",
                "/api/v1/calls",
                "/api/v1/calls/current",
                "/api/v1/payments",
                "/api/v1/reports/payments",
                "/api/v1/reports/payments.csv",
            ):
                await client.call("GET", path)
        for path in (
            "/api/v1/payments?limit=500",
            "/api/v1/reports/payments",
            "/api/v1/reports/payments.csv",
            "/api/v1/reports/payments.csv?outcome=not_approved",
            "/api/v1/audit?limit=500",
            "/api/v1/calls",
            "/api/v1/me",
            "/healthz",
            "/metrics",
            "/",
        ):
            await self.supervisor.call("GET", path)
        for payment_id in payment_ids:
            status, _ = await self.supervisor.call("GET", f"/api/v1/payments/{payment_id}")
            assert status == 200

    async def close(self) -> None:
        for client in [*self.agents.values(), self.supervisor]:
            await client.close()


# A declined card ends its payment here (each is keyed once); another try after a decline
# goes through the same edges and is tested in tests/e2e/test_second_chances.py.
@pytest.mark.parametrize("flow_settings", [{"decline_retries": 0}])
async def test_no_card_data_anywhere(evidence: Evidence, flow_settings: dict[str, Any]) -> None:
    system, capture = evidence.system, evidence.capture
    run = Run(evidence)
    await run.sign_in_everyone()
    try:
        calls = await asyncio.gather(
            *(run.pay(index, MODES[index % len(MODES)], card) for index, card in enumerate(CARDS))
        )
        finished = await system.wait_event(
            lambda _: sum(e["type"] == "payment_finished" for e in system.events) == len(CARDS),
            within=20,
        )
        assert finished
        payment_ids = [e["payment"] for e in system.events if e["type"] == "payment_finished"]
        outcomes = Counter(e["outcome"] for e in system.events if e["type"] == "payment_finished")
        assert outcomes == {
            "approved": len(APPROVED),
            "declined": len(DECLINED),
            "attempts_exhausted": 1,
        }, [e for e in system.events if e["type"] == "payment_finished"]
        for payment_id in payment_ids:
            await system.crm_activity(payment_id)
        await run.read_everything(payment_ids)
        await system.hang_up_all(*(p for call in calls for p in (call.caller, call.agent)))
        await system.check_nothing_left()
        expected_ws = len(CARDS) + len(run.agents)  # the supervisor: all; each agent: theirs
        await system.wait_until(
            lambda: sum('"payment_finished"' in m for m in capture.ws) >= expected_ws, within=10
        )
        await asyncio.sleep(0.3)  # the last NOTIFY messages
    finally:
        await run.close()
    await capture.dump_database(evidence.database_url)

    agent_phones = "\n".join(
        f"{call.agent.name}: heard={list(call.agent.heard)} dtmf={call.agent.received_dtmf!r}"
        for call in calls
        if call.agent is not None
    )
    crm = "\n".join(
        json.dumps(envelope) + json.dumps(headers)
        for envelope, headers in zip(system.crm.received, system.crm.headers, strict=True)
    )
    sandbox = system.sandbox.processor
    corpus = capture.corpus(
        crm=crm,
        ledger=json.dumps(sandbox.ledger.as_list()) + json.dumps(sandbox.arrivals),
        phones=agent_phones,
    )

    # The capture saw what it should, so an empty scan means something. (Checked as plain
    # booleans: pytest's explanation of a failed `in` on megabytes of text takes minutes.)
    expected = {
        "every CRM activity": len(system.crm.received) >= len(CARDS),
        "16 payment rows": corpus["db"].count("== public.payments (16 rows)") == 1,
        "audit rows": bool(re.search(r"== public\.audit_events \(\d{2,} rows\)", corpus["db"])),
        "audited requests": "payment.requested" in corpus["db"],
        "DEBUG lines": "ari.request" in corpus["log"] and '"level": "debug"' in corpus["log"],
        "read-back requests (decoded)": "media=sound:payivr/en/card-ending-in" in corpus["ari"],
        "last four and year read back": "digits:4444" in corpus["ari"]
        and "number:2031" in corpus["ari"],
        "AMI redirects": "Action: Redirect" in corpus["ami"],
        # the supervisor sees every payment end, each agent their own
        "WebSocket endings": corpus["console-ws"].count('"payment_finished"')
        == len(CARDS) + len(run.agents),
        "NOTIFY endings": corpus["bus"].count("payment_finished") >= len(CARDS),
        "brand and last four shown": "Visa ending 4242" in corpus["console-http"],
        "the CSV export": "paid_with,transaction_id" in corpus["console-http"],
    }
    assert [name for name, seen in expected.items() if not seen] == []
    assert sorted(corpus) == sorted(
        [
            "log",
            "ari",
            "ami",
            "gateway",
            "console-http",
            "console-ws",
            "bus",
            "db",
            "crm",
            "ledger",
            "phones",
        ]
    )

    findings = scan(corpus, CARDS)
    assert [str(finding) for finding in findings[:40]] == []

    # Inside the encrypted token, and only there, the gateway gets each card that reached it.
    assert len(capture.card_tokens) == len(APPROVED) + len(DECLINED)
    inside = "\n".join(sandbox.keys.decrypt(token).decode() for token in capture.card_tokens)
    for card in CARDS[:-1]:
        assert len(find_card_data("token", inside, [card])) > 0, card.pan
    assert all(token.count(".") == 4 for token in capture.card_tokens)
    assert not any(prompts(call.agent) for call in calls if call.agent is not None)
