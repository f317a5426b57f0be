"""The leak scan for what came after the card scan (tests/evidence/test_no_card_data_anywhere.py):
a bank account (ACH) payment and a card kept on file, both asked for from the console.

Everything payivr writes or sends is captured (logs at DEBUG, ARI and AMI requests, console
HTTP and WebSocket, NOTIFYs, every table, the CRM payloads, the gateway's ledger) and scanned
for the routing and account numbers, and for the kept card's number, expiry and security code.
The gateway gets them inside its encrypted tokens only; payivr keeps the card's token.
"""

from __future__ import annotations

import json

from payivr.console.accounts import add_agent
from tests.e2e.harness import answer_prompt, heard, key_card
from tests.evidence.capture import ConsoleClient
from tests.evidence.cardscan import (
    KeyedBankAccount,
    KeyedCard,
    find_bank_data,
    find_card_data,
    scan,
)
from tests.evidence.conftest import Evidence

PASSWORD = "bank-leak-scan-password-1"
ACCOUNT = KeyedBankAccount("110000000", "000123456789")  # the sandbox approves it
KEPT_CARD = KeyedCard("4242424242424242", "1230", "123")  # as harness.key_card keys it


async def signed_in_agent(evidence: Evidence, name: str, endpoint: str) -> ConsoleClient:
    system = evidence.system
    await add_agent(system.running.database, name, endpoint, "agent", PASSWORD)
    client = ConsoleClient(system.running.console_url, evidence.capture, name)
    await client.sign_in(PASSWORD)
    await client.subscribe()
    return client


async def request(client: ConsoleClient, body: dict[str, object]) -> str:
    status, answer = await client.call("POST", "/api/v1/payments", body)
    assert status == 201, answer
    payment: str = answer["payment"]
    return payment


async def test_no_bank_account_or_kept_card_data_anywhere(evidence: Evidence) -> None:
    system, capture = evidence.system, evidence.capture
    (caller, agent), (bank_caller, bank_agent) = system.phones(0), system.phones(1)
    alice = await signed_in_agent(evidence, "alice", agent.endpoint)
    bob = await signed_in_agent(evidence, "bob", bank_agent.endpoint)
    try:
        await system.target.connect(caller, agent)
        card_payment = await request(
            alice,
            {
                "item": "Storage",
                "amount": "25",
                "crm_record_id": "crm-91",
                "offer_card_on_file": True,
            },
        )
        await key_card(caller, KEPT_CARD.pan)
        await answer_prompt(caller, "offer-card-on-file", "1")
        await heard(caller, "card-kept-on-file", within=20)

        await system.target.connect(bank_caller, bank_agent)
        bank_payment = await request(bob, {"item": "Storage", "amount": "137.42", "method": "ach"})
        await answer_prompt(bank_caller, "confirm-amount", "1")
        await answer_prompt(bank_caller, "enter-routing-number", ACCOUNT.routing_number)
        await answer_prompt(bank_caller, "routing-number-ending-in", "1")
        await answer_prompt(bank_caller, "enter-account-number", ACCOUNT.account_number + "#")
        await answer_prompt(bank_caller, "account-number-ending-in", "1")
        await answer_prompt(bank_caller, "choose-account-type", "1")
        await answer_prompt(bank_caller, "account-type-checking", "1")

        for client, payment in ((alice, card_payment), (bob, bank_payment)):
            await system.crm_activity(payment, within=20)
            status, _ = await client.call("GET", f"/api/v1/payments/{payment}")
            assert status == 200
            await client.call("GET", "/api/v1/payments")
            await client.call("GET", "/api/v1/reports/payments")
            await client.call("GET", "/api/v1/reports/payments.csv")
        await system.hang_up_all(caller, agent, bank_caller, bank_agent)
        await system.check_nothing_left()
    finally:
        await alice.close()
        await bob.close()
    await capture.dump_database(evidence.database_url)

    sandbox = system.sandbox.processor
    corpus = capture.corpus(
        crm=json.dumps(system.crm.received),
        ledger=json.dumps(sandbox.ledger.as_list()) + json.dumps(sandbox.arrivals),
        phones="\n".join(
            f"heard={list(p.heard)} dtmf={p.received_dtmf!r}" for p in (agent, bank_agent)
        ),
    )
    # The capture saw both payments end and the card kept, so an empty scan means something.
    expected = {
        "bank account shown as type and last two": "checking account ending 89"
        in corpus["console-ws"],
        "card shown as brand and last four": "Visa ending 4242" in corpus["console-ws"],
        "card kept on file": "== public.cards_on_file (1 rows)" in corpus["db"],
        "bank account in the CSV as type and last two": "checking ending 89"
        in corpus["console-http"],
        "both outcomes at the CRM": corpus["crm"].count('"Payment Status": "Success"') == 2,
    }
    assert [name for name, seen in expected.items() if not seen] == []

    findings = [
        *scan(corpus, [KEPT_CARD]),
        *(f for name, text in corpus.items() for f in find_bank_data(name, text, [ACCOUNT])),
    ]
    assert [str(finding) for finding in findings[:40]] == []

    # Inside the encrypted tokens, and only there, the gateway got the card and the account.
    inside = "\n".join(sandbox.keys.decrypt(token).decode() for token in capture.card_tokens)
    assert find_card_data("token", inside, [KEPT_CARD])
    (bank_token,) = capture.bank_tokens
    assert find_bank_data("token", sandbox.keys.decrypt(bank_token).decode(), [ACCOUNT])
    assert agent.received_dtmf == bank_agent.received_dtmf == ""
