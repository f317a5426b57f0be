"""What the agent's console is told while a caller pays, through payivr's own wiring: the
caller confirming, the card's brand as the first digits tell it, brand and last four once
the number is complete (never more), "authorising", and when each happened."""

from __future__ import annotations

from datetime import datetime

from payivr.calls.requests import PaymentRequest
from payivr.core.request import PrivacyMode
from tests.e2e.harness import System, key_card


async def test_the_console_hears_confirming_the_brand_authorising_and_times(
    system: System,
) -> None:
    caller, agent = system.phones()
    request = PaymentRequest("Annual plan", 13742, "USD", "alice", privacy_mode=PrivacyMode.HOLD)
    payment_id = await system.takeover(caller, agent, request)
    await key_card(caller)
    assert (await system.finished())["outcome"] == "approved"
    events = [e for e in system.events if e.get("payment") == payment_id]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "payment_started" and kinds[-1] == "payment_finished"
    # The card is with the gateway after the last step is done, before the outcome.
    authorizing = kinds.index("authorizing")
    last_step = max(i for i, kind in enumerate(kinds) if kind == "step")
    assert last_step < authorizing < len(kinds) - 1
    steps = [e for e in events if e["type"] == "step"]
    amount = next(e for e in steps if e["step"] == "amount" and e["status"] == "entering")
    assert amount["confirming"] is True  # the caller hears the amount and presses 1
    card = [e for e in steps if e["step"] == "card_number"]
    keyed = [e for e in card if e["digits_entered"] and not e["confirming"]]
    assert {e["brand"] for e in keyed} == {"Visa"}  # from the first digit on
    assert {e["last_four"] for e in keyed} == {None}  # the last four only once complete
    read_back = next(e for e in card if e["confirming"])
    assert (read_back["brand"], read_back["last_four"]) == ("Visa", "4242")
    assert [e["status"] for e in card][-1] == "done"
    times = [datetime.fromisoformat(e["at"]) for e in events]
    assert times == sorted(times) and all(t.tzinfo is not None for t in times)
    await system.hang_up_all(caller, agent)
    await system.check_nothing_left()
