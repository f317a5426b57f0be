import asyncio

import pytest

from payivr.store import ConsoleBus, Database, EventTooLarge


async def test_console_on_one_instance_sees_events_published_by_another(database_url):
    instance_a = await Database.connect(database_url, migrate=False)
    instance_b = await Database.connect(database_url, migrate=False)
    try:
        async with ConsoleBus(instance_a).subscribe() as events:
            bus_b = ConsoleBus(instance_b)
            await bus_b.publish(
                {
                    "type": "step",
                    "payment_id": "p1",
                    "step": "card_number",
                    "status": "entering",
                    "digits": 4,
                }
            )
            await bus_b.publish({"type": "finished", "payment_id": "p1", "outcome": "approved"})

            iterator = aiter(events)
            first = await asyncio.wait_for(anext(iterator), timeout=5)
            second = await asyncio.wait_for(anext(iterator), timeout=5)
    finally:
        await instance_a.close()
        await instance_b.close()

    assert first == {
        "type": "step",
        "payment_id": "p1",
        "step": "card_number",
        "status": "entering",
        "digits": 4,
    }
    assert second["outcome"] == "approved"


async def test_event_too_large_for_notify_is_refused(database):
    with pytest.raises(EventTooLarge):
        await ConsoleBus(database).publish({"type": "x", "blob": "a" * 8000})


async def test_many_events_arrive_in_order_packed_into_few_notifies(database_url):
    instance_a = await Database.connect(database_url, migrate=False)
    instance_b = await Database.connect(database_url, migrate=False)
    events = [{"type": "step", "payment_id": f"p{n}", "note": "x" * 200} for n in range(120)]
    try:
        async with ConsoleBus(instance_a).subscribe() as heard:
            bus_b = ConsoleBus(instance_b)
            with pytest.raises(EventTooLarge):
                await bus_b.publish_many([*events[:60], {"blob": "a" * 8000}, *events[60:]])
            iterator = aiter(heard)
            received = [await asyncio.wait_for(anext(iterator), timeout=5) for _ in events]
    finally:
        await instance_a.close()
        await instance_b.close()

    assert received == events  # the one too large left out, the others all there, in order
