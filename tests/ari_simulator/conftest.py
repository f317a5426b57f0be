from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from payivr.sim.ari import AriSimulator, shipped_spec

from .helpers import PASSWORD, USER, AriTestClient


class EventValidator:
    """Checks every event the simulator emits against events.json's models."""

    def __init__(self) -> None:
        self.spec = shipped_spec()
        self.problems: list[str] = []
        self.count = 0
        self.types: set[str] = set()

    def __call__(self, app: str, event: dict[str, Any]) -> None:
        self.count += 1
        self.types.add(event["type"])
        for problem in self.spec.validate_model("Message", event):
            self.problems.append(f"{event['type']}: {problem}")


@pytest.fixture
def validator() -> EventValidator:
    return EventValidator()


@pytest.fixture
async def sim(validator: EventValidator) -> AsyncIterator[AriSimulator]:
    simulator = AriSimulator(USER, PASSWORD, time_scale=0.05,
                             sound_durations={"beep": 0.44})
    simulator.add_event_observer(validator)
    await simulator.start()
    yield simulator
    await simulator.stop()
    assert validator.problems == []


@pytest.fixture
async def client(sim: AriSimulator) -> AsyncIterator[AriTestClient]:
    async with aiohttp.ClientSession() as session:
        yield AriTestClient(sim.base_url, session)
