"""The REST API and its event stream on a real database and the real payment flow."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _console_helpers import ALICE, BOB, GOOD_KEYS, SAM, Client, Console


async def _request(client: Client, **body: Any) -> Any:
    response = await client.send(
        "/api/v1/payments", {"item": "Annual plan", "amount": "137.42", **body}
    )
    return response.status, await response.json()


NOT_A_USD_NUMBER = "the amount must be a number such as 1,234.56 (in USD)"


async def _audit_actions(console: Console, actor: str) -> list[tuple[str, bool]]:
    from payivr.store.payments import PaymentStore

    events = await PaymentStore(console.db).list_audit(actor=actor, limit=500)
    return [(event.action, event.success) for event in events]


# ------------------------------------------------------------------ a whole payment


async def test_agent_requests_a_payment_and_follows_it_to_the_transaction_id(
    console: Console, alice: Client
) -> None:
    key = await console.calls.place_call("PJSIP/1001", "+15550123")
    current = await alice.json("/api/v1/calls/current")
    assert current["call"]["call"] == key
    assert current["call"]["caller_number"] == "+15550123"

    async with alice.ws() as socket:
        hello = await socket.receive_json(timeout=5)
        assert hello == {"type": "hello", "live_payments": []}
        status, body = await _request(alice)
        assert status == 201, body
        payment_id = body["payment"]
        assert body["call"] == key
        await console.calls.press(key, GOOD_KEYS)
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["type"] != "payment_finished":
            seen.append(await socket.receive_json(timeout=5))

    assert seen[0]["type"] == "payment_started"
    assert seen[0]["item"] == "Annual plan"
    assert seen[0]["amount_minor"] == 13742
    steps = [(e["step"], e["status"]) for e in seen if e["type"] == "step"]
    for step in ("amount", "card_number", "expiry", "security_code", "postal_code"):
        assert (step, "done") in steps
    entering_counts = [
        e["digits_entered"] for e in seen if e["type"] == "step" and e["step"] == "card_number"
    ]
    assert max(entering_counts) == 16
    finished = seen[-1]
    assert finished["succeeded"] is True
    assert finished["reference"]
    assert finished["card"] == "Visa ending 4242"
    for event in seen:  # the agent never sees the card number, only a count of digits
        assert "4242424242424242" not in str(event)

    await console.calls.records.drain()
    status_body = await alice.json(f"/api/v1/payments/{payment_id}")
    assert status_body["outcome"] == "approved"
    assert status_body["transaction_id"] == finished["reference"]
    assert status_body["card"] == "Visa ending 4242"
    assert {s["status"] for s in status_body["steps"].values()} == {"done"}
    history = await alice.json("/api/v1/payments")
    assert [p["id"] for p in history["payments"]] == [payment_id]
    assert ("payment.requested", True) in await _audit_actions(console, ALICE)


async def test_cancel_during_the_payment_ends_it_as_agent_cancelled(
    console: Console, alice: Client
) -> None:
    key = await console.calls.place_call("PJSIP/1001")
    status, body = await _request(alice)
    assert status == 201
    payment_id = body["payment"]
    await console.calls.press(key, "1" + "4242")

    response = await alice.send(f"/api/v1/payments/{payment_id}/cancel")
    assert response.status == 202, await response.text()
    await console.calls.wait_finished(key, payment_id)
    await console.calls.records.drain()

    payment = await alice.json(f"/api/v1/payments/{payment_id}")
    assert payment["outcome"] == "agent_cancelled"
    assert payment["steps"]["card_number"]["status"] == "failed"
    again = await alice.send(f"/api/v1/payments/{payment_id}/cancel")
    assert again.status == 409
    assert (await again.json())["error"]["code"] == "payment_finished"
    assert ("payment.cancel", True) in await _audit_actions(console, ALICE)


async def test_reask_sends_the_caller_back_to_a_step_they_reached(
    console: Console, alice: Client
) -> None:
    key = await console.calls.place_call("PJSIP/1001")
    status, body = await _request(alice)
    assert status == 201
    payment_id = body["payment"]
    path = f"/api/v1/payments/{payment_id}/reask"
    await console.calls.press(key, "1" + "4242424242424242#" + "1")
    await console.calls.heard(key, "enter-expiry")

    unknown = await alice.send(path, {"step": "pin"})
    assert unknown.status == 422
    assert "step must be one of card_number, expiry" in (await unknown.json())["error"]["message"]
    not_reached = await alice.send(path, {"step": "postal_code"})
    assert not_reached.status == 409
    assert (await not_reached.json())["error"]["code"] == "step_not_available"
    asked = await alice.send(path, {"step": "card_number"})
    assert asked.status == 202, await asked.text()
    assert await asked.json() == {"payment": payment_id, "step": "card_number"}
    await console.calls.heard(key, "agent-asks-again")
    assert ("payment.reask", True) in await _audit_actions(console, ALICE)
    assert ("payment.reask", False) in await _audit_actions(console, ALICE)

    await console.calls.press(key, "4242424242424242#1" + "1230" + "1" + "737" + "1" + "94105#1")
    await console.calls.wait_finished(key, payment_id)
    finished = await alice.send(path, {"step": "card_number"})
    assert finished.status == 409


async def test_a_second_request_while_one_is_in_progress_is_a_conflict(
    console: Console, alice: Client
) -> None:
    await console.calls.place_call("PJSIP/1001")
    assert (await _request(alice))[0] == 201
    status, body = await _request(alice)
    assert status == 409
    assert body["error"]["message"] == "a payment is already in progress on this call"


async def test_no_current_call_is_a_clear_conflict(alice: Client) -> None:
    status, body = await _request(alice)
    assert status == 409
    assert body["error"]["message"] == "you are not on a call right now"


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount": "0"}, "the amount must be more than zero"),
        ({"amount": "0.00"}, "the amount must be more than zero"),
        ({"amount": "-5"}, "the amount cannot be negative"),
        ({"amount": -5}, "the amount cannot be negative"),
        ({"amount": "10000.01"}, "the amount is over the maximum of 10000.00 USD"),
        ({"amount": "twelve"}, NOT_A_USD_NUMBER),
        ({"amount": "12,34"}, NOT_A_USD_NUMBER),
        ({"amount": "1e3"}, NOT_A_USD_NUMBER),
        ({"amount": "NaN"}, NOT_A_USD_NUMBER),
        ({"amount": True}, NOT_A_USD_NUMBER),
        ({"amount": None}, NOT_A_USD_NUMBER),
        ({"amount": [1]}, NOT_A_USD_NUMBER),
        ({"amount": "12.345"}, "the amount must be a whole number of cents"),
        ({"amount": 0.001}, "the amount must be a whole number of cents"),
        ({"amount": "1.5", "currency": "JPY"}, "the amount must be a whole number of JPY"),
        ({"amount": "€5"}, "the amount is written in another currency (€); this request is in USD"),
        (
            {"amount": "1.000", "currency": "EUR"},
            "the amount 1.000 could be 1 or 1000 EUR: write it as 1.234,56 or 1234.56",
        ),
        ({"item": ""}, "the item name is empty"),
        ({"item": "   "}, "the item name is empty"),
        ({"item": "x" * 201}, "the item name is longer than 200 characters"),
        ({"item": 7}, "the item name must be text"),
        (
            {"item": "Order 4242424242424242"},
            "the item name cannot contain 7 or more digits in a row",
        ),
        ({"crm_record_id": "4242424242424242"}, "the CRM record id looks like a card number"),
        ({"crm_record_id": 5}, "crm_record_id must be a string"),
        ({"offer_card_on_file": "yes"}, "offer_card_on_file must be true or false"),
        ({"offer_card_on_file": True, "method": "ach"}, "only a card can be kept on file"),
        ({"currency": "XXX"}, "the currency must be one of AUD, CAD, EUR, GBP, JPY, USD"),
        ({"privacy_mode": "open"}, "the privacy mode must be one of hold, talk-through"),
        ({"language": "fr"}, "the language must be one of en, es"),
        ({"language": ["es"]}, "the language must be one of en, es"),
        ({"call": "no-such-call"}, "there is no such call"),
        ({"call": "../etc"}, "call must be 'current' or a call key"),
    ],
)
async def test_bad_requests_get_a_4xx_with_a_plain_reason(
    console: Console, alice: Client, fields: dict[str, Any], message: str
) -> None:
    await console.calls.place_call("PJSIP/1001")
    status, body = await _request(alice, **fields)
    assert 400 <= status < 500, body
    assert body["error"]["message"] == message
    assert console.calls.calls[next(iter(console.calls.calls))].payment is None


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("1,000.00", "USD", 100000),
        ("$5", "USD", 500),
        ("5", "USD", 500),
        (" $ 1,234.5 ", "USD", 123450),
        ("12.34 USD", "USD", 1234),
        ("-$0", "USD", None),
        ("1.000,50 €", "EUR", 100050),
        ("€5,50", "EUR", 550),
        ("1 000", "EUR", 100000),
        ("12.34", "EUR", 1234),
        ("£1,000", "GBP", 100000),
        ("¥1,500", "JPY", 1500),
        ("C$20", "CAD", 2000),
    ],
)
async def test_amounts_are_understood_as_agents_type_them(
    console: Console, alice: Client, amount: str, currency: str, minor: int | None
) -> None:
    await console.calls.place_call("PJSIP/1001")
    status, body = await _request(alice, amount=amount, currency=currency)
    if minor is None:
        assert status == 422
        assert body["error"]["message"] == "the amount must be more than zero"
        return
    assert status == 201, body
    shown = await alice.json(body["status_url"])
    assert (shown["amount_minor"], shown["currency"]) == (minor, currency)


async def test_missing_fields_and_malformed_bodies(console: Console, alice: Client) -> None:
    await console.calls.place_call("PJSIP/1001")
    headers = {"X-CSRF-Token": alice.csrf}
    missing = await alice.send("/api/v1/payments", {"item": "Plan"})
    assert missing.status == 422
    assert (await missing.json())["error"]["message"] == "the amount is missing"
    not_json = await alice.post("/api/v1/payments", data="item=Plan", headers=headers)
    assert not_json.status == 415
    broken = await alice.post(
        "/api/v1/payments", data="{", headers={**headers, "Content-Type": "application/json"}
    )
    assert broken.status == 400
    array = await alice.send("/api/v1/payments", [1, 2])
    assert array.status == 400
    huge = await alice.post(
        "/api/v1/payments",
        data='{"item": "' + "x" * 100_000 + '"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert huge.status == 413
    assert (await huge.json())["error"]["code"] == "too_large"


async def test_unknown_and_malformed_payment_ids_are_404(alice: Client) -> None:
    for path in (
        "/api/v1/payments/not-a-uuid",
        "/api/v1/payments/6b0d6a52-66c3-4b52-9f3e-3c5e9b1f0a11",
    ):
        response = await alice.get(path)
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "unknown_payment"


async def test_bad_history_limit_is_422(alice: Client) -> None:
    for limit in ("0", "-1", "abc", "100000"):
        response = await alice.get(f"/api/v1/payments?limit={limit}")
        assert response.status == 422, limit


# ------------------------------------------------------------------ authorization


async def test_an_agent_cannot_see_or_act_on_another_agents_call_or_payment(
    console: Console, alice: Client, bob: Client
) -> None:
    alices_call = await console.calls.place_call("PJSIP/1001")
    status, body = await _request(alice)
    assert status == 201
    payment_id = body["payment"]

    # Bob's "current call" is not Alice's; he cannot request on it by key either.
    assert (await bob.json("/api/v1/calls/current"))["call"] is None
    assert (await bob.json("/api/v1/calls"))["calls"] == []
    status, body = await _request(bob, call=alices_call)
    assert status == 404
    assert body["error"]["code"] == "unknown_call"
    # Her payment does not exist for him: status, cancel, history.
    assert (await bob.get(f"/api/v1/payments/{payment_id}")).status == 404
    assert (await bob.send(f"/api/v1/payments/{payment_id}/cancel")).status == 404
    assert (await bob.json("/api/v1/payments"))["payments"] == []
    assert (await bob.json("/api/v1/payments?agent=Alice%20Agent"))["payments"] == []
    # The payment is still running, untouched.
    assert console.calls.calls[alices_call].payment is not None
    assert ("payment.denied", False) in await _audit_actions(console, BOB)


async def test_agents_do_not_receive_other_agents_events(
    console: Console, alice: Client, bob: Client, sam: Client
) -> None:
    async with alice.ws() as alice_socket, bob.ws() as bob_socket, sam.ws() as sam_socket:
        for socket in (alice_socket, bob_socket, sam_socket):
            assert (await socket.receive_json(timeout=5))["type"] == "hello"
        await console.calls.place_call("PJSIP/1001")
        assert (await _request(alice))[0] == 201
        bobs_call = await console.calls.place_call("PJSIP/1002")

        alice_first = [await alice_socket.receive_json(timeout=5) for _ in range(2)]
        assert [e["type"] for e in alice_first] == ["call_started", "payment_started"]
        bob_first = await bob_socket.receive_json(timeout=5)
        assert bob_first["type"] == "call_started"
        assert bob_first["call"] == bobs_call  # Bob's first event is his own call, not hers
        sam_seen: list[dict[str, Any]] = []
        while len([e for e in sam_seen if e["type"] == "call_started"]) < 2:
            sam_seen.append(await sam_socket.receive_json(timeout=5))
        kinds = [e["type"] for e in sam_seen if e["type"] != "step"]
        assert kinds == ["call_started", "payment_started", "call_started"]
        await console.calls.hang_up(bobs_call)
        assert (await bob_socket.receive_json(timeout=5))["type"] == "call_ended"


async def test_a_supervisor_sees_every_call_the_whole_history_and_the_audit_trail(
    console: Console, alice: Client, bob: Client, sam: Client
) -> None:
    await console.calls.place_call("PJSIP/1001")
    await console.calls.place_call("PJSIP/1002")
    assert (await _request(alice))[0] == 201
    assert (await _request(bob))[0] == 201
    calls = (await sam.json("/api/v1/calls"))["calls"]
    assert sorted(c["agent_endpoint"] for c in calls) == ["PJSIP/1001", "PJSIP/1002"]
    history = (await sam.json("/api/v1/payments"))["payments"]
    assert sorted(p["agent"] for p in history) == [ALICE, BOB]
    only_bob = (await sam.json("/api/v1/payments?agent=Bob%20Agent"))["payments"]
    assert [p["agent"] for p in only_bob] == [BOB]
    audit = (await sam.json("/api/v1/audit"))["events"]
    actions = {(e["actor"], e["action"]) for e in audit}
    assert {
        (ALICE, "login.ok"),
        (ALICE, "payment.requested"),
        (BOB, "payment.requested"),
    } <= actions
    forbidden = await alice.get("/api/v1/audit")
    assert forbidden.status == 403
    assert ("audit.viewed", False) in await _audit_actions(console, ALICE)
    assert ("history.viewed", True) in await _audit_actions(console, SAM)


# ------------------------------------------------------------------ API tokens


async def test_a_bearer_token_acts_as_its_agent_with_the_same_rules(
    console: Console,
) -> None:
    token = await console.accounts.issue_token(ALICE, "crm button")
    await console.calls.place_call("PJSIP/1001")
    bobs_call = await console.calls.place_call("PJSIP/1002")
    async with console.client(Authorization=f"Bearer {token}") as crm:
        # No CSRF token needed: nothing ambient is sent.
        created = await crm.post("/api/v1/payments", json={"item": "Renewal", "amount": 20})
        assert created.status == 201, await created.text()
        payment_id = (await created.json())["payment"]
        assert (await crm.json(f"/api/v1/payments/{payment_id}"))["agent"] == ALICE
        on_bob = await crm.post(
            "/api/v1/payments", json={"item": "X", "amount": 1, "call": bobs_call}
        )
        assert on_bob.status == 404
        assert (await crm.get("/api/v1/audit")).status == 403
    async with console.client(Authorization="Bearer pivr_wrong") as stranger:
        assert (await stranger.get("/api/v1/me")).status == 401
    assert await console.accounts.revoke_token(token)
    async with console.client(Authorization=f"Bearer {token}") as revoked:
        assert (await revoked.get("/api/v1/me")).status == 401
    actions = await _audit_actions(console, ALICE)
    assert ("api_token.used", True) in actions
    assert ("payment.requested", True) in actions
    assert ("api_token.refused", False) in await _audit_actions(console, "unknown")


async def test_the_event_stream_accepts_a_bearer_token(console: Console) -> None:
    token = await console.accounts.issue_token(BOB, "wallboard")
    async with console.client(Authorization=f"Bearer {token}") as crm, crm.ws() as socket:
        assert (await socket.receive_json(timeout=5))["type"] == "hello"
        await console.calls.place_call("PJSIP/1002")
        assert (await socket.receive_json(timeout=5))["type"] == "call_started"


async def test_the_event_stream_refuses_strangers_and_other_sites(
    console: Console, alice: Client
) -> None:
    async with console.client() as stranger:
        response = await stranger.get("/api/v1/events")
        assert response.status == 401
    response = await alice.get(
        "/api/v1/events",
        headers={
            "Origin": "https://evil.example",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert response.status == 403


async def test_a_console_reconnecting_mid_payment_gets_the_steps_so_far(
    console: Console, alice: Client
) -> None:
    key = await console.calls.place_call("PJSIP/1001")
    payment_id = (await _request(alice))[1]["payment"]
    async with alice.ws() as first_console:
        await console.calls.press(key, "1" + "42424242")
        while True:  # the first console sees the eighth digit arrive
            event = await first_console.receive_json(timeout=5)
            if event["type"] == "step" and event.get("digits_entered") == 8:
                break
            # Events are delivered on their own task: the digits may already be in the hello.
            live = {p["payment"]: p for p in event.get("live_payments", [])}.get(payment_id)
            if live and live["steps"].get("card_number", {}).get("digits_entered") == 8:
                break
    async with alice.ws() as socket:
        hello = await socket.receive_json(timeout=5)
    (live,) = hello["live_payments"]
    assert live["payment"] == payment_id
    amount = live["steps"]["amount"]
    assert amount["status"] == "done"
    assert amount["started_at"] <= amount["ended_at"]  # how long the caller took: shown
    card_number = live["steps"]["card_number"]
    assert card_number["started_at"] >= amount["ended_at"]
    assert card_number == {
        "status": "entering",
        "digits_entered": 8,
        "card": None,
        "bank_account": None,
        "detail": "",
        "brand": "Visa",  # known from the first digit; the last four only once complete
        "last_four": None,
        "confirming": False,
        "started_at": card_number["started_at"],
        "ended_at": None,
    }
    current = await alice.json("/api/v1/calls/current")
    assert current["live_payment"]["payment"] == payment_id


async def test_the_console_forgets_nothing_when_many_events_arrive_at_once(
    console: Console, sam: Client
) -> None:
    async with sam.ws() as socket:
        await socket.receive_json(timeout=5)
        keys = await asyncio.gather(
            *(console.calls.place_call(f"PJSIP/{2000 + n}") for n in range(20))
        )
        got = [await socket.receive_json(timeout=5) for _ in keys]
    assert sorted(e["call"] for e in got) == sorted(keys)
