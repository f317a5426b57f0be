"""Sales, cards on file, voids and refunds against recorded Stripe exchanges."""

import pytest
from _fake_stripe import REDACTED, FakeStripe, Mismatch
from _gateway_helpers import card
from _stripe_helpers import MakeGateway

from payivr.core.cards import Brand
from payivr.core.events import GatewayApproval, GatewayDecline, GatewayFailure
from payivr.gateway import Approved, Declined, Error, to_flow_event
from payivr.gateway.stripe_wire import (
    AUTHENTICATION_NEEDED,
    KEY_REUSED,
    RAW_CARD_REFUSED,
    decline,
)


async def test_an_approved_sale_is_one_confirmed_payment_intent(make_gateway: MakeGateway):
    fake = FakeStripe("sale_approved")
    result = await make_gateway(fake).sale(card("4242424242424242"), 1250, "USD", "pay-approved")

    assert result == Approved(
        reference="pi_3R0aPprvIVRtest0A1b2C3d", brand=Brand.VISA, last_four="4242"
    )
    assert to_flow_event(result) == GatewayApproval(
        "pi_3R0aPprvIVRtest0A1b2C3d", Brand.VISA, "4242"
    )
    assert fake.ledger.charges == {"pay-approved": 1} and fake.remaining == 0
    [request] = fake.seen
    assert request.headers["idempotency-key"] == "pay-approved"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form["capture_method"] == "automatic"
    assert request.form["payment_method_data[card][cvc]"] == REDACTED


async def test_expiry_goes_as_month_without_leading_zero_and_four_digit_year(
    make_gateway: MakeGateway,
):
    fake = FakeStripe("sale_approved")
    numbers: list[bytes] = []
    fake.on_request.append(lambda request: numbers.append(bytes(request.body)))
    await make_gateway(fake).sale(card("4242424242424242", "0731"), 1250, "usd", "pay-approved")

    assert b"exp_month%5D=7&" in numbers[0]
    assert b"exp_year%5D=2031&" in numbers[0]


async def test_moto_flag_for_telephone_orders(make_gateway: MakeGateway):
    fake = FakeStripe("sale_moto")
    result = await make_gateway(fake, moto=True).sale(
        card("5555555555554444"), 1250, "USD", "pay-moto"
    )

    assert result == Approved("pi_3R0aPprvIVRtest0MoTo0001", Brand.MASTERCARD, "4444")
    assert fake.seen[0].form["payment_method_options[card][moto]"] == "true"


DECLINES = [
    ("4000000000000002", "generic_decline", "the card was declined"),
    ("4000000000009995", "insufficient_funds", "the card has insufficient funds"),
    ("4000000000009987", "lost_card", "the card was reported lost"),
    ("4000000000009979", "stolen_card", "the card was reported stolen"),
    ("4000000000000069", "expired_card", "the card has expired"),
    ("4000000000000127", "incorrect_cvc", "the security code is incorrect"),
    (
        "4000000000000119",
        "processing_error",
        "an error occurred while processing the card, please try again",
    ),
]


async def test_stripes_declining_test_cards_are_declines_in_plain_words(
    make_gateway: MakeGateway,
):
    fake = FakeStripe("sale_declines")
    gateway = make_gateway(fake)
    for number, code, words in DECLINES:
        result = await gateway.sale(card(number), 1250, "usd", f"pay-decline-{code}")
        assert result == Declined(code, words)
        assert to_flow_event(result) == GatewayDecline(code, words)
    assert fake.remaining == 0 and not fake.ledger.charges


async def test_3d_secure_requested_is_a_decline_the_caller_understands(
    make_gateway: MakeGateway,
):
    fake = FakeStripe("sale_requires_action")
    result = await make_gateway(fake).sale(card("4000002760003184"), 1250, "usd", "pay-3ds")

    assert result == Declined("authentication_required", AUTHENTICATION_NEEDED)
    assert AUTHENTICATION_NEEDED == "the bank asks for authentication the phone cannot do"


async def test_an_account_without_raw_card_access_gets_a_clear_error(make_gateway: MakeGateway):
    fake = FakeStripe("raw_card_refused")
    result = await make_gateway(fake).sale(card("4242424242424242"), 1250, "usd", "pay-raw")

    assert result == Error(RAW_CARD_REFUSED, retryable=False)
    assert isinstance(to_flow_event(result), GatewayFailure)


async def test_a_sale_that_keeps_the_card_returns_customer_and_payment_method(
    make_gateway: MakeGateway,
):
    fake = FakeStripe("sale_store_card")
    result = await make_gateway(fake).sale(
        card("4242424242424242"), 1250, "usd", "pay-store", store_card=True
    )

    assert result == Approved(
        reference="pi_3R0aPprvIVRtestStored01",
        brand=Brand.VISA,
        last_four="4242",
        token="cus_RpayivrTestCus01:pm_1R0aPprvIVRtestStored01",
        token_expiry_month=12,
        token_expiry_year=2030,
    )
    assert [s.headers["idempotency-key"] for s in fake.seen] == ["pay-store:customer", "pay-store"]


async def test_tokenize_stores_the_card_with_a_setup_intent(make_gateway: MakeGateway):
    fake = FakeStripe("tokenize")
    result = await make_gateway(fake).tokenize(card("5555555555554444", "1131"), "tok-1")

    assert result == Approved(
        reference="seti_1R0aPprvIVRtestToken001",
        brand=Brand.MASTERCARD,
        last_four="4444",
        token="cus_RpayivrTestCus02:pm_1R0aPprvIVRtestToken001",
        token_expiry_month=11,
        token_expiry_year=2031,
    )
    assert not fake.ledger.charges


async def test_tokenize_of_a_lost_card_is_declined(make_gateway: MakeGateway):
    fake = FakeStripe("tokenize_declined")
    result = await make_gateway(fake).tokenize(card("4000000000009987"), "tok-2")

    assert result == Declined("lost_card", "the card was reported lost")


async def test_charging_a_card_on_file_off_session(make_gateway: MakeGateway):
    fake = FakeStripe("token_sale")
    result = await make_gateway(fake).sale_with_token(
        "cus_RpayivrTestCus02:pm_1R0aPprvIVRtestToken001", 4999, "GBP", "cof-1"
    )

    assert result == Approved("pi_3R0aPprvIVRtestTokSale1", Brand.MASTERCARD, "4444")
    assert fake.seen[0].form["off_session"] == "true"
    assert fake.ledger.charges == {"cof-1": 1}


async def test_a_card_on_file_that_needs_authentication_is_declined(make_gateway: MakeGateway):
    fake = FakeStripe("token_sale_authentication_required")
    result = await make_gateway(fake).sale_with_token(
        "cus_RpayivrTestCus02:pm_1R0aPprvIVRtestToken001", 4999, "gbp", "cof-2"
    )

    assert result == Declined("authentication_required", AUTHENTICATION_NEEDED)


async def test_a_malformed_token_is_refused_before_anything_is_sent(make_gateway: MakeGateway):
    fake = FakeStripe()
    with pytest.raises(ValueError, match="cus_"):
        await make_gateway(fake).sale_with_token("pm_123", 100, "usd", "cof-3")
    assert fake.seen == []


async def test_void_cancels_a_payment_intent_that_never_completed(make_gateway: MakeGateway):
    fake = FakeStripe("void_cancel")
    result = await make_gateway(fake).void("pi_3R0aPprvIVRtest3DS00001", "void-1")

    assert result == Approved(reference="pi_3R0aPprvIVRtest3DS00001")


async def test_void_of_a_captured_sale_refunds_it_in_full(make_gateway: MakeGateway):
    fake = FakeStripe("void_refund")
    result = await make_gateway(fake).void("pi_3R0aPprvIVRtest0A1b2C3d", "void-2")

    assert result == Approved(reference="re_3R0aPprvIVRtest0A1b2C3d")
    assert fake.ledger.refunds == {"void-2:refund": 1} and fake.remaining == 0


async def test_partial_refund_then_a_refund_of_an_already_refunded_sale(
    make_gateway: MakeGateway,
):
    fake = FakeStripe("refund")
    gateway = make_gateway(fake)

    assert await gateway.refund("pi_3R0aPprvIVRtest0A1b2C3d", 500, "refund-1") == Approved(
        reference="re_3R0aPprvIVRtestPartial1"
    )
    assert await gateway.refund("pi_3R0aPprvIVRtest0A1b2C3d", 1250, "refund-2") == Error(
        "the payment was already refunded in full", retryable=False
    )


async def test_a_reference_that_is_not_a_payment_intent_is_refused(make_gateway: MakeGateway):
    gateway = make_gateway(FakeStripe())
    with pytest.raises(ValueError, match="pi_"):
        await gateway.refund("../v1/customers", 100, "refund-3")
    with pytest.raises(ValueError, match="pi_"):
        await gateway.void("ch_123", "void-3")


async def test_the_same_key_twice_charges_once(make_gateway: MakeGateway):
    fake = FakeStripe("sale_approved")
    gateway = make_gateway(fake)
    first = await gateway.sale(card("4242424242424242"), 1250, "usd", "pay-approved")
    second = await gateway.sale(card("4242424242424242"), 1250, "usd", "pay-approved")

    assert first == second and isinstance(first, Approved)
    assert fake.ledger.charges == {"pay-approved": 1}
    assert len(fake.seen) == 2


async def test_the_same_key_for_another_amount_is_an_error_and_charges_nothing_more(
    make_gateway: MakeGateway,
):
    fake = FakeStripe("sale_approved")
    gateway = make_gateway(fake)
    await gateway.sale(card("4242424242424242"), 1250, "usd", "pay-approved")
    reused = await gateway.sale(card("4242424242424242"), 9999, "usd", "pay-approved")

    assert reused == Error(KEY_REUSED, retryable=False)
    assert fake.ledger.charges == {"pay-approved": 1}


async def test_the_fake_rejects_a_request_unlike_the_recording(make_gateway: MakeGateway):
    """The recordings are checked, not just replayed: another card does not match."""
    fake = FakeStripe("sale_approved")
    with pytest.raises(Mismatch, match="card ending"):
        await make_gateway(fake).sale(card("5555555555554444"), 1250, "usd", "pay-approved")


def test_decline_words_for_codes_beyond_the_test_cards():
    assert decline("fraudulent") == Declined("fraudulent", "the card was declined")
    assert decline("incorrect_zip") == Declined(
        "incorrect_zip", "the postal code does not match the card"
    )
    assert decline("something_new") == Declined("something_new", "the card was declined")
    assert decline(None) == Declined("card_declined", "the card was declined")
