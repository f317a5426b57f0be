"""Card buffers wiped once the form is built, the form wiped after the call, and no card
digits in logs, results, exceptions or reprs."""

import logging

import pytest
import structlog
from _fake_stripe import SECRET_KEY, FakeStripe
from _gateway_helpers import TEST_PANS, buffers, card
from _stripe_helpers import MakeGateway

from payivr.core.cards import CardDataExposure, SecretDigits
from payivr.core.events import CardDetails
from payivr.gateway import Approved
from payivr.gateway.stripe import StripeGateway
from payivr.gateway.stripe_config import StripeConfig
from payivr.gateway.stripe_wire import Form
from payivr.gateway.testcards import DECLINE_CARDS
from payivr.gateway.transport import Request


async def test_the_card_is_wiped_before_the_first_byte_leaves(make_gateway: MakeGateway):
    fake = FakeStripe("sale_approved")
    details = card("4242424242424242")
    wiped_at_send: list[bool] = []
    fake.on_request.append(lambda request: wiped_at_send.extend(b.wiped for b in buffers(details)))
    await make_gateway(fake).sale(details, 1250, "usd", "pay-approved")

    assert wiped_at_send == [True, True, True]


async def test_form_bodies_are_zeroed_and_emptied_after_the_call(make_gateway: MakeGateway):
    fake = FakeStripe("sale_approved", "sale_store_card", "tokenize")
    fake.answers_lost = {1}  # a replay too: the body is kept for it, then wiped
    gateway = make_gateway(fake)
    await gateway.sale(card("4242424242424242"), 1250, "usd", "pay-approved")
    await gateway.sale(card("4242424242424242"), 1250, "usd", "pay-store", store_card=True)
    await gateway.tokenize(card("5555555555554444", "1131"), "tok-1")

    assert len(fake.bodies) == 6
    assert all(body == bytearray() for body in fake.bodies)


async def test_the_card_is_wiped_when_the_request_is_refused_before_sending(
    make_gateway: MakeGateway,
):
    gateway = make_gateway(FakeStripe())
    for bad in [
        dict(amount_minor=0, currency="usd", idempotency_key="k"),
        dict(amount_minor=100, currency="dollars", idempotency_key="k"),
        dict(amount_minor=100, currency="usd", idempotency_key=""),
    ]:
        details = card("4242424242424242")
        with pytest.raises(ValueError) as refused:
            await gateway.sale(details, **bad)  # type: ignore[arg-type]
        assert all(b.wiped for b in buffers(details))
        assert "4242" not in str(refused.value) + repr(refused.value)

    details = card("4242424242424242", "123")  # expiry not MMYY
    with pytest.raises(ValueError, match="MMYY"):
        await gateway.tokenize(details, "tok-x")
    assert all(b.wiped for b in buffers(details))


async def test_a_wiped_card_cannot_be_sent_again(make_gateway: MakeGateway):
    fake = FakeStripe("sale_approved")
    gateway = make_gateway(fake)
    details = card("4242424242424242")
    await gateway.sale(details, 1250, "usd", "pay-approved")
    with pytest.raises(CardDataExposure):
        await gateway.sale(details, 1250, "usd", "pay-again")
    assert len(fake.seen) == 1


async def test_no_card_digits_in_logs_results_or_reprs(
    make_gateway: MakeGateway,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    fake = FakeStripe("sale_approved", "sale_declines", "raw_card_refused", "tokenize")
    fake.answers_lost = {1}
    gateway = make_gateway(fake)
    requests: list[str] = []
    fake.on_request.append(lambda request: requests.append(repr(request)))
    results = []
    with structlog.testing.capture_logs() as events:
        results.append(await gateway.sale(card("4242424242424242"), 1250, "usd", "pay-approved"))
        for number, code in DECLINE_CARDS.items():
            results.append(
                await gateway.sale(card(number), 1250, "usd", f"pay-decline-{code.value}")
            )
        results.append(await gateway.sale(card("4242424242424242"), 1250, "usd", "pay-raw"))
        results.append(await gateway.tokenize(card("5555555555554444", "1131"), "tok-1"))
    assert isinstance(results[0], Approved) and len(results) == 10

    out = capsys.readouterr()
    haystack = "\n".join(
        [
            repr(events),
            repr(results),
            repr(fake.seen),
            "\n".join(requests),
            repr(gateway),
            out.out,
            out.err,
            caplog.text,
        ]
    )
    assert "stripe.answer" in repr(events)
    for pan in TEST_PANS:
        assert pan not in haystack
        assert pan[:6] + "******" not in haystack
    assert "1230" not in haystack.replace("2030", "")  # the expiry as keyed
    assert SECRET_KEY not in haystack


def test_reprs_show_no_card_and_no_secret():
    details = card("4242424242424242")
    form = Form().add_card(details)
    request = Request("POST", "/v1/payment_intents", {"Authorization": "Bearer x"}, form.body)
    config = StripeConfig(secret_key=SECRET_KEY)

    assert repr(form) == f"<Form {len(form.body)} bytes>"
    assert repr(request) == "<Request POST /v1/payment_intents>"
    assert SECRET_KEY not in repr(config) and SECRET_KEY not in repr(StripeGateway(config))
    form.wipe()
    assert form.body == bytearray()


def test_the_form_escapes_values_and_passes_digits_as_they_are():
    details = CardDetails(
        SecretDigits("378282246310005"),
        SecretDigits("0130"),
        SecretDigits("1234"),
        "SW1A 1AA",
        card("378282246310005").brand,
    )
    form = Form().add("metadata[payivr_payment_id]", "a&b=c'd").add_card(details)
    body = bytes(form.body)
    form.wipe()

    assert body.startswith(b"metadata%5Bpayivr_payment_id%5D=a%26b%3Dc%27d&")
    assert b"%5Bnumber%5D=378282246310005&" in body
    assert b"%5Bexp_month%5D=1&" in body and b"%5Bexp_year%5D=2030&" in body
    assert b"%5Bcvc%5D=1234&" in body
    assert body.endswith(b"%5Bpostal_code%5D=SW1A+1AA")
