"""The floor: a minimal ARI application doing what payivr asks of Asterisk for one payment.

No framework, no database, no gateway: one AMI connection (raw asyncio streams), one ARI
event WebSocket and one aiohttp session with a bounded pool (20 connections, as payivr's
``ari.pool_size``). For each ``*7`` it does what payivr's flow asks of Asterisk for a
successful card payment of the bench's script (``calls_sim.py``), request for request:

- AMI: two ``Getvar`` of ``BRIDGEPEER`` (the check that the agent and the peer are bridged
  together), three ``Setvar`` (the pairing key on both legs, the peer on the caller's) and
  one ``Redirect`` with ``ExtraChannel`` into ``[payivr-takeover]``;
- ARI, when both legs are in Stasis: the call-key variable on each leg, the bridge
  (``mixing,dtmf_events``) with both legs, the caller out of it, the agent muted inbound and
  on music on hold, then ``MIXMONITOR_FILENAME`` read on each leg (payivr mutes a recorded
  leg's recording before the first prompt: a recording must never keep card data);
- the same prompts, one single-item playback per part (amount read back, card as brand and
  last four, expiry, security code, postal code, processing, approved with a reference,
  returning to the agent), barge-in stopping the part that plays, entries ended by ``#``
  or by their length;
- the agent's music off and unmuted, the caller back in the bridge; when the caller hangs
  up, the agent's leg hung up and the bridge destroyed.

CPU is this process's ``time.process_time()``; ``bench_calls.py`` runs it against the same
simulator process and the same phones (same seed) right after payivr, and divides.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import aiohttp

PROMPTS = "sound:payivr/en/"
BRIDGE_TYPE = "mixing,dtmf_events"
POOL = 20


def _parts(*items: str) -> tuple[str, ...]:
    """Prompt names become ``sound:`` URIs; ``number:``, ``digits:`` stay as they are."""
    return tuple(item if ":" in item else PROMPTS + item for item in items)


@dataclass(frozen=True)
class Step:
    """Parts to play, then the keys that end the step: ``length`` keys or ``#``."""

    parts: tuple[str, ...]
    length: int = 0  # 0: up to "#"


# The bench's payment (137.42, Visa 4242 4242 4242 4242, 12/30, 123, 90210), as payivr's
# flow prompts it (see the module docstring of bench/calls_sim.py for the caller's side).
SCRIPT = (
    Step(_parts("intro", "amount-is", "number:137", "major-dollars", "and", "number:42",
                "minor-cents", "confirm-amount"), 1),
    Step(_parts("enter-card-number")),
    Step(_parts("you-entered", "brand-visa", "card-ending-in", "digits:4242", "confirm-entry"), 1),
    Step(_parts("enter-expiry"), 4),
    Step(_parts("expiry-is", "month-12", "number:2030", "confirm-entry"), 1),
    Step(_parts("enter-security-code"), 3),
    Step(_parts("security-code-entered", "confirm-entry"), 1),
    Step(_parts("enter-postal-code")),
    Step(_parts("postal-code-is", "digits:90210", "confirm-entry"), 1),
)


@dataclass
class FloorCall:
    key: str
    caller: str = ""
    agent: str = ""
    bridge: str = ""
    step: int = -1
    keys: int = 0
    parts: list[str] = field(default_factory=list)
    playback: str = ""
    playing: bool = False
    plays: int = 0
    back_with_agent: bool = False
    # One event at a time per call, in order (as payivr's call session takes them).
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Floor:
    def __init__(self, ari_url: str, app: str, password: str, ami_port: int,
                 ami_secret: str) -> None:
        self._ari = ari_url.rstrip("/")
        self._app = app
        self._auth = aiohttp.BasicAuth(app, password)
        self._ami_port = ami_port
        self._ami_secret = ami_secret
        self._calls: dict[str, FloorCall] = {}
        self._by_channel: dict[str, FloorCall] = {}
        self._action_ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None
        self._ami_writer: asyncio.StreamWriter | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()

    async def run(self) -> None:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=POOL), auth=self._auth
        ) as session:
            self._session = session
            reader, self._ami_writer = await asyncio.open_connection("127.0.0.1", self._ami_port)
            self._ami("Login", Username=self._app, Secret=self._ami_secret)
            ws_url = self._ari.replace("http", "ws", 1) + f"/ari/events?app={self._app}"
            async with session.ws_connect(ws_url) as ws:
                ami = asyncio.create_task(self._ami_events(reader))
                self.connected.set()
                try:
                    async for message in ws:
                        if message.type is aiohttp.WSMsgType.TEXT:
                            self._on_event(json.loads(message.data))
                finally:
                    ami.cancel()
                    self._ami_writer.close()

    # ------------------------------------------------------------------ AMI

    def _ami(self, action: str, **headers: str) -> None:
        assert self._ami_writer is not None
        lines = [f"Action: {action}", f"ActionID: {next(self._action_ids)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._ami_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    async def _ami_events(self, reader: asyncio.StreamReader) -> None:
        message: dict[str, str] = {}
        while line := await reader.readline():
            text = line.decode().rstrip("\r\n")
            if text:
                name, _, value = text.partition(": ")
                message[name] = value
                continue
            if message.get("UserEvent") == "PayIVRRequest":
                self._take_over(message["Agent"], message["Peer"])
            message = {}

    def _take_over(self, agent: str, caller: str) -> None:
        key = secrets.token_hex(8)
        self._calls[key] = FloorCall(key)
        self._ami("Getvar", Channel=agent, Variable="BRIDGEPEER")
        self._ami("Getvar", Channel=caller, Variable="BRIDGEPEER")
        self._ami("Setvar", Channel=caller, Variable="PAYIVR_KEY", Value=key)
        self._ami("Setvar", Channel=agent, Variable="PAYIVR_KEY", Value=key)
        self._ami("Setvar", Channel=caller, Variable="PAYIVR_PEER", Value=agent)
        self._ami("Redirect", Channel=caller, Context="payivr-takeover", Exten="caller",
                  Priority="1", ExtraChannel=agent, ExtraContext="payivr-takeover",
                  ExtraExten="agent", ExtraPriority="1")

    # ------------------------------------------------------------------ ARI

    async def _request(self, method: str, path: str, **params: str) -> None:
        assert self._session is not None
        async with self._session.request(method, f"{self._ari}/ari/{path}", params=params) as r:
            await r.read()

    def _later(self, call: FloorCall, handler: Any, *args: Any) -> None:
        task = asyncio.create_task(self._in_order(call, handler, *args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "StasisStart":
            args = event.get("args", [])
            call = self._calls.get(args[2]) if len(args) == 3 else None
            if call is None:
                return
            channel = event["channel"]["id"]
            setattr(call, args[1], channel)
            self._by_channel[channel] = call
            if call.caller and call.agent:
                self._later(call, self._start)
        elif kind == "ChannelDtmfReceived":
            call = self._by_channel.get(event["channel"]["id"])
            if call is not None and call.caller == event["channel"]["id"]:
                self._later(call, self._key, event["digit"])
        elif kind == "PlaybackFinished":
            call = self._by_channel.get(event["playback"]["target_uri"].partition(":")[2])
            if call is not None:
                self._later(call, self._playback_finished, event["playback"]["id"])
        elif kind == "StasisEnd":
            channel = event["channel"]["id"]
            call = self._by_channel.pop(channel, None)
            if call is not None and channel == call.caller:
                self._later(call, self._end)

    @staticmethod
    async def _in_order(call: FloorCall, handler: Any, *args: Any) -> None:
        async with call.lock:
            await handler(call, *args)

    async def _start(self, call: FloorCall) -> None:
        await self._request("POST", f"channels/{call.caller}/variable",
                            variable="PAYIVR_CALL", value=f"takeover/caller/{call.key}")
        await self._request("POST", f"channels/{call.agent}/variable",
                            variable="PAYIVR_CALL", value=f"takeover/agent/{call.key}")
        call.bridge = f"floor-{call.key}"
        await self._request("POST", "bridges", bridgeId=call.bridge, type=BRIDGE_TYPE,
                            name=call.key)
        await self._request("POST", f"bridges/{call.bridge}/addChannel",
                            channel=f"{call.caller},{call.agent}")
        await self._request("POST", f"bridges/{call.bridge}/removeChannel", channel=call.caller)
        await self._request("POST", f"channels/{call.agent}/mute", direction="in")
        await self._request("POST", f"channels/{call.agent}/moh", mohClass="default")
        for leg in (call.caller, call.agent):
            await self._request("GET", f"channels/{leg}/variable", variable="MIXMONITOR_FILENAME")
        await self._next_step(call)

    async def _next_step(self, call: FloorCall) -> None:
        call.step += 1
        call.keys = 0
        if call.step < len(SCRIPT):
            call.parts = list(SCRIPT[call.step].parts)
            await self._next_part(call)
            return
        # Authorizing: "processing" stopped when the (here immediate) approval comes.
        call.parts = [PROMPTS + "processing"]
        await self._next_part(call)
        await self._stop(call)
        call.parts = [PROMPTS + "payment-approved", f"characters:{secrets.token_hex(4)}",
                      PROMPTS + "returning-to-agent"]
        call.back_with_agent = True
        await self._next_part(call)

    async def _playback_finished(self, call: FloorCall, playback: str) -> None:
        if playback == call.playback and call.playing:
            call.playing = False
            await self._next_part(call)

    async def _next_part(self, call: FloorCall) -> None:
        if not call.parts:
            if call.back_with_agent:
                await self._request("DELETE", f"channels/{call.agent}/moh")
                await self._request("DELETE", f"channels/{call.agent}/mute", direction="in")
                await self._request("POST", f"bridges/{call.bridge}/addChannel",
                                    channel=call.caller)
            return
        call.plays += 1
        call.playback = f"floor-{call.key}-{call.plays}"
        call.playing = True
        await self._request("POST", f"channels/{call.caller}/play", media=call.parts.pop(0),
                            playbackId=call.playback, lang="en")

    async def _stop(self, call: FloorCall) -> None:
        call.parts = []
        if call.playing:
            call.playing = False
            await self._request("DELETE", f"playbacks/{call.playback}")

    async def _key(self, call: FloorCall, digit: str) -> None:
        if call.step >= len(SCRIPT):
            return
        call.keys += 1
        if call.keys == 1:
            await self._stop(call)  # barge-in
        step = SCRIPT[call.step]
        if (step.length and call.keys == step.length) or (not step.length and digit == "#"):
            await self._next_step(call)

    async def _end(self, call: FloorCall) -> None:
        self._calls.pop(call.key, None)
        self._by_channel.pop(call.agent, None)
        await self._request("DELETE", f"channels/{call.agent}")
        await self._request("DELETE", f"bridges/{call.bridge}")

