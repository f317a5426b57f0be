"""After the payments, through payivr serve's own wiring (HTTP sandbox gateway, PostgreSQL,
CRM webhook, console HTTP): a supervisor's report and CSV export (an ACH row reads "checking
ending 89"), and a refund that reaches the gateway and the CRM."""

from __future__ import annotations

import csv
import io
from typing import Any

import aiohttp

from payivr.calls.requests import PaymentRequest
from payivr.console.accounts import add_agent
from payivr.core.events import PaymentMethod
from tests.e2e.harness import System, answer_prompt, key_card
from tests.e2e.test_methods import ACCOUNT, ROUTING

PASSWORD = "correct horse battery staple 17"


async def _finished(system: System, payment_id: str) -> None:
    await system.wait_event(lambda e: e["type"] == "payment_finished" and e["payment"] == payment_id)


async def _pay_by_bank(system: System) -> str:
    caller, agent = system.phones(1)
    request = PaymentRequest("Storage", 13742, "USD", "alice", method=PaymentMethod.ACH)
    await system.target.connect(caller, agent)  # the console's Request payment, no *7
    payment_id = await system.running.takeovers.request_for_agent(agent.endpoint, request)
    for prompt, keys in (
        ("confirm-amount", "1"),
        ("enter-routing-number", ROUTING),
        ("routing-number-ending-in", "1"),
        ("enter-account-number", ACCOUNT + "#"),
        ("account-number-ending-in", "1"),
        ("choose-account-type", "1"),
        ("account-type-checking", "1"),
    ):
        await answer_prompt(caller, prompt, keys)
    await _finished(system, payment_id)
    await system.hang_up_all(caller, agent)
    return payment_id


async def _pay_by_card(system: System) -> str:
    caller, agent = system.phones()
    request = PaymentRequest("Annual plan", 5000, "USD", "alice")
    payment_id = await system.takeover(caller, agent, request)
    await key_card(caller)
    await _finished(system, payment_id)
    await system.hang_up_all(caller, agent)
    return payment_id


async def test_a_supervisors_report_export_and_refund(system: System) -> None:
    card = await _pay_by_card(system)
    bank = await _pay_by_bank(system)
    await add_agent(system.running.database, "sam", None, "supervisor", PASSWORD)
    jar = aiohttp.CookieJar(unsafe=True)  # the console is on 127.0.0.1
    async with aiohttp.ClientSession(base_url=system.running.console_url, cookie_jar=jar) as console:
        signed_in = await console.post("/api/v1/login", json={"name": "sam", "password": PASSWORD})
        csrf = (await signed_in.json())["csrf_token"]
        listed = await (await console.get("/api/v1/payments?outcome=approved")).json()
        paid_with = {p["id"]: p["paid_with"] for p in listed["payments"]}
        assert paid_with == {bank: "checking ending 89", card: "Visa ending 4242"}

        report: dict[str, Any] = await (await console.get("/api/v1/reports/payments")).json()
        assert report["total"]["approved"] == 2 and report["total"]["success_rate"] == 1.0
        assert report["agents"][0]["agent"] == "alice"
        assert report["total"]["approved_amounts"] == ["187.42 USD"]

        exported = await console.get("/api/v1/reports/payments.csv")
        assert exported.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await exported.text())))
        assert {row["paid_with"] for row in rows} == {"checking ending 89", "Visa ending 4242"}

        refund = await console.post(
            f"/api/v1/payments/{card}/refund",
            json={"amount": "20"},
            headers={"X-CSRF-Token": csrf},
        )
        answer = await refund.json()
        assert refund.status == 200, answer
        assert answer["refunded_minor"] == 2000
    ledger = system.sandbox.processor.ledger.entries
    assert [e.kind for e in ledger if e.kind == "refund"] == ["refund"]
    envelope = await system.crm.received.first(
        lambda e: e["data"].get("Payment Status") == "Refunded", system.seconds(10)
    )
    refunded = envelope["data"]
    assert refunded["Payment ID"] == card and refunded["Amount Refunded"] == "$20.00"
    assert refunded["Transaction ID"] == answer["reversal"]["transaction_id"]
    await system.check_nothing_left()
