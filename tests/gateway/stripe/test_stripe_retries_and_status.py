"""Retries with the same key, lost answers settled by replay or search, status by key."""

from _fake_stripe import FakeStripe, empty_search
from _gateway_helpers import card
from _stripe_helpers import Clock, MakeGateway, RecordingSleep

from payivr.core.cards import Brand
from payivr.core.events import GatewayOutcomeUnknown
from payivr.gateway import Approved, Declined, Error, RequestNotFound, Unknown, to_flow_event

APPROVED = Approved("pi_3R0aPprvIVRtest0A1b2C3d", Brand.VISA, "4242")


def posts(fake: FakeStripe) -> int:
    return sum(1 for s in fake.seen if s.method == "POST")


def searches(fake: FakeStripe) -> int:
    return sum(1 for s in fake.seen if s.path.endswith("/search"))


async def test_429_is_sent_again_with_the_same_key(
    make_gateway: MakeGateway, sleep: RecordingSleep
):
    fake = FakeStripe("rate_limited")
    result = await make_gateway(fake).sale(card("4242424242424242"), 1250, "usd", "pay-429")

    assert isinstance(result, Approved) and result.reference == "pi_3R0aPprvIVRtestRateLim1"
    assert {s.headers["idempotency-key"] for s in fake.seen} == {"pay-429"}
    assert len(sleep.waits) == 2 and fake.ledger.charges == {"pay-429": 1}


async def test_a_500_stripe_marks_retryable_is_sent_again(make_gateway: MakeGateway):
    fake = FakeStripe("server_error_retryable")
    result = await make_gateway(fake).sale(card("4242424242424242"), 1250, "usd", "pay-500")

    assert isinstance(result, Approved) and posts(fake) == 2
    assert fake.ledger.charges == {"pay-500": 1}


async def test_a_saved_500_is_not_resent_but_searched_and_stays_unknown(
    make_gateway: MakeGateway, sleep: RecordingSleep
):
    fake = FakeStripe("server_error_saved")
    result = await make_gateway(fake).sale(card("4242424242424242"), 1250, "usd", "pay-500b")

    assert result == Unknown("Stripe failed (500); the payment needs reconciliation")
    assert isinstance(to_flow_event(result), GatewayOutcomeUnknown)
    assert posts(fake) == 1 and searches(fake) == 3 and fake.remaining == 0
    assert sleep.waits == [0.05, 0.1]  # the status interval, doubling


async def test_409_same_key_in_flight_is_sent_again(make_gateway: MakeGateway):
    fake = FakeStripe("idempotency_key_in_use")
    result = await make_gateway(fake).sale(card("4242424242424242"), 1250, "usd", "pay-409")

    assert isinstance(result, Approved) and result.reference == "pi_3R0aPprvIVRtestConflic1"


async def test_a_lost_answer_is_settled_by_replaying_the_same_request(
    make_gateway: MakeGateway,
):
    """Stripe replays the saved answer to the same key and parameters: no second charge."""
    fake = FakeStripe("sale_approved")
    fake.answers_lost = {1}
    result = await make_gateway(fake).sale(card("4242424242424242"), 1250, "usd", "pay-approved")

    assert result == APPROVED
    assert posts(fake) == 2 and searches(fake) == 0
    assert fake.ledger.charges == {"pay-approved": 1}


async def test_a_request_lost_before_sending_is_simply_sent(make_gateway: MakeGateway):
    fake = FakeStripe("sale_approved")
    fake.lost_before_sending = {1, 2}
    result = await make_gateway(fake).sale(card("4242424242424242"), 1250, "usd", "pay-approved")

    assert result == APPROVED and fake.ledger.charges == {"pay-approved": 1}


async def test_never_reached_stripe_is_an_error_with_no_search(make_gateway: MakeGateway):
    fake = FakeStripe()
    fake.lost_before_sending = set(range(1, 20))
    result = await make_gateway(fake).sale(card("4242424242424242"), 1250, "usd", "pay-down")

    assert result == Error("Stripe could not be reached", retryable=True)
    assert fake.seen == []


async def test_every_answer_lost_then_search_finds_the_payment(make_gateway: MakeGateway):
    fake = FakeStripe("sale_approved", "search_found")
    fake.answers_lost = {1, 2, 3, 4}
    result = await make_gateway(fake).sale(card("4242424242424242"), 1250, "usd", "pay-approved")

    assert result == APPROVED
    assert posts(fake) == 4 and searches(fake) == 1
    assert fake.ledger.charges == {"pay-approved": 1}


async def test_every_answer_lost_and_not_searchable_yet_is_unknown(make_gateway: MakeGateway):
    fake = FakeStripe("sale_approved")
    fake.script.extend(empty_search("pay-approved") for _ in range(3))
    fake.answers_lost = {1, 2, 3, 4}
    result = await make_gateway(fake).sale(card("4242424242424242"), 1250, "usd", "pay-approved")

    assert result == Unknown("no answer within the read timeout; the payment needs reconciliation")
    assert fake.ledger.charges == {"pay-approved": 1}  # it did go through: reconcile later


async def test_status_by_key_finds_an_approved_payment(make_gateway: MakeGateway):
    fake = FakeStripe("search_found")
    assert await make_gateway(fake).status("pay-approved") == APPROVED
    [search] = fake.seen
    assert search.method == "GET" and "idempotency-key" not in search.headers


async def test_status_by_key_finds_a_declined_payment(make_gateway: MakeGateway):
    fake = FakeStripe("search_found_declined")
    result = await make_gateway(fake).status("pay-decline-insufficient_funds")

    assert result == Declined("insufficient_funds", "the card has insufficient funds")


async def test_status_of_a_key_never_sent_is_not_found(make_gateway: MakeGateway):
    fake = FakeStripe("search_empty")
    assert await make_gateway(fake).status("pay-never-sent") == RequestNotFound()


async def test_a_search_miss_right_after_sending_is_unknown_not_not_found(
    make_gateway: MakeGateway, clock: Clock
):
    """Stripe's search index trails writes by up to a minute: a miss then proves nothing."""
    fake = FakeStripe("sale_approved")
    fake.script.extend(empty_search("pay-approved") for _ in range(2))
    gateway = make_gateway(fake)
    await gateway.sale(card("4242424242424242"), 1250, "usd", "pay-approved")

    clock.now += 30
    assert await gateway.status("pay-approved") == Unknown(
        "Stripe's search does not show this payment yet; ask again later"
    )
    clock.now += 300
    assert await gateway.status("pay-approved") == RequestNotFound()


async def test_check_passes_with_a_good_key_and_names_a_bad_one(make_gateway: MakeGateway):
    good = FakeStripe()
    good.script.append(empty_search("payivr-connectivity-check"))
    assert await make_gateway(good).check() is None

    bad = FakeStripe("unauthorized")
    assert await make_gateway(bad).check() == Error(
        "Stripe did not accept the secret key", retryable=False
    )
