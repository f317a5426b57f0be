"""The live hub: a console keeping up is never dropped by a burst of events."""

from __future__ import annotations

from payivr.calls.notifier import Notifier
from payivr.console.accounts import Account, Role
from payivr.console.live import EventHub


async def test_a_whole_batch_of_events_reaches_a_console_that_keeps_up() -> None:
    """Events come in batches pushed without a pause (the notifier's, the bus's packed
    NOTIFYs): the evidence test lost consoles when a batch overflowed their queue."""
    hub = EventHub()
    supervisor = Account(1, "sam", None, Role("supervisor"))
    async with hub.listen(supervisor, b"sam's session") as queue:
        for number in range(Notifier.MAX_BATCH):
            await hub.publish({"type": "step", "call": "c1", "agent": "alice", "n": number})
        received = [queue.get_nowait() for _ in range(queue.qsize())]
    assert [event["n"] for event in received if event is not None] == list(
        range(Notifier.MAX_BATCH)
    )
    assert None not in received
