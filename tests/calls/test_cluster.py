"""The console's view of every instance's calls, and commands for another instance (issue 16
§3), on the test database. Across real processes: tests/scale."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from payivr.calls.cluster import CallCommands, CallDirectory
from payivr.calls.notifier import CallEnded, CallStarted
from payivr.calls.payment import PaymentRefused
from payivr.calls.requests import PaymentRequest
from payivr.core.request import EntryKind
from payivr.store import Database
from payivr.store.cluster import Identity

FIRST = Identity("a1", "02:fc:00:00:00:01")


@pytest.fixture
async def first_db(database_url: str) -> AsyncIterator[Database]:
    db = await Database.connect(
        database_url, max_size=2, migrate=False, settings=FIRST.session_settings
    )
    yield db
    await db.close()


async def test_the_calls_an_instance_runs_are_found_by_agent_and_key_until_they_end(
    first_db: Database,
) -> None:
    directory = CallDirectory(first_db)
    started = CallStarted("takeover-abc", "alice", "+15550001002", EntryKind.TAKEOVER, "PJSIP/1101")
    await directory.record([started, CallStarted("takeover-def", "bob", None, EntryKind.TAKEOVER)])
    (listed,) = await directory.live(agent_endpoint="PJSIP/1101")
    assert (listed.info.call_key, listed.info.caller_number) == ("takeover-abc", "+15550001002")
    assert listed.asterisk_id == FIRST.asterisk_id
    assert [c.info.call_key for c in await directory.live(call_key="takeover-def")] == [
        "takeover-def"
    ]

    await directory.record([CallEnded("takeover-abc", "alice")])
    assert await directory.live(agent_endpoint="PJSIP/1101") == []
    await directory.forget(FIRST.asterisk_id)  # the instance that ran them stopped
    assert await directory.live() == []


async def test_a_command_no_instance_takes_is_withdrawn_and_refused(first_db: Database) -> None:
    commands = CallCommands(first_db, answer_seconds=0.2)
    request = PaymentRequest("Annual plan", 13742, "USD", "alice")
    with pytest.raises(PaymentRefused, match="did not answer"):
        await commands.request("02:fc:00:00:00:09", "takeover-abc", request)
    async with first_db.pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT taken_by, taken_at IS NOT NULL, request->>'privacy_mode' FROM call_commands"
        )
        assert await cursor.fetchall() == [(None, True, "hold")]  # never run later
