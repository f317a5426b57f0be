"""Refunds and voids from the API, on the real database and the in-process sandbox gateway:
who may, how much, what the CRM and the audit trail are told (issue 17 item 5)."""

from __future__ import annotations

import asyncio
from typing import Any

from _console_helpers import ALICE, GOOD_KEYS, Client, Console

DECLINED_KEYS = GOOD_KEYS.replace("4242424242424242", "4000000000000002")


async def _paid(console: Console, alice: Client, keys: str = GOOD_KEYS) -> str:
    """Alice takes a payment of 137.42 USD on a new call; its id once finished."""
    key = await console.calls.place_call("PJSIP/1001")
    created = await alice.send("/api/v1/payments", {"item": "Annual plan", "amount": "137.42"})
    payment_id: str = (await created.json())["payment"]
    if keys == DECLINED_KEYS:
        await console.calls.decline_every_try(key, keys)
    else:
        await console.calls.press(key, keys)
    await console.calls.wait_finished(key, payment_id)
    await console.calls.hang_up(key)
    return payment_id


async def _reverse(client: Client, payment_id: str, kind: str, **body: Any) -> tuple[int, Any]:
    response = await client.send(f"/api/v1/payments/{payment_id}/{kind}", body)
    return response.status, await response.json()


async def _crm_activities(console: Console, payment_id: str) -> list[dict[str, Any]]:
    async with console.db.pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT activity FROM crm_outbox WHERE payment_id = %s ORDER BY seq", (payment_id,)
        )
        return [row[0] for row in await cursor.fetchall()]


async def test_an_agent_refunds_part_then_the_rest_and_the_crm_hears_each(
    console: Console, alice: Client
) -> None:
    payment_id = await _paid(console, alice)
    status, body = await _reverse(alice, payment_id, "refund", amount="$40")
    assert status == 200, body
    assert body["reversal"]["kind"] == "refund"
    assert body["reversal"]["amount"] == "40.00 USD"
    assert body["reversal"]["status"] == "approved"
    assert body["reversal"]["transaction_id"]
    assert body["refunded_minor"] == 4000
    status, body = await _reverse(alice, payment_id, "refund", amount="100.00")
    assert status == 409
    assert body["error"]["message"] == "at most $97.42 can be refunded"
    status, body = await _reverse(alice, payment_id, "refund")  # the rest
    assert status == 200, body
    assert body["refunded_minor"] == 13742
    status, body = await _reverse(alice, payment_id, "void")
    assert status == 409
    assert body["error"]["message"] == "a payment that was partly refunded cannot be voided: refund the rest"

    shown = await alice.json(f"/api/v1/payments/{payment_id}")
    assert [r["amount"] for r in shown["reversals"]] == ["40.00 USD", "97.42 USD"]
    assert shown["refunded_minor"] == 13742 and shown["voided"] is False
    listed = (await alice.json("/api/v1/payments"))["payments"]
    assert listed[0]["refunded_minor"] == 13742
    outcome, first, rest = await _crm_activities(console, payment_id)
    assert outcome["Payment Status"] == "Success"
    assert first["Payment Status"] == "Refunded"
    assert (first["Amount Refunded"], first["Amount Charged"]) == ("$40.00", "-$40.00")
    assert first["Original Transaction ID"] == outcome["Transaction ID"]
    assert first["Transaction ID"] == shown["reversals"][0]["transaction_id"]
    assert first["Agent"] == ALICE and first["Payment ID"] == payment_id
    assert rest["Amount Refunded"] == "$97.42"
    ledger = [entry.kind for entry in console.calls.gateway.processor.ledger.entries]
    assert ledger[-2:] == ["refund", "refund"]
    events = await _audit(console, payment_id)
    assert events == [
        ("payment.refund", True, "40.00 USD approved via session"),
        ("payment.refund", False, "at most $97.42 can be refunded"),
        ("payment.refund", True, "97.42 USD approved via session"),
        (
            "payment.void",
            False,
            "a payment that was partly refunded cannot be voided: refund the rest",
        ),
    ]


async def _audit(console: Console, payment_id: str) -> list[tuple[str, bool, str | None]]:
    async with console.db.pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT action, success, detail FROM audit_events WHERE payment_id = %s"
            " AND action LIKE 'payment.%%' AND action NOT LIKE 'payment.request%%' ORDER BY id",
            (payment_id,),
        )
        return [tuple(row) for row in await cursor.fetchall()]  # type: ignore[misc]


async def test_a_void_cancels_it_all_once(console: Console, alice: Client) -> None:
    payment_id = await _paid(console, alice)
    status, body = await _reverse(alice, payment_id, "void")
    assert status == 200, body
    assert (body["voided"], body["refunded_minor"]) == (True, 13742)
    assert (await _reverse(alice, payment_id, "void"))[1]["error"]["message"] == (
        "the payment has already been voided"
    )
    status, body = await _reverse(alice, payment_id, "refund", amount="1")
    assert (status, body["error"]["message"]) == (409, "the payment has already been voided")
    voided = (await _crm_activities(console, payment_id))[-1]
    assert voided["Payment Status"] == "Voided" and voided["Amount Refunded"] == "$137.42"


async def test_only_approved_payments_and_clear_errors(console: Console, alice: Client) -> None:
    declined = await _paid(console, alice, DECLINED_KEYS)
    status, body = await _reverse(alice, declined, "refund")
    assert (status, body["error"]["message"]) == (
        409,
        "only an approved payment can be refunded or voided",
    )
    payment_id = await _paid(console, alice)
    for amount, message in (
        ("0", "the amount must be more than zero"),
        ("1.005", "the amount must be a whole number of cents"),
        ("€5", "the amount is written in another currency (€); this request is in USD"),
    ):
        status, body = await _reverse(alice, payment_id, "refund", amount=amount)
        assert (status, body["error"]["message"]) == (422, message)
    assert (await alice.json(f"/api/v1/payments/{payment_id}"))["reversals"] == []


async def test_an_agent_cannot_reverse_yesterday_or_anyone_elses_but_a_supervisor_can(
    console: Console, alice: Client, bob: Client, sam: Client
) -> None:
    payment_id = await _paid(console, alice)
    # The attack: Bob, signed in, refunds Alice's payment to his liking.
    status, body = await _reverse(bob, payment_id, "refund", amount="137.42")
    assert (status, body["error"]["code"]) == (404, "unknown_payment")
    async with console.db.pool.connection() as conn:
        await conn.execute(
            "UPDATE payments SET created_at = created_at - interval '1 day' WHERE id = %s",
            (payment_id,),
        )
    status, body = await _reverse(alice, payment_id, "void")
    assert status == 403
    assert body["error"]["message"] == (
        "an agent can refund or void a payment on the day it was taken only: ask a supervisor"
    )
    status, body = await _reverse(sam, payment_id, "void")
    assert status == 200, body
    assert body["reversal"]["by"] == "Sam Supervisor"


async def test_two_refunds_at_once_never_give_back_more_than_was_charged(
    console: Console, alice: Client, sam: Client
) -> None:
    payment_id = await _paid(console, alice)
    answers = await asyncio.gather(
        *(_reverse(client, payment_id, "refund") for client in (alice, sam, alice, sam))
    )
    assert sorted(status for status, _ in answers) == [200, 409, 409, 409]
    refunds = [e for e in console.calls.gateway.processor.ledger.entries if e.kind == "refund"]
    assert len(refunds) == 1
    shown = await sam.json(f"/api/v1/payments/{payment_id}")
    assert shown["refunded_minor"] == 13742
    assert [r["status"] for r in shown["reversals"]] == ["approved"]
