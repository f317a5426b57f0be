"""The flow driver: its event queue is bounded (a flood of keys cannot grow it); its timers."""

from __future__ import annotations

import asyncio
from datetime import date

from payivr.calls.driver import MAX_QUEUED_EVENTS, FlowDriver
from payivr.core.events import (
    AgentUpdate,
    CallerHangup,
    Finish,
    GatewayApproval,
    KeyPress,
    PromptFinished,
    PromptPart,
    Step,
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


class PromptsEndAtOnce(Silent):
    """Each prompt ends as soon as it starts; the agent's view notes when each update came."""

    def __init__(self) -> None:
        self.driver: FlowDriver | None = None
        self.updates: list[tuple[float, AgentUpdate]] = []

    async def play(self, parts: tuple[PromptPart, ...], sequence: int) -> None:
        assert self.driver is not None
        self.driver.post(PromptFinished(sequence))

    async def step_changed(self, update: AgentUpdate) -> None:
        self.updates.append((asyncio.get_running_loop().time(), update))


async def test_the_inter_digit_timer_rings_once_its_time_after_the_last_key() -> None:
    """Each key restarts the timer: keys closer together than its time never make it ring;
    after the last one it rings that time later, once."""
    config = FlowConfig(inter_digit_timeout=0.3)
    flow = PaymentFlow("p-1", 100, "USD", config, date(2026, 11, 21))
    media = PromptsEndAtOnce()
    driver = FlowDriver(flow, media, never_charged, media)
    media.driver = driver
    running = asyncio.create_task(driver.run())
    driver.post(KeyPress("1"))  # the amount is right: the card number is asked for
    await asyncio.sleep(0.05)
    for digit in "424242":
        driver.post(KeyPress(digit))
        await asyncio.sleep(0.15)  # half the timer's time
    await asyncio.sleep(0.6)
    driver.post(CallerHangup())
    await running

    card = [(at, u) for at, u in media.updates if u.step is Step.CARD_NUMBER]
    [last_key] = [at for at, u in card if u.digits_entered == 6]  # no pause in between
    paused = [at for at, u in card if "paused" in u.detail]
    assert len(paused) == 1  # asked again once, after the pause
    assert 0.29 <= paused[0] - last_key <= 0.5
