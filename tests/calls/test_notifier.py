"""The notifier under a listener that cannot keep up: calls go on, the oldest events go."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from payivr.calls.notifier import CallEnded, CallStarted, Notifier, PaymentEvent
from payivr.core.request import EntryKind


class SmallNotifier(Notifier):
    MAX_BACKLOG = 3


async def test_a_listener_too_far_behind_loses_the_oldest_events_and_publishing_goes_on() -> None:
    notifier = SmallNotifier()
    holding, release = asyncio.Event(), asyncio.Event()
    seen: list[PaymentEvent] = []

    async def stuck(event: PaymentEvent) -> None:
        holding.set()
        await release.wait()
        seen.append(event)

    notifier.subscribe(stuck)
    events = [CallStarted(f"call-{n}", "agent", None, EntryKind.TAKEOVER) for n in range(6)]
    await notifier.publish(events[0])
    await holding.wait()  # the listener hangs on the first event
    with capture_logs() as logs:
        for event in [*events[1:], CallEnded("call-last", "agent")]:
            await notifier.publish(event)
    release.set()
    async with asyncio.timeout(5):
        await notifier.drain()
    await notifier.aclose()

    assert seen == [events[0], *events[4:], CallEnded("call-last", "agent")]
    drops = [entry for entry in logs if entry["event"] == "listener_behind_event_dropped"]
    assert [entry["dropped"] for entry in drops] == ["CallStarted"] * 3


async def test_a_batch_listener_gets_everything_waiting_in_order() -> None:
    notifier = Notifier()
    holding, release = asyncio.Event(), asyncio.Event()
    batches: list[list[PaymentEvent]] = []

    async def slow(batch: list[PaymentEvent]) -> None:
        holding.set()
        await release.wait()
        batches.append(batch)

    notifier.subscribe_batches(slow)
    events = [CallStarted(f"call-{n}", "agent", None, EntryKind.TAKEOVER) for n in range(5)]
    await notifier.publish(events[0])
    await holding.wait()  # the listener is busy with the first event
    for event in events[1:]:
        await notifier.publish(event)
    release.set()
    async with asyncio.timeout(5):
        await notifier.drain()
    await notifier.aclose()

    assert batches == [[events[0]], events[1:]]


async def test_a_lingering_batch_listener_gets_events_published_one_by_one_together() -> None:
    """Events that come one at a time (a digit every few hundred ms across the calls) still
    share a batch: one NOTIFY rather than one per event."""
    notifier = Notifier()
    batches: list[list[PaymentEvent]] = []

    async def listener(batch: list[PaymentEvent]) -> None:
        batches.append(batch)

    notifier.subscribe_batches(listener, linger=0.2)
    events = [CallStarted(f"call-{n}", "agent", None, EntryKind.TAKEOVER) for n in range(4)]
    for event in events:
        await notifier.publish(event)
        await asyncio.sleep(0.01)  # the listener's task runs between them
    async with asyncio.timeout(5):
        await notifier.drain()
    await notifier.aclose()

    assert batches == [events]


async def test_a_listener_for_some_kinds_of_event_gets_only_those_in_order() -> None:
    """The calls table's listener wants calls starting and ending: a payment's digit counts
    never reach it (nor wake its task)."""
    notifier = Notifier()
    batches: list[list[PaymentEvent]] = []
    each: list[PaymentEvent] = []

    async def listener(batch: list[PaymentEvent]) -> None:
        batches.append(batch)

    async def one(event: PaymentEvent) -> None:
        each.append(event)

    notifier.subscribe_batches(listener, only=(CallStarted,))
    notifier.subscribe(one, only=(CallEnded,))
    started = [CallStarted(f"call-{n}", "agent", None, EntryKind.TAKEOVER) for n in range(3)]
    ended = [CallEnded(f"call-{n}", "agent") for n in range(3)]
    for event in [started[0], ended[0], started[1], ended[1], started[2], ended[2]]:
        await notifier.publish(event)
    async with asyncio.timeout(5):
        await notifier.drain()
    await notifier.aclose()

    assert [event for batch in batches for event in batch] == started
    assert each == ended
