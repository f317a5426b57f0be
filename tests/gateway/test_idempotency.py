"""Never charge twice: idempotency at the sandbox, lost answers, crashes, concurrency."""

import asyncio
import json

from _gateway_helpers import Keys, MakeClient, Pki, card, signed_request, until

from payivr.core.events import GatewayFailure
from payivr.gateway import Approved, RequestNotFound, RetryPolicy, Unknown, to_flow_event
from payivr.gateway.interface import NO_RECORD_REASON
from payivr.gateway.jwe import encrypt_card
from payivr.gateway.sandbox import RunningSandbox


def sale_body(keys: Keys, number: str = "4242424242424242", amount: int = 1000) -> bytes:
    token = encrypt_card(card(number), keys.encryption_key)
    return json.dumps({"amount_minor": amount, "currency": "GBP", "card": token}).encode()


def posts(sandbox: RunningSandbox, key: str) -> int:
    return sum(
        1
        for arrival in sandbox.processor.arrivals
        if arrival["method"] == "POST" and arrival["idempotency_key"] == key
    )


async def test_same_key_same_request_gets_the_stored_answer(
    sandbox: RunningSandbox, pki: Pki, keys: Keys
):
    body = sale_body(keys)
    first = await signed_request(sandbox, pki, "POST", "/v1/sales", body, key="k1")
    second = await signed_request(sandbox, pki, "POST", "/v1/sales", body, key="k1")

    assert first[0] == second[0] == 200
    assert first[2] == second[2]
    assert second[1].get("Idempotent-Replayed") == "true"
    assert sandbox.processor.ledger.charges("k1") == 1


async def test_same_key_same_card_encrypted_again_is_the_same_request(
    make_client: MakeClient, sandbox: RunningSandbox
):
    client = make_client()
    first = await client.sale(card("4242424242424242"), 1000, "GBP", "pay-twice")
    second = await client.sale(card("4242424242424242"), 1000, "GBP", "pay-twice")
    assert isinstance(first, Approved) and first == second
    assert sandbox.processor.ledger.charges("pay-twice") == 1


async def test_same_key_different_request_is_refused_with_422(
    sandbox: RunningSandbox, pki: Pki, keys: Keys, make_client: MakeClient
):
    await signed_request(sandbox, pki, "POST", "/v1/sales", sale_body(keys), key="k2")
    status, _, body = await signed_request(
        sandbox, pki, "POST", "/v1/sales", sale_body(keys, amount=999), key="k2"
    )
    assert status == 422 and body["error"] == "idempotency_key_reused"
    other_card = await signed_request(
        sandbox, pki, "POST", "/v1/sales", sale_body(keys, "5555555555554444"), key="k2"
    )
    assert other_card[0] == 422
    from_client = await make_client().sale(card("4242424242424242"), 5, "GBP", "k2")
    assert to_flow_event(from_client).__class__ is GatewayFailure
    assert sandbox.processor.ledger.charges("k2") == 1


async def test_same_key_while_in_flight_is_refused_with_409(
    sandbox: RunningSandbox, pki: Pki, keys: Keys
):
    sandbox.faults.latency = 0.2
    body = sale_body(keys)
    first = asyncio.create_task(signed_request(sandbox, pki, "POST", "/v1/sales", body, key="k3"))
    await until(lambda: posts(sandbox, "k3") == 1)
    status, _, answer = await signed_request(sandbox, pki, "POST", "/v1/sales", body, key="k3")
    assert status == 409 and answer["error"] == "idempotency_in_flight"
    status, _, progress = await signed_request(sandbox, pki, "GET", "/v1/requests/k3")
    assert status == 200 and progress["state"] == "processing"
    assert (await first)[0] == 200
    assert sandbox.processor.ledger.charges("k3") == 1


async def test_two_concurrent_sales_with_one_key_charge_once(
    make_client: MakeClient, sandbox: RunningSandbox
):
    sandbox.faults.latency = 0.1
    patient = RetryPolicy(attempts=10, backoff=0.02, max_backoff=0.05)
    client = make_client(retry=patient)
    results = await asyncio.gather(
        client.sale(card("4242424242424242"), 700, "GBP", "pay-race"),
        make_client(retry=patient).sale(card("4242424242424242"), 700, "GBP", "pay-race"),
    )
    assert isinstance(results[0], Approved) and results[0] == results[1]
    assert sandbox.processor.ledger.charges("pay-race") == 1
    assert posts(sandbox, "pay-race") >= 3  # one charge, one or more 409s, one replay


async def test_dropped_answer_is_settled_by_status_with_one_charge(
    make_client: MakeClient, sandbox: RunningSandbox
):
    sandbox.faults.drop_responses = 1
    result = await make_client().sale(card("4242424242424242"), 1500, "GBP", "pay-drop")

    assert isinstance(result, Approved)
    assert sandbox.processor.ledger.charges("pay-drop") == 1
    assert posts(sandbox, "pay-drop") == 1  # asked, never sent again
    statuses = [a for a in sandbox.processor.arrivals if a["path"] == "/v1/requests/pay-drop"]
    assert len(statuses) == 1


async def test_read_timeout_after_sending_is_settled_by_status(
    make_client: MakeClient, sandbox: RunningSandbox
):
    sandbox.faults.latency = 0.2
    client = make_client(
        read_timeout=0.05, retry=RetryPolicy(status_queries=6, status_interval=0.05)
    )
    result = await client.sale(card("5555555555554444"), 100, "GBP", "pay-slow")

    assert isinstance(result, Approved)
    assert posts(sandbox, "pay-slow") == 1
    assert sandbox.processor.ledger.charges("pay-slow") == 1


async def test_still_unknown_after_status_queries_means_reconciliation_not_a_new_charge(
    make_client: MakeClient, sandbox: RunningSandbox
):
    sandbox.faults.latency = 0.3
    client = make_client(
        read_timeout=0.05, retry=RetryPolicy(status_queries=2, status_interval=0.01)
    )
    result = await client.sale(card("4242424242424242"), 100, "GBP", "pay-unknown")

    assert isinstance(result, Unknown) and "reconciliation" in result.reason
    await until(lambda: sandbox.processor.ledger.charges("pay-unknown") == 1)
    assert posts(sandbox, "pay-unknown") == 1
    # Later, anyone can settle it by key.
    assert isinstance(await make_client().status("pay-unknown"), Approved)


async def test_crash_between_sending_and_recording_is_resolved_by_a_new_process(
    make_client: MakeClient, sandbox: RunningSandbox
):
    sandbox.faults.latency = 0.1
    crashed = make_client()
    in_flight = asyncio.create_task(
        crashed.sale(card("6011111111111117"), 2500, "USD", "pay-crash")
    )
    await until(lambda: posts(sandbox, "pay-crash") == 1)
    in_flight.cancel()  # the process dies: no outcome recorded
    await crashed.close()

    restarted = make_client()
    outcome = await restarted.status("pay-crash")
    while isinstance(outcome, Unknown):  # the gateway is still processing it
        await asyncio.sleep(0.02)
        outcome = await restarted.status("pay-crash")

    assert isinstance(outcome, Approved) and outcome.last_four == "1117"
    await until(lambda: sandbox.processor.ledger.charges("pay-crash") == 1)
    assert posts(sandbox, "pay-crash") == 1


async def test_crash_before_sending_leaves_nothing_at_the_gateway(make_client: MakeClient):
    outcome = await make_client().status("pay-never-sent")
    assert outcome == RequestNotFound()
    assert to_flow_event(outcome) == GatewayFailure(NO_RECORD_REASON)
