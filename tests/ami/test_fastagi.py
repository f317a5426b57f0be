"""The FastAGI trigger: bounded header reads, and a request that becomes a TakeoverRequest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from payivr.ami import FastAgiServer, RequestSource, TakeoverRequest, takeover_route

AGENT = "PJSIP/1001-00000011"
CALLER = "PJSIP/1002-00000010"


def agi_headers(*arguments: str, script: str = "pay") -> bytes:
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        f"agi_request: agi://payivr:4573/{script}",
        f"agi_channel: {AGENT}",
        "agi_language: en",
        "agi_uniqueid: 1795296757.21",
        "agi_context: payivr-feature-agi",
        "agi_extension: s",
        "agi_priority: 4",
    ]
    lines += [f"agi_arg_{i}: {value}" for i, value in enumerate(arguments, start=1)]
    return ("\n".join(lines) + "\n\n").encode()


@pytest.fixture
async def requests() -> asyncio.Queue[TakeoverRequest]:
    return asyncio.Queue()


@pytest.fixture
async def server(requests: asyncio.Queue[TakeoverRequest]) -> AsyncIterator[FastAgiServer]:
    agi = FastAgiServer({"pay": takeover_route(requests.put_nowait)}, header_timeout=0.3)
    await agi.start("127.0.0.1", 0)
    yield agi
    await agi.close()


async def connect(server: FastAgiServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def test_request_with_arguments_triggers_the_callback(
    server: FastAgiServer, requests: asyncio.Queue[TakeoverRequest]
) -> None:
    reader, writer = await connect(server)
    writer.write(agi_headers(CALLER, "2500"))
    assert await asyncio.wait_for(reader.read(), 5) == b""  # session ended, dialplan goes on
    request = await asyncio.wait_for(requests.get(), 5)
    assert (request.agent_channel, request.caller_channel) == (AGENT, CALLER)
    assert request.amount_minor == 2500
    assert request.source is RequestSource.FASTAGI
    writer.close()


async def test_without_a_peer_argument_it_asks_for_bridgepeer(
    server: FastAgiServer, requests: asyncio.Queue[TakeoverRequest]
) -> None:
    reader, writer = await connect(server)
    writer.write(agi_headers())
    command = await asyncio.wait_for(reader.readline(), 5)
    assert command == b"GET VARIABLE BRIDGEPEER\n"
    writer.write(f"200 result=1 ({CALLER})\n".encode())
    request = await asyncio.wait_for(requests.get(), 5)
    assert request.caller_channel == CALLER and request.amount_minor is None
    writer.close()


async def test_an_agent_alone_is_not_a_request(
    server: FastAgiServer, requests: asyncio.Queue[TakeoverRequest]
) -> None:
    reader, writer = await connect(server)
    writer.write(agi_headers())
    await asyncio.wait_for(reader.readline(), 5)
    writer.write(b"200 result=0\n")  # BRIDGEPEER not set
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert requests.empty()
    writer.close()


async def test_peer_closing_before_headers_end_does_not_hang(
    server: FastAgiServer, requests: asyncio.Queue[TakeoverRequest]
) -> None:
    reader, writer = await connect(server)
    writer.write(b"agi_network: yes\nagi_network_script: pay\nagi_chan")
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    # and the server still serves the next request
    reader, writer = await connect(server)
    writer.write(agi_headers(CALLER))
    assert (await asyncio.wait_for(requests.get(), 5)).caller_channel == CALLER
    writer.close()


async def test_silent_peer_is_dropped_after_the_header_timeout(server: FastAgiServer) -> None:
    reader, writer = await connect(server)
    writer.write(b"agi_network: yes\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""  # header_timeout is 0.3 s
    writer.close()


async def test_overlong_header_line_is_dropped(server: FastAgiServer) -> None:
    reader, writer = await connect(server)
    writer.write(b"agi_channel: " + b"x" * 10_000 + b"\n\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_routes_ignore_slashes_and_unknown_scripts_just_end() -> None:
    seen: list[str] = []

    async def route(session: object) -> None:
        seen.append("called")

    agi = FastAgiServer({"/other/": route}, header_timeout=0.3)
    await agi.start("127.0.0.1", 0)
    try:
        reader, writer = await connect(agi)
        writer.write(agi_headers(script="nothing-here"))
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        reader, writer = await connect(agi)
        writer.write(agi_headers(script="other"))
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
    finally:
        await agi.close()
    assert seen == ["called"]


SECRET = "agi-shared-secret-0123456789"


async def _closed_without_an_answer(reader: asyncio.StreamReader) -> bool:
    """The server closed the connection without a word (a reset if our bytes were unread)."""
    try:
        return await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
async def guarded(
    requests: asyncio.Queue[TakeoverRequest],
) -> AsyncIterator[FastAgiServer]:
    """Asterisk is 127.0.0.1 only, and must send the shared secret."""
    agi = FastAgiServer(
        {"pay": takeover_route(requests.put_nowait)},
        header_timeout=0.3,
        allowed_sources=["127.0.0.1/32"],
        secret=SECRET,
    )
    await agi.start("127.0.0.1", 0)
    yield agi
    await agi.close()


async def test_attack_forged_agi_requests_from_elsewhere_or_without_the_secret_are_dropped(
    guarded: FastAgiServer, requests: asyncio.Queue[TakeoverRequest]
) -> None:
    """Issue 13 #3: anyone reaching port 4573 could pull channels into payivr."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", guarded.port, local_addr=("127.0.0.3", 0)
    )
    writer.write(agi_headers(CALLER, "2500", script=f"pay/{SECRET}"))
    assert await _closed_without_an_answer(reader)  # from 127.0.0.3: closed unread
    writer.close()
    for script in ("pay", "pay/wrong-secret-0123456789abc", f"pay/{SECRET}x"):
        reader, writer = await connect(guarded)
        writer.write(agi_headers(CALLER, "2500", script=script))
        assert await _closed_without_an_answer(reader)
        writer.close()
    assert requests.empty()
    reader, writer = await connect(guarded)
    writer.write(agi_headers(CALLER, "2500", script=f"pay/{SECRET}"))
    assert await asyncio.wait_for(reader.read(), 5) == b""
    request = await asyncio.wait_for(requests.get(), 5)
    assert (request.agent_channel, request.caller_channel) == (AGENT, CALLER)
    writer.close()
