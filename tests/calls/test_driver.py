"""The flow driver's event queue is bounded: a flood of keys cannot grow it."""

from __future__ import annotations

from datetime import date

from payivr.calls.driver import MAX_QUEUED_EVENTS, FlowDriver
from payivr.core.events import (
    AgentUpdate,
    CallerHangup,
    Finish,
    GatewayApproval,
    KeyPress,
    PromptPart,
)
from payivr.core.flow import FlowConfig, PaymentFlow


class Silent:
    async def play(self, parts: tuple[PromptPart, ...], sequence: int) -> None:
        """Nothing plays."""

    async def stop(self, sequence: int) -> None:
        """Nothing to stop."""

    async def reconnect(self, agent_present: bool) -> None:
        """No agent."""

    async def playback_finished(self, playback_id: str) -> None:
        """Nothing played."""

    async def resync(self) -> None:
        """Nothing missed."""

    async def step_changed(self, update: AgentUpdate) -> None:
        """Nobody watches."""

    async def finished(self, finish: Finish) -> None:
        """Nobody watches."""


async def never_charged(_: object) -> GatewayApproval:
    raise AssertionError("no card is keyed here")


async def test_keys_past_the_bound_are_dropped_and_counted_but_a_hangup_is_not() -> None:
    flow = PaymentFlow("p-1", 100, "USD", FlowConfig(), date(2026, 11, 21))
    media = Silent()
    driver = FlowDriver(flow, media, never_charged, media)
    for _ in range(1_000):
        driver.post(KeyPress("5"))
    assert driver.queued == MAX_QUEUED_EVENTS  # the start, then keys
    assert driver.keys_dropped == 1_000 - (MAX_QUEUED_EVENTS - 1)
    driver.post(CallerHangup())  # never dropped, whatever the keys did meanwhile
    finish = await driver.run()
    # Fives are no answer to the amount: the payment fails on the keys, then ends for good.
    assert finish.outcome.value == "attempts_exhausted"
    assert not flow.holds_card_data()
