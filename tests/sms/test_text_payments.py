"""Pay by text end to end: question, YES charges once, receipt, payment row, CRM, audit."""

from __future__ import annotations

import asyncio

import pytest
from _sms_helpers import AGENT, CUSTOMER, PHONE, TEST_PANS, LostAnswerGateway, Rig, dump_tables

from payivr.core.events import Outcome
from payivr.core.request import EntryKind
from payivr.sms import (
    MessageKind,
    MessageStatus,
    SmsRefused,
    TextPaymentRequest,
    TextPaymentState,
)


def ask(amount_minor: int = 13742, *, phone: str = PHONE, customer: str = CUSTOMER):  # type: ignore[no-untyped-def]
    return TextPaymentRequest(customer, phone, amount_minor, "USD", "Unit 12 rent", AGENT)


async def test_yes_pays_once_and_a_receipt_follows(rig: Rig) -> None:
    await rig.keep_card()
    request = await rig.service.request_text_payment(ask())
    phone = rig.phone()
    assert phone.inbox == [
        "Acme Storage: Pay $137.42 for Unit 12 rent with your Visa ending 4242? Reply YES to"
        " pay, anything else to decline. Reply STOP to opt out."
    ]
    assert request.state is TextPaymentState.ASKED
    await phone.reply("YES")
    key = str(request.id)
    assert rig.charges(key) == 1
    done = await rig.service.store.text_payment(request.id)
    assert done is not None and done.state is TextPaymentState.PAID
    assert done.gateway_reference
    assert phone.last == (
        f"Acme Storage: Paid $137.42 for Unit 12 rent, reference {done.gateway_reference}."
        " Thank you."
    )
    payment = await rig.payments.get_payment(request.id)
    assert payment.entry_kind is EntryKind.TEXT
    assert payment.outcome is Outcome.APPROVED
    assert payment.idempotency_key == key
    assert (payment.brand, payment.last_four) == ("visa", "4242")
    assert payment.caller_number == PHONE and payment.crm_record_id == CUSTOMER
    async with rig.db.pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT activity FROM crm_outbox WHERE payment_id = %s", (request.id,)
        )
        (activity,) = await cursor.fetchone()  # type: ignore[misc]
    assert activity["Payment Status"] == "Success" and activity["Amount Charged"] == "$137.42"
    actions = [event.action for event in await rig.payments.list_audit(payment_id=request.id)]
    assert actions[0] == "text_payment.requested"
    assert {"sms.sent", "text_payment.confirmed", "text_payment.paid"} <= set(actions)
    messages = await rig.service.store.messages_for(request.id)
    assert [(m.direction, m.kind) for m in messages] == [
        ("out", MessageKind.ASK),
        ("in", MessageKind.REPLY),
        ("out", MessageKind.RECEIPT),
    ]
    assert messages[1].body == "YES" and messages[1].status is MessageStatus.PROCESSED


async def test_yes_twice_and_at_once_charges_once(rig: Rig) -> None:
    await rig.keep_card()
    request = await rig.service.request_text_payment(ask())
    phone = rig.phone()
    await asyncio.gather(phone.reply("YES"), phone.reply("yes"), phone.reply("Yes please"))
    await phone.reply("YES")
    assert rig.charges(str(request.id)) == 1
    assert rig.charges() == 1
    receipts = [text for text in phone.inbox if "Paid $137.42" in text]
    assert len(receipts) == 1


@pytest.mark.parametrize("reply", ["yes please", "YES ", "Yes", " yes!", "YES."])
async def test_yes_in_its_usual_forms_pays(rig: Rig, reply: str) -> None:
    await rig.keep_card()
    request = await rig.service.request_text_payment(ask())
    await rig.phone().reply(reply)
    assert rig.charges(str(request.id)) == 1


@pytest.mark.parametrize("reply", ["no", "Y E S", "", "y", "yesterday", "ok", "Sure"])
async def test_anything_else_declines_without_charging(rig: Rig, reply: str) -> None:
    await rig.keep_card()
    request = await rig.service.request_text_payment(ask())
    await rig.phone().reply(reply)
    assert rig.charges() == 0
    done = await rig.service.store.text_payment(request.id)
    assert done is not None and done.state is TextPaymentState.REFUSED
    assert rig.phone().last == "Acme Storage: OK, no payment was made."
    payment = await rig.payments.get_payment(request.id)
    assert payment.outcome is Outcome.DECLINED_BY_CALLER
    await rig.phone().reply("YES")  # too late: the request is answered
    assert rig.charges() == 0


async def test_an_expired_request_charges_nothing_and_a_late_reply_is_answered_politely(
    rig: Rig,
) -> None:
    await rig.keep_card()
    request = await rig.service.request_text_payment(ask())
    rig.clock.advance(hours=24, seconds=1)
    await rig.phone().reply("YES")
    assert rig.charges() == 0
    assert rig.phone().last == (
        "Acme Storage: Sorry, this payment request has expired, so nothing was charged."
        " Please call us if you would like to pay."
    )
    payment = await rig.payments.get_payment(request.id)
    assert payment.outcome is Outcome.TIMED_OUT
    await rig.phone().reply("YES")  # answered once, not every time
    assert len(rig.phone().inbox) == 2


async def test_the_worker_expires_unanswered_requests(rig: Rig) -> None:
    await rig.keep_card()
    request = await rig.service.request_text_payment(ask())
    rig.clock.advance(hours=23)
    assert (await rig.service.run_once()).expired == 0
    rig.clock.advance(hours=2)
    assert (await rig.service.run_once()).expired == 1
    assert (await rig.payments.get_payment(request.id)).outcome is Outcome.TIMED_OUT
    assert len(rig.phone().inbox) == 1  # no unsolicited text about it


async def test_a_declined_card_is_told_and_recorded(rig: Rig) -> None:
    await rig.keep_card("4000000000009995")
    request = await rig.service.request_text_payment(ask())
    await rig.phone().reply("YES")
    payment = await rig.payments.get_payment(request.id)
    assert payment.outcome is Outcome.DECLINED and payment.reason
    assert rig.phone().last == (
        "Acme Storage: Your Visa ending 9995 was declined, so nothing was charged."
        " Please call us to pay another way."
    )


async def test_a_lost_gateway_answer_is_settled_by_status_never_by_charging_again(
    rig: Rig,
) -> None:
    await rig.keep_card()
    rig.service.gateway = LostAnswerGateway(rig.gateway)  # type: ignore[assignment]
    request = await rig.service.request_text_payment(ask())
    await rig.phone().reply("YES")
    waiting = await rig.service.store.text_payment(request.id)
    assert waiting is not None and waiting.state is TextPaymentState.UNKNOWN
    assert "confirming your payment" in (rig.phone().last or "")
    assert (await rig.payments.get_payment(request.id)).needs_reconciliation
    await rig.phone().reply("YES")
    rig.clock.advance(minutes=3)
    assert (await rig.service.run_once()).reconciled == 1
    assert rig.charges() == 1
    assert (await rig.payments.get_payment(request.id)).outcome is Outcome.APPROVED
    assert "Paid $137.42" in (rig.phone().last or "")


async def test_no_card_on_file_or_a_waiting_request_is_refused(rig: Rig) -> None:
    with pytest.raises(SmsRefused) as refused:
        await rig.service.request_text_payment(ask())
    assert refused.value.conflict and "no usable card on file" in refused.value.message
    await rig.keep_card()
    await rig.service.request_text_payment(ask())
    with pytest.raises(SmsRefused, match="already waiting"):
        await rig.service.request_text_payment(ask(500))
    assert len(rig.phone().inbox) == 1


async def test_an_expired_card_is_not_offered(rig: Rig) -> None:
    await rig.keep_card("5555555555554444", phone=PHONE)
    async with rig.db.pool.connection() as conn:
        await conn.execute("UPDATE cards_on_file SET expiry_year = 2024, expiry_month = 12")
    with pytest.raises(SmsRefused, match="no usable card"):
        await rig.service.request_text_payment(ask())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phone", "5551230001", "E.164"),
        ("phone", "+1555", "E.164"),
        ("customer", "", "customer reference"),
        ("customer", "4242424242424242", "looks like a card number"),
        ("item", "Invoice 12345678", "7 or more digits"),
        ("amount_minor", 0, "more than zero"),
        ("currency", "XXX", "currency must be one of"),
    ],
)
async def test_bad_requests_are_refused_with_a_reason(
    rig: Rig, field: str, value: object, message: str
) -> None:
    await rig.keep_card()
    values = {**vars(ask()), field: value}
    with pytest.raises(SmsRefused, match=message) as refused:
        await rig.service.request_text_payment(TextPaymentRequest(**values))
    assert not refused.value.conflict
    assert rig.phone().inbox == []


async def test_no_card_digits_or_token_anywhere(rig: Rig) -> None:
    card = await rig.keep_card()
    request = await rig.service.request_text_payment(ask())
    await rig.phone().reply("YES, my card is 4242424242424242")
    assert rig.charges(str(request.id)) == 1
    texts = "\n".join(rig.phone().inbox)
    assert "Visa ending 4242" in texts
    dump = await dump_tables(rig.db)
    for pan in TEST_PANS:
        assert pan not in dump and pan not in texts
    tables_without_card_store = dump.replace(card.token, "", 1)  # cards_on_file keeps it
    assert card.token not in tables_without_card_store
    assert card.token not in texts


async def test_logs_hold_no_card_data_token_phone_or_text(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    card = await rig.keep_card()
    request = await rig.service.request_text_payment(ask())
    await rig.phone().reply("yes 4242424242424242")
    await rig.phone().reply("STOP")
    assert rig.charges(str(request.id)) == 1
    logged = capsys.readouterr()
    output = logged.out + logged.err
    assert "text_payment_finished" in output
    for secret in (*TEST_PANS, card.token, PHONE, "Reply YES", "Paid $137.42"):
        assert secret not in output, secret
