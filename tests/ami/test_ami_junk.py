"""Bad input on the AMI connection (issue 8 §2): the real AmiClient (panoramisk underneath)
against a small TCP server that greets and logs in as Asterisk 22.10.1 did in the recording
(tests/fixtures/ami/takeover-wire.txt), then sends junk: lines without a colon, bytes that are
no UTF-8, a 1 MB line, unknown events, PayIVRRequest UserEvents with missing, repeated or odd
fields, answers to ActionIDs never sent, half a message and a hang-up.

The client keeps its connection through the junk (or logs in again after a hang-up), still
delivers the recorded ``*7`` UserEvent that follows, and logs an invalid PayIVRRequest as
invalid without the values it carried.
"""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ami_scene import AGENT, CALLER, WIRE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payivr.ami import AmiClient, TakeoverRequest
from payivr.ami.client import MAX_MESSAGE_CHARS
from tests.logbuffer import payivr_log_buffer

EOL = "\r\n"


def recorded_block(first_line: str) -> list[str]:
    """The lines of the first message Asterisk sent that starts with ``first_line``."""
    lines = [raw[4:] for raw in WIRE.read_text().splitlines() if raw.startswith("<<< ")]
    start = lines.index(first_line)
    return lines[start: lines.index("", start)]


BANNER = recorded_block("Asterisk Call Manager/11.0.0")[0]
LOGIN_ACCEPTED = [line for line in recorded_block("Response: Success")
                  if not line.startswith("ActionID")]
FULLY_BOOTED = recorded_block("Event: FullyBooted")
TAKEOVER = recorded_block("Event: UserEvent")


def message(lines: Sequence[str]) -> bytes:
    return (EOL.join(lines) + EOL + EOL).encode()


def user_event(**fields: str | list[str]) -> bytes:
    """A PayIVRRequest UserEvent as the ``*7`` Gosub raises it, with these fields instead."""
    lines = [line for line in TAKEOVER if line.split(":")[0] not in {"Agent", "Peer", "Channel"}]
    for name, value in fields.items():
        for each in value if isinstance(value, list) else [value]:
            lines.append(f"{name}: {each}")
    return message(lines)


DROP = b""
"""In a script: hang up here."""


@dataclass
class JunkAmi:
    """Banner and login as recorded; then, on the n-th connection, the n-th script's chunks
    (each written on its own); every later action is answered with Success (Ping: Pong)."""

    scripts: list[list[bytes]]
    logins: int = 0
    port: int = 0
    sent_all: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self) -> JunkAmi:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        writer.write(f"{BANNER}{EOL}".encode())
        login = await _read_action(reader)
        writer.write(message([*LOGIN_ACCEPTED[:1], f"ActionID: {login['ActionID']}",
                              *LOGIN_ACCEPTED[1:]]) + message(FULLY_BOOTED))
        self.logins += 1
        script = self.scripts[self.logins - 1] if self.logins <= len(self.scripts) else []
        answering = asyncio.create_task(self._answer(reader, writer))
        try:
            for chunk in script:
                if chunk == DROP:
                    writer.close()
                    return
                writer.write(chunk)
                await writer.drain()
            if self.logins >= len(self.scripts):
                self.sent_all.set()
            await answering
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            answering.cancel()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            action = await _read_action(reader)
            pong = ["Ping: Pong"] if action.get("Action", "").lower() == "ping" else []
            writer.write(message(["Response: Success", f"ActionID: {action['ActionID']}",
                                  *pong]))


async def _read_action(reader: asyncio.StreamReader) -> dict[str, str]:
    text = (await reader.readuntil(b"\r\n\r\n")).decode()
    return dict(line.split(": ", 1) for line in text.strip().split(EOL) if ": " in line)


class Requests(list[TakeoverRequest]):
    """The takeover requests the client delivered, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    def receive(self, request: TakeoverRequest) -> None:
        self.append(request)
        self.changed.set()

    async def until(self, condition: Callable[[Requests], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not condition(self):
                self.changed.clear()
                await self.changed.wait()


@asynccontextmanager
async def client_of(server: JunkAmi) -> AsyncIterator[tuple[AmiClient, Requests]]:
    ami = AmiClient(host="127.0.0.1", port=server.port, username="payivr", secret="payivr",
                    reconnect_delay=0.05, action_timeout=2.0, connect_timeout=2.0,
                    keepalive_interval=0.2)
    requests = Requests()
    ami.on_takeover_request(requests.receive)
    await ami.connect()
    try:
        yield ami, requests
    finally:
        await ami.close()


@asynccontextmanager
async def logged() -> AsyncIterator[io.StringIO]:
    with payivr_log_buffer() as buffer:
        yield buffer


SECRET_DIGITS = ["4929012", "86753091", "5550123", "31415926"]
"""Digits only the invalid PayIVRRequests carry: 7 or 8 of them, too few for the log's card
mask, so any that reach the log are seen."""

INVALID_REQUESTS = [
    user_event(),  # no Agent, no Channel, no Peer
    user_event(Agent=f"PJSIP/{SECRET_DIGITS[0]}-00000001"),  # no Peer
    user_event(Agent=AGENT, Peer=f"PJSIP/{SECRET_DIGITS[1]},PJSIP/2"),  # several peers
    user_event(Agent=[AGENT, f"PJSIP/{SECRET_DIGITS[2]}-1"], Peer=CALLER),  # Agent twice
    user_event(Agent=AGENT, Peer=[CALLER, f"PJSIP/{SECRET_DIGITS[3]}-1"]),  # Peer twice
    user_event(Agent=AGENT, Peer=AGENT),  # bridged to itself
]

JUNK = [
    b"no colon here\r\njust words\r\n\r\n",
    b"\x00\xff\xfe\x80\xc3(binary\r\n\x01\x02\r\n\r\n",
    b"Event: " + b"\xff" * 10 + b"\r\n\r\n",
    b"X" * 1_000_000 + b"\r\n\r\n",
    b"Event: FullyBootedTwice\r\nPrivilege: system,all\r\n\r\n",
    b"Event: SomethingAsterisk30Adds\r\nFoo: bar\r\n\r\n",
    b"Event: A\r\nEvent: B\r\n\r\n",  # a repeated Event header
    b"Response: Success\r\nActionID: 424242\r\nMessage: never asked\r\n\r\n",
    b"Response: Error\r\nActionID: action/never/1/1\r\n\r\n",
    b"Response: Success\r\nActionID: a\r\nActionID: b\r\n\r\n",  # a repeated ActionID
    b"Response: Follows\r\nActionID: 77\r\n\r\n--END COMMAND--\r\n\r\n",
    b"Event: UserEvent\r\nUserEvent: PayIVRRequest\r\nUserEvent: Other\r\n\r\n",
    b": \r\n:\r\n: : :\r\n\r\n",
    b"\r\n\r\n\r\n\r\n\r\n",
    *INVALID_REQUESTS,
]
HALF_A_MESSAGE = b"Event: UserEvent\r\nUserEvent: PayIVRRequest\r\nAgent: PJSIP/half-0000"


async def test_junk_then_the_feature_code_then_half_a_message_and_a_hang_up() -> None:
    server = await JunkAmi([
        [*JUNK, message(TAKEOVER), HALF_A_MESSAGE, DROP],
        [*reversed(JUNK), message(TAKEOVER)],
    ]).start()
    try:
        async with logged() as output, client_of(server) as (ami, requests):
            await asyncio.wait_for(server.sent_all.wait(), 10)
            await requests.until(lambda got: len(got) == 2)
            await ami.ping()  # the connection still answers
            assert ami.logged_in and server.logins == 2  # one hang-up, one login again
    finally:
        await server.close()
    assert [(r.agent_channel, r.caller_channel) for r in requests] == [(AGENT, CALLER)] * 2
    log = output.getvalue()
    assert log.count('"ami.takeover_request_invalid"') == 2 * len(INVALID_REQUESTS)
    assert log.count('"ami.logged_in"') == 2
    assert "Fatal error" not in log and "Traceback" not in log
    for digits in SECRET_DIGITS:
        assert digits not in log


async def test_an_endless_message_is_cut_off_and_the_client_logs_in_again() -> None:
    """No blank line ever comes: past MAX_MESSAGE_CHARS the client hangs up rather than
    buffer without end, logs in again, and the feature code still gets through."""
    chunk = b"Junk: " + b"y" * 65_530 + b"\r\n"
    endless = [chunk] * (MAX_MESSAGE_CHARS // len(chunk) + 2)
    server = await JunkAmi([endless, [message(TAKEOVER)]]).start()
    try:
        async with logged() as output, client_of(server) as (_, requests):
            await requests.until(lambda got: len(got) == 1, within=10)
            assert server.logins == 2
    finally:
        await server.close()
    assert '"ami.message_too_long"' in output.getvalue()


# -- hypothesis: random junk, cut anywhere into TCP reads -------------------------------

header_name = st.sampled_from(["Event", "Response", "ActionID", "UserEvent", "Agent", "Peer",
                               "Channel", "Amount", "Message", "EventList", "SubEvent",
                               "CommandID", "Privilege"]) | st.text(max_size=8)
junk_line = st.one_of(
    st.tuples(header_name, st.text(max_size=20)).map(lambda kv: f"{kv[0]}: {kv[1]}"),
    st.text(max_size=30).filter(lambda s: "\r\n\r\n" not in s),
)
junk_message = st.one_of(
    st.lists(junk_line, max_size=6).map(lambda lines: message(lines)),
    st.binary(max_size=40),
    st.sampled_from(JUNK[:3] + JUNK[4:]),
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk=st.lists(junk_message, max_size=10), cuts=st.lists(st.integers(0, 10_000),
                                                               max_size=8))
def test_random_junk_cut_anywhere_never_stops_the_feature_code(
    junk: list[bytes], cuts: list[int],
) -> None:
    # Whatever the junk left half-read ends at the recorded event's blank line.
    stream = b"".join(junk) + b"\r\n\r\n" + message(TAKEOVER)
    points = sorted({0, len(stream), *(c % len(stream) for c in cuts)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(points)]

    async def scenario() -> list[TakeoverRequest]:
        server = await JunkAmi([chunks]).start()
        try:
            async with client_of(server) as (ami, requests):
                await requests.until(lambda got: any(
                    (r.agent_channel, r.caller_channel) == (AGENT, CALLER) for r in got))
                await ami.ping()
                assert server.logins == 1
                return requests
        finally:
            await server.close()

    requests = asyncio.run(scenario())
    assert (requests[-1].agent_channel, requests[-1].caller_channel) == (AGENT, CALLER)
