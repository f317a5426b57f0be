"""The end-to-end suite against a real Asterisk (``make test-asterisk``; installed with
``asterisk/install-local.sh`` or the compose setup).

Phones are Local channels, as in the recorded traces: the harness's own Stasis application
owns the far half of each, so it can key DTMF into the call (``POST /channels/{id}/dtmf`` on
its half is read by the other half), see the digits that reach the phone
(``ChannelDtmfReceived`` on its half) and what payivr plays to the phone (it subscribes to the
half payivr handles and records ``PlaybackStarted``, and the dialplan's ``Playback()`` from
``ChannelDialplan``). The contexts are in
``asterisk/test-dialplan.conf``; every extension is ``<run>-<number>``:

- caller: ``Local/<run>-<agent>@sim-dial/n`` (``;1`` is the phone, ``;2`` runs ``Dial()`` to
  the agent), or ``Local/<run>-<agent>@sim-<entry>/n`` for the inbound, pay-line and transfer
  entries;
- agent: ``Local/<run>-<number>@sim-agent/n``; its ``;2`` enters
  ``Stasis(harness-<run>,agentphone)`` and is the phone; its ``;1`` is the agent's leg (where
  ``*7`` is detected);
- a phone that rings (a customer behind the outbound trunk, ``[outbound] trunk`` =
  :attr:`AsteriskTarget.trunk`, or an agent's that does not answer):
  ``Local/<run>-<number>@sim-ring``; its ``;2`` enters ``Stasis(harness-<run>,ringingphone)``
  unanswered and the harness rings it, then answers it (as a person or a machine) or not.

``<run>`` is this test process's own (:data:`RUN`): its harness is the application
``harness-<run>`` and its payivr ``payivr-<run>``, so pytest-xdist workers share one Asterisk.

Environment: ``PAYIVR_TEST_ARI_URL``/``_USER``/``_PASSWORD`` and
``PAYIVR_TEST_AMI_HOST``/``_PORT``/``_USER``/``_SECRET``. The payivr under test runs inside
pytest (or as ``payivr serve`` beside it): stop any other payivr of the compose setup first.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from payivr.ari.client import AriClient
from payivr.ari.errors import AriError, ChannelGone, NotInStasis
from payivr.ari.events import (
    AriEvent,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
    parse_event,
)
from payivr.ari.models import Channel
from payivr.calls.stasis import endpoint_of
from payivr.sim.ari.model import SIP_RESPONSE_CAUSES
from tests.e2e.phones import Phone, real_seconds
from tests.e2e.proxy import TcpProxy
from tests.e2e.targets import APP, BridgeView, PbxAccess

RUN = str(os.getpid() % 10000)
"""This test process's part of the extensions and application names (see the module doc)."""
HARNESS_APP = f"harness-{RUN}"
PAYIVR_APP = f"{APP}-{RUN}"
PAYLINE = "7290"
CONNECT_SECONDS = 15.0
GREETINGS = {
    # "Hello?" (a 0.4 s beep) a second after answering, then silence: AMD() says HUMAN.
    "person": ("sound:silence/1", "sound:beep", "sound:silence/3"),
    # A tone until hung up: a greeting longer than amd.conf's 1.5 s, MACHINE.
    "machine": ("tone:440",),
}


class LocalPhone:
    """A :class:`~tests.e2e.phones.Phone` made of a Local channel half the harness owns."""

    def __init__(
        self,
        target: AsteriskTarget,
        name: str,
        exten: str,
        context: str,
        answers: str | None = None,
    ) -> None:
        self._target = target
        self.name = name
        self.exten = exten  # <run>-<number>
        self._endpoint = f"Local/{exten}@{context}"  # as payivr names it (dialled with /n)
        self.answers = answers  # in [sim-ring]: "person", "machine", or None (rings on)
        self.own: str | None = None  # the half in the harness application
        self._leg: str | None = None  # the half payivr (or Dial()) handles
        self._heard: list[str] = []
        self._dtmf = ""
        self._ringing = False
        self._caller_number: str | None = None
        self._changed = asyncio.Event()

    def __repr__(self) -> str:
        return f"LocalPhone({self.name!r}, own={self.own!r}, leg={self._leg!r})"

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def leg(self) -> str | None:
        return self._leg

    @property
    def heard(self) -> Sequence[str]:
        return self._heard

    @property
    def received_dtmf(self) -> str:
        return self._dtmf

    @property
    def ringing(self) -> bool:
        return self._ringing

    @property
    def caller_number(self) -> str | None:
        return self._caller_number

    async def press(self, digits: str, duration_ms: int = 100, gap_ms: int = 150) -> None:
        if self.own is None:
            raise RuntimeError(f"{self.name} has no call")
        await self._target.ari.channels.send_dtmf(
            self.own, digits, duration=duration_ms, between=gap_ms
        )
        await asyncio.sleep((len(digits) * (duration_ms + gap_ms)) / 1000)

    async def refuse(self, sip_status: int = 486) -> None:
        if self.own is None or not self._ringing:
            raise RuntimeError(f"{self.name} is not ringing")
        self.answered()
        await self._target.ari.channels.hangup(
            self.own, reason_code=SIP_RESPONSE_CAUSES[sip_status]
        )

    async def hangup(self) -> None:
        if self.own is None:
            raise RuntimeError(f"{self.name} has no call")
        with contextlib.suppress(ChannelGone):  # payivr hung the call up meanwhile
            await self._target.ari.channels.hangup(self.own)

    async def wait_for(self, predicate: Callable[[Phone], bool], within: float = 5.0) -> None:
        async with asyncio.timeout(real_seconds(within, self._target.time_scale)):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    # ------------------------------------------------------------- fed by the target

    async def attach(self, own: str, leg: str, caller_number: str, ringing: bool) -> None:
        self.own, self._leg = own, leg
        self._caller_number, self._ringing = caller_number, ringing
        await self._target.subscribe(leg)
        self.changed()

    def answered(self) -> None:
        self._ringing = False
        self.changed()

    def detach(self) -> None:
        self.own = self._leg = self._caller_number = None
        self._ringing = False
        self.changed()

    def played(self, media_uri: str) -> None:
        self._heard.append(media_uri)
        self.changed()

    def dtmf(self, digit: str) -> None:
        self._dtmf += digit
        self.changed()

    def changed(self) -> None:
        self._changed.set()


class AsteriskTarget:
    simulated = False
    time_scale = 1.0  # prompts play at their real length
    trunk = f"Local/{RUN}-{{digits}}@sim-ring"

    def __init__(self, access: PbxAccess) -> None:
        self.access = access
        self.ari = AriClient(access.ari_url, access.ari_user, access.ari_password)
        ari = urlsplit(access.ari_url)
        # payivr reaches ARI through this proxy, which can cut its event WebSocket.
        self._proxy = TcpProxy(
            lambda: asyncio.open_connection(ari.hostname, ari.port or 80)
        )
        self._events_task: asyncio.Task[None] | None = None
        self._phones: dict[str, LocalPhone] = {}  # by the id of either half
        self._called: dict[str, LocalPhone] = {}  # phones payivr or Dial() calls, by endpoint
        self._numbers = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> AsteriskTarget:
        def need(name: str) -> str:
            value = environ.get(name)
            if not value:
                raise pytest.UsageError(f"{name} must be set with PAYIVR_TEST_ARI_URL")
            return value

        return cls(
            PbxAccess(
                ari_url=need("PAYIVR_TEST_ARI_URL"),
                ari_user=need("PAYIVR_TEST_ARI_USER"),
                ari_password=need("PAYIVR_TEST_ARI_PASSWORD"),
                ami_host=need("PAYIVR_TEST_AMI_HOST"),
                ami_port=int(environ.get("PAYIVR_TEST_AMI_PORT") or "5038"),
                ami_user=need("PAYIVR_TEST_AMI_USER"),
                ami_secret=need("PAYIVR_TEST_AMI_SECRET"),
                app=PAYIVR_APP,
                settings={"PAYIVR_CALLS_TALK_THROUGH_UNCHECKED_TECHNOLOGIES": "Local"},
            )
        )

    async def start(self) -> None:
        await self._proxy.start()
        ari = urlsplit(self.access.ari_url)
        proxied = ari._replace(netloc=f"127.0.0.1:{self._proxy.port}").geturl()
        self.access = dataclasses.replace(self.access, ari_url=proxied)
        connected = asyncio.Event()
        self._events_task = asyncio.create_task(self._read_events(connected))
        await asyncio.wait_for(connected.wait(), CONNECT_SECONDS)

    async def close(self) -> None:
        for phone in {id(p): p for p in self._phones.values()}.values():
            if phone.own is not None:
                with contextlib.suppress(AriError):
                    await self.ari.channels.hangup(phone.own)
        if self._events_task is not None:
            self._events_task.cancel()
            await asyncio.gather(self._events_task, return_exceptions=True)
        await self.ari.close()
        await self._proxy.close()

    # ------------------------------------------------------------- Target

    def caller_phone(self, name: str, number: str) -> LocalPhone:
        return LocalPhone(self, name, f"{RUN}-{number}", "sim-dial")

    def agent_phone(self, name: str, number: str, answers: bool = True) -> LocalPhone:
        if answers:
            agent = LocalPhone(self, name, f"{RUN}-{number}", "sim-agent")
        else:
            agent = LocalPhone(self, name, f"{RUN}-{number}", "sim-ring")
        self._called[agent.endpoint] = agent
        return agent

    def trunk_phone(self, name: str, number: str, answers: str | None = "person") -> LocalPhone:
        digits = number.removeprefix("+")
        customer = LocalPhone(self, name, f"{RUN}-{digits}", "sim-ring", answers)
        self._called[customer.endpoint] = customer
        return customer

    async def connect(self, caller: Phone, agent: Phone, context: str = "sim-dial") -> None:
        assert isinstance(agent, LocalPhone)
        await self._originate_caller(caller, f"{agent.exten}@{context}")
        await agent.wait_for(lambda p: p.leg is not None, within=CONNECT_SECONDS)

    async def call_entry(self, caller: Phone, entry: str, agent: Phone | None) -> None:
        assert agent is None or isinstance(agent, LocalPhone)
        exten = agent.exten if agent is not None else f"{RUN}-{PAYLINE}"
        await self._originate_caller(caller, f"{exten}@sim-{entry}")

    async def bridges(self) -> list[BridgeView]:
        """This test process's bridges: its payivr's, and those holding its phones (other
        workers' calls share the Asterisk)."""
        application = await self.ari.applications.get(self.access.app)
        return [
            BridgeView(bridge.id, frozenset(bridge.channels), bridge.technology, None, None)
            for bridge in await self.ari.bridges.list()
            if bridge.id in application.bridge_ids or not self._phones.keys().isdisjoint(
                bridge.channels
            )
        ]

    async def stasis_channels(self) -> list[str]:
        application = await self.ari.applications.get(self.access.app)
        return list(application.channel_ids)

    async def drop_event_sockets(self) -> None:
        """Abort payivr's event WebSocket at the proxy between payivr and Asterisk."""
        assert self._proxy.drop(b"GET /ari/events") >= 1

    def fail_next(self, method: str, path: str, count: int = 1, status: int = 500) -> None:
        pytest.skip("fault injection needs the ARI simulator")

    # ------------------------------------------------------------- the harness application

    async def subscribe(self, channel_id: str) -> None:
        """See the playbacks payivr starts on the half it handles."""
        await self.ari.request(
            "POST",
            "applications",
            HARNESS_APP,
            "subscription",
            params={"eventSource": f"channel:{channel_id}"},
        )

    async def _originate_caller(self, caller: Phone, destination: str) -> None:
        """``caller`` calls ``<exten>@<context>`` (a Local channel the harness owns)."""
        assert isinstance(caller, LocalPhone)
        own = f"{HARNESS_APP}-{caller.name}-{next(self._numbers)}"
        self._phones[own] = caller
        self._phones[f"{own};2"] = caller
        await self.ari.channels.originate(
            f"Local/{destination}/n",
            channel_id=own,
            other_channel_id=f"{own};2",
            app=HARNESS_APP,
            app_args="callerphone",
        )
        await caller.wait_for(lambda p: p.leg is not None, within=CONNECT_SECONDS)

    async def _read_events(self, connected: asyncio.Event) -> None:
        """The harness application's events, straight from Asterisk (no proxy, no drops)."""
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(
                self.ari.events_url(HARNESS_APP),
                headers={"Authorization": self.ari.authorization},
            ) as ws,
        ):
            connected.set()
            async for message in ws:
                if message.type is not aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                if data["type"] == "ChannelDialplan":
                    self._on_dialplan_step(data)
                    continue
                event = parse_event(data)
                if event is not None:
                    self._on_event(event)

    def _on_dialplan_step(self, data: dict[str, Any]) -> None:
        """A prompt the dialplan plays to a phone's leg (``Playback()``/``Background()``
        after payivr refused or lost the call, ``Read()``'s beep after ``*7``): heard as if
        payivr had played it."""
        phone = self._phones.get(data["channel"]["id"])
        if phone is None or data["channel"]["id"] != phone.leg:
            return
        arguments = data["dialplan_app_data"].split(",")
        files = {"Playback": 0, "Background": 0, "Read": 1}.get(data["dialplan_app"])
        if files is not None and len(arguments) > files and arguments[files]:
            for sound in arguments[files].split("&"):
                phone.played(f"sound:{sound}")

    def _on_event(self, event: AriEvent) -> None:
        if isinstance(event, StasisStart) and event.channel.id not in self._phones:
            called = self._called.get(endpoint_of(event.channel.name))
            if called is not None and event.args[:1] in (("agentphone",), ("ringingphone",)):
                self._phones[event.channel.id] = called
                self._spawn(self._attach_called(called, event.channel))
            return
        if isinstance(event, StasisStart) and event.args[:1] == ("callerphone",):
            caller = self._phones[event.channel.id]
            leg = f"{event.channel.id};2"  # chosen as other_channel_id when originating
            self._spawn(caller.attach(event.channel.id, leg, event.channel.caller.number, False))
            return
        if isinstance(event, PlaybackStarted):
            channel_id = event.playback.channel_id
            phone = self._phones.get(channel_id or "")
            if phone is not None and channel_id == phone.leg:
                phone.played(event.playback.media_uri)
            return
        if isinstance(event, ChannelDtmfReceived):
            phone = self._phones.get(event.channel.id)
            if phone is not None and event.channel.id == phone.own:
                phone.dtmf(event.digit)
            return
        if isinstance(event, StasisEnd | ChannelDestroyed | ChannelHangupRequest):
            phone = self._phones.get(event.channel.id)
            if phone is not None and event.channel.id == phone.own:
                phone.detach()

    def _spawn(self, work: Coroutine[None, None, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attach_called(self, phone: LocalPhone, own: Channel) -> None:
        """The called phone's half is ``...;2``; the leg payivr or Dial() handles is its
        ``;1`` sibling. A phone in [sim-ring] rings, then answers as its ``answers`` says."""
        leg_name = own.name[: -len(";2")] + ";1"
        leg = next(c.id for c in await self.ari.channels.list() if c.name == leg_name)
        self._phones[leg] = phone
        ringing = own.state != "Up"
        await phone.attach(own.id, leg, own.caller.number, ringing)
        if not ringing:
            return
        with contextlib.suppress(ChannelGone, NotInStasis):  # refused or given up meanwhile
            await self.ari.channels.ring(own.id)
            if phone.answers is None:
                return
            await self.ari.channels.answer(own.id)
            phone.answered()
            await self.ari.channels.play(
                own.id, GREETINGS[phone.answers], playback_id=f"{own.id}-greeting"
            )

