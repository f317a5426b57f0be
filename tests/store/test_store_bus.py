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
