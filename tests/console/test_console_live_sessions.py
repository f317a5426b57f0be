"""Issue 13 #5: the live WebSocket ends the moment the session that opened it ends.

The attack: a console left open (or a stolen cookie's stream) kept receiving every call and
payment event after the agent signed out, after the 15 idle minutes, and after the password
was reset. Each way a session ends is performed here and the stream must close at once with
4401 after a last ``session_ended`` message, before any later event reaches it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from _console_helpers import ALICE, PASSWORD, Client, Console, running_console

from payivr.console import set_agent_password
from payivr.console.accounts import SESSION_IDLE, Accounts
from payivr.store.database import Database

SESSION_ENDED_CLOSE = 4401


class MovableClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def timed_console(
    database: Database, password_hash: str, clock: MovableClock
) -> AsyncIterator[Console]:
    async with running_console(database, password_hash, clock) as running:
        yield running


async def _ends_with_session_ended(socket: Any, console: Console) -> None:
    """The stream's last message is session_ended, then it closes with 4401: a call placed
    afterwards for Alice reaches nobody."""
    assert (await socket.receive_json(timeout=10)) == {"type": "session_ended"}
    closing = await socket.receive(timeout=10)
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, SESSION_ENDED_CLOSE)
    await console.calls.place_call("PJSIP/1001")
    assert (await socket.receive(timeout=2)).type == aiohttp.WSMsgType.CLOSED


async def _open_stream(client: Client) -> Any:
    socket = await client.ws().__aenter__()
    assert (await socket.receive_json(timeout=10))["type"] == "hello"
    return socket


async def test_signing_out_closes_the_stream_opened_with_that_session(
    console: Console, alice: Client
) -> None:
    socket = await _open_stream(alice)
    assert (await alice.send("/api/v1/logout")).status == 200
    await _ends_with_session_ended(socket, console)


async def test_a_password_reset_closes_every_stream_of_the_account(
    console: Console, alice: Client
) -> None:
    """``payivr agent password`` runs in another process: the console notices within a
    second (it asks the database about its open streams' sessions every second)."""
    socket = await _open_stream(alice)
    token = await console.accounts.issue_token(ALICE, "wallboard")
    async with console.client(Authorization=f"Bearer {token}") as wallboard:
        token_socket = await _open_stream(wallboard)
        await set_agent_password(console.db, ALICE, "a new password after a leak 2")
        await _ends_with_session_ended(socket, console)
        assert (await token_socket.receive_json(timeout=5))["type"] == "call_started"
        await console.accounts.revoke_token(token)
        await _ends_with_session_ended(token_socket, console)


async def test_an_idle_session_closes_its_stream(
    timed_console: Console, clock: MovableClock
) -> None:
    async with await timed_console.signed_in(ALICE, PASSWORD) as alice:
        socket = await _open_stream(alice)
        clock.now += SESSION_IDLE - timedelta(seconds=5)
        await timed_console.calls.place_call("PJSIP/1001")  # events are not activity
        assert (await socket.receive_json(timeout=5))["type"] == "call_started"
        clock.now += timedelta(seconds=6)
        await _ends_with_session_ended(socket, timed_console)
        assert await Accounts(timed_console.db, clock=clock).session("x") is None
