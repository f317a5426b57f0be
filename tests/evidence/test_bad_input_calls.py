"""Bad input from callers and from Asterisk, end to end (issue 8 §2): keys during read-backs,
entries longer than any brand allows, keys the flow does not use, a DTMF flood, channels that
vanish between an event and payivr's request. Each ends with the payment in a correct state
and nothing left in Asterisk; none crashes a payment (``payment_crashed``)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from payivr.calls.driver import MAX_QUEUED_EVENTS
from payivr.calls.session import CallSession
from tests.e2e.harness import VISA, answer_prompt, heard, key_card, key_rest_of_card
from tests.e2e.phones import Phone, SimulatedPhone, prompts
from tests.evidence.conftest import Evidence

PAYLINE = "payline"


async def ended(caller: Phone) -> None:
    """The pay line hangs up after its goodbye; hang up ourselves if it has not."""
    try:
        await caller.wait_for(lambda p: p.leg is None, within=5)
    except TimeoutError:
        await caller.hangup()


def crashed(evidence: Evidence) -> list[str]:
    return [
        line for line in evidence.capture.log.getvalue().splitlines() if "payment_crashed" in line
    ]


async def pay_line_call(evidence: Evidence, index: int = 0) -> tuple[Phone, str]:
    """A caller on the pay line (13742 cents); returns the phone and the payment id."""
    system = evidence.system
    caller, _ = system.phones(index)
    await system.target.call_entry(caller, PAYLINE, None)
    leg = caller.leg or ""
    started = await system.wait_event(
        lambda e: e["type"] == "payment_started" and e["call"].endswith(leg)
    )
    return caller, started["payment"]


async def outcome(evidence: Evidence, payment_id: str, within: float = 15) -> str:
    finished = await evidence.system.wait_event(
        lambda e: e["type"] == "payment_finished" and e["payment"] == payment_id, within
    )
    return str(finished["outcome"])


async def wait_heard_media(phone: Phone, uri: str) -> None:
    await phone.wait_for(lambda p: uri in p.heard, within=10)


async def test_keys_during_every_read_back_are_taken_and_the_payment_goes_on(
    evidence: Evidence,
) -> None:
    """The caller keys while the amount, the card's last four and the expiry are read back
    (number:/digits: parts that Asterisk cannot stop: it answers 500 and plays on)."""
    caller, payment_id = await pay_line_call(evidence)
    await wait_heard_media(caller, "number:137")
    await caller.press("1", duration_ms=20, gap_ms=20)
    await answer_prompt(caller, "enter-card-number", VISA + "#")
    await wait_heard_media(caller, "digits:4242")
    await caller.press("1", duration_ms=20, gap_ms=20)
    await answer_prompt(caller, "enter-expiry", "1230")
    await wait_heard_media(caller, "number:2030")
    await caller.press("1", duration_ms=20, gap_ms=20)
    await answer_prompt(caller, "enter-security-code", "123")
    await answer_prompt(caller, "security-code-entered", "1")
    await answer_prompt(caller, "enter-postal-code", "90210#")
    await answer_prompt(caller, "postal-code-is", "1")
    assert await outcome(evidence, payment_id) == "approved"
    assert "payment-error" not in prompts(caller)
    assert crashed(evidence) == []
    await ended(caller)
    await evidence.system.check_nothing_left()


async def test_an_entry_longer_than_any_brand_allows_is_refused_then_keyed_again(
    evidence: Evidence,
) -> None:
    """25 digits: the entry ends by itself at 20 (one more than any brand allows) and is
    refused; the 5 keys after it and ``#`` are the next (refused) entry; the third is good."""
    caller, payment_id = await pay_line_call(evidence)
    await answer_prompt(caller, "confirm-amount", "1")
    await heard(caller, "enter-card-number")
    await caller.press("4" * 25 + "#", duration_ms=20, gap_ms=20)
    await caller.wait_for(lambda p: prompts(p).count("invalid-card-number") == 2, within=10)
    await caller.press(VISA + "#", duration_ms=80, gap_ms=120)
    await key_rest_of_card(caller)
    assert await outcome(evidence, payment_id) == "approved"
    await ended(caller)
    await evidence.system.check_nothing_left()


async def test_forty_digits_at_once_use_up_the_attempts(evidence: Evidence) -> None:
    """Keys typed ahead count: 20 + 20 + ``#`` are three refused entries."""
    caller, payment_id = await pay_line_call(evidence)
    await answer_prompt(caller, "confirm-amount", "1")
    await heard(caller, "enter-card-number")
    await caller.press("4" * 40 + "#", duration_ms=20, gap_ms=20)
    assert await outcome(evidence, payment_id) == "attempts_exhausted"
    assert prompts(caller)[-2:] == ["too-many-attempts", "goodbye"]
    assert crashed(evidence) == []
    await ended(caller)
    await evidence.system.check_nothing_left()


async def test_keys_the_flow_does_not_use_are_ignored(evidence: Evidence) -> None:
    """Some handsets have A-D keys; Asterisk passes them on. They change nothing."""
    caller, payment_id = await pay_line_call(evidence)
    await answer_prompt(caller, "confirm-amount", "A1")
    await answer_prompt(caller, "enter-card-number", "B" + VISA + "CD#")
    await key_rest_of_card(caller)
    assert await outcome(evidence, payment_id) == "approved"
    assert crashed(evidence) == []
    await ended(caller)
    await evidence.system.check_nothing_left()


def flow_session(evidence: Evidence, payment_id: str) -> CallSession:
    for session in evidence.system.running.stasis.sessions.values():
        payment = session.payment
        if payment is not None and str(payment.payment_id) == payment_id:
            return session
    raise LookupError(payment_id)


async def timed_payment(evidence: Evidence, index: int) -> tuple[str, float]:
    caller, payment_id = await pay_line_call(evidence, index)
    started = time.monotonic()
    await key_card(caller, VISA)
    result = await outcome(evidence, payment_id, within=30)
    elapsed = time.monotonic() - started
    await ended(caller)
    return result, elapsed


@pytest.mark.parametrize("flow_settings", [{"max_attempts": 1000}])
async def test_a_dtmf_flood_is_bounded_and_other_calls_still_pay(
    evidence: Evidence, flow_settings: dict[str, Any]
) -> None:
    """1,000 keys a second on one call for as long as another call pays: the flooded call's
    queue never holds more than MAX_QUEUED_EVENTS, keys past it are dropped and counted, and
    the other caller's payment is approved. (1,000 attempts allowed, so that the flood's
    20-digit entries, all refused, keep the flooded payment going; ``*`` then cancels it.)

    The other payment's time with and without the flood is printed (``-s``), not asserted:
    the promise is behaviour, the speed is measured in bench/."""
    quiet_result, quiet = await timed_payment(evidence, 1)
    assert quiet_result == "approved"

    flooded, flooded_payment = await pay_line_call(evidence, 2)
    await heard(flooded, "confirm-amount")
    session = flow_session(evidence, flooded_payment)
    assert session.payment is not None
    driver = session.payment.driver
    sim = evidence.sim_target.sim
    channel = sim.find_channel(flooded.leg or "")
    stop = asyncio.Event()
    deepest = 0
    sent = 0

    async def flood() -> None:
        nonlocal deepest, sent
        keys = "1234567890"
        while not stop.is_set() and flooded.leg is not None:
            for key in keys:  # ten keys every 10 ms: 1,000 a second
                sim.engine.dtmf.device_dtmf(channel, key, 1)
                sent += 1
            deepest = max(deepest, driver.queued)
            await asyncio.sleep(0.01)

    flooding = asyncio.create_task(flood())
    await asyncio.sleep(0.2)
    try:
        result, during = await timed_payment(evidence, 3)
    finally:
        stop.set()
        await flooding
    assert result == "approved"
    assert sent >= 200  # keys past MAX_QUEUED_EVENTS are dropped only if the call falls behind
    assert deepest <= MAX_QUEUED_EVENTS + 1  # plus at most one non-key event
    await evidence.system.wait_until(lambda: driver.queued == 0, within=20)
    await flooded.press("*")
    assert await outcome(evidence, flooded_payment, within=20) == "cancelled"
    assert crashed(evidence) == []
    print(
        f"\nother call's payment: {quiet:.2f} s quiet, {during:.2f} s during a flood of"
        f" {sent} keys ({driver.keys_dropped} dropped, deepest queue {deepest})"
    )
    await ended(flooded)
    await evidence.system.check_nothing_left()


async def test_a_caller_gone_just_before_a_prompt_request_ends_the_payment_cleanly(
    evidence: Evidence,
) -> None:
    """The caller's channel vanishes between the key payivr reacts to and its play request
    (hung up inside the simulator as the request arrives): the play answers 404, the payment
    ends as the caller hanging up, nothing is charged or left behind."""
    sim = evidence.sim_target.sim
    caller, payment_id = await pay_line_call(evidence)
    assert isinstance(caller, SimulatedPhone)
    vanished: list[str] = []

    def hang_up_first(method: str, path: str, body: bytes) -> None:
        if method == "POST" and "/play" in path and "enter-card-number" in path and not vanished:
            channel = sim.find_channel(caller.leg or "")
            vanished.append(channel.id)
            sim.engine.lifecycle.hangup(channel, initiator="device")

    sim.add_request_observer(hang_up_first)
    await answer_prompt(caller, "confirm-amount", "1")
    assert await outcome(evidence, payment_id) == "caller_hung_up"
    assert vanished
    assert crashed(evidence) == []
    assert evidence.system.sandbox.processor.ledger.charges(payment_id) == 0
    await evidence.system.check_nothing_left()
