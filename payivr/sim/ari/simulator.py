"""``AriSimulator``: start/stop the server and drive the simulated world from Python."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from .dialplan import Dialplan
from .engine import Engine
from .events import SimulatedAriError, SimulatorEvent
from .model import ASTERISK_ID, Clock, SimBridge, SimChannel
from .phones import PhoneError, SimPhone
from .server import AriFront, Fault
from .sounds import SoundLibrary
from .spec import ApiSpec, shipped_spec

ENTITY_ID = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")


@dataclass(frozen=True)
class DialedCall:
    """A call set up by ``Dial()``: both channels and their (basic) bridge."""

    caller_channel_id: str
    agent_channel_id: str
    bridge_id: str


class AriSimulator:
    """An Asterisk 22 look-alike on ``/ari``: see the package docstring for the whole API."""

    def __init__(
        self,
        username: str,
        password: str,
        sounds_dir: str | Path | None = None,
        time_scale: float = 1.0,
        session_limit: int = 100,
        *,
        sound_durations: dict[str, float | None] | None = None,
        default_sound_duration: float = 1.0,
        dialplan: Dialplan | None = None,
        spec: ApiSpec | None = None,
        asterisk_id: str = ASTERISK_ID,
    ) -> None:
        """``asterisk_id``: the entity id (``entityid`` in asterisk.conf, six hex bytes such
        as ``02:fc:00:00:00:01``) in ``/asterisk/info``, ``/asterisk/ping`` and every event."""
        if not ENTITY_ID.fullmatch(asterisk_id):
            raise ValueError(f"an entity id is six hex bytes joined by ':', not {asterisk_id!r}")
        self.clock = Clock(time_scale)
        self.sounds = SoundLibrary(Path(sounds_dir) if sounds_dir is not None else None,
                                   sound_durations, default_sound_duration)
        self.dialplan = dialplan if dialplan is not None else Dialplan.default()
        self.spec = spec if spec is not None else shipped_spec()
        self.engine = Engine(self.clock, self.sounds, self.dialplan, asterisk_id)
        self._front = AriFront(self.engine, self.spec, username, password, session_limit)
        self._runner: web.ServerRunner | None = None
        self._server: Any = None
        self.base_url = ""

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on ``host:port`` (0: any free port); returns ``http://host:port``."""
        self.engine.started = self.clock.now()
        self._server = self._front.make_server()
        self._runner = web.ServerRunner(self._server, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        address = self._runner.addresses[0]
        self.base_url = f"http://{address[0]}:{address[1]}"
        return self.base_url

    async def stop(self) -> None:
        """Close every socket and stop listening; channels are left as they are."""
        await self._front.drop_websockets(None, "close")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> AriSimulator:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    # -- phones and calls -----------------------------------------------------------------------

    def add_phone(self, name: str, endpoint: str = "PJSIP/1001", technology: str = "sip",
                  auto_answer: bool = True, answer_delay: float = 0.5,
                  answering_machine: bool = False, context: str = "default") -> SimPhone:
        """A handset on ``endpoint``; ``answer_delay`` simulated seconds of ringing. A number
        behind a trunk is ``PJSIP/<number>@<trunk endpoint>``; ``answering_machine``: what
        answers is a voicemail greeting (for ``AMD()``); ``context``: the endpoint's
        ``context`` in pjsip.conf (where a blind transfer it makes looks for the number)."""
        phone = SimPhone(self.engine, name, endpoint, technology, auto_answer, answer_delay,
                         answering_machine, context)
        self.engine.lifecycle.add_phone(phone)
        return phone

    def reach_phone_at(self, phone: SimPhone, endpoint: str) -> None:
        """Dialling ``endpoint`` rings ``phone`` too (e.g. ``PJSIP/+15550001002@trunk``: the
        same handset as a number on the trunk)."""
        self.engine.lifecycle.reach_phone_at(phone, endpoint)

    async def dial(self, caller: SimPhone, agent: SimPhone, *, context: str = "sim-phones",
                   dynamic_features: str = "payivr", within: float = 10.0) -> DialedCall:
        """``caller`` calls ``agent`` through the dialplan's ``Dial()``: both channels up and
        in a basic bridge (native if both are SIP and no feature code is enabled), not in
        Stasis. ``dynamic_features`` is set on the agent's leg (as a pre-dial handler)."""
        if caller.channel is not None or agent.channel is not None:
            raise PhoneError("both phones must be idle to dial")
        channel = self.engine.lifecycle.device_call(caller, context, agent.resource)
        channel.variables["DIAL_ENDPOINT"] = agent.endpoint
        channel.variables["__SIM_AGENT_FEATURES"] = dynamic_features
        channel.variables["SIM_AGENT_FEATURES"] = dynamic_features

        def connected(_: SimPhone) -> bool:
            bridge = channel.bridge
            return bridge is not None and len(bridge.channels) == 2
        await caller.wait_for(connected, within)
        assert agent.channel is not None and channel.bridge is not None
        return DialedCall(channel.id, agent.channel.id, channel.bridge.id)

    async def enter_stasis(self, channel_id: str, app: str, args: list[str] | tuple[str, ...] = ()
                           ) -> None:
        """Run ``Stasis(app,args...)`` on a channel as the dialplan would. Without a
        connected WebSocket for ``app`` it fails as Asterisk's does: ``STASISSTATUS=FAILED``,
        listeners get :class:`StasisFailed`, and the channel stays where it was."""
        channel = self.engine.lifecycle.find_channel(channel_id)
        self.engine.stasis.enter_stasis(channel, app, list(args))

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1,
                       extra_channel: str | None = None, extra_context: str | None = None,
                       extra_exten: str | None = None, extra_priority: int | None = None
                       ) -> None:
        """AMI ``Redirect`` (with ``ExtraChannel``): channels by id or name; raises
        :class:`SimChannelNotFound` (AMI: ``Channel does not exist``) before moving anything."""
        first = self.engine.lifecycle.find_channel(channel)
        second = self.engine.lifecycle.find_channel(extra_channel) if extra_channel else None
        self.engine.stasis.redirect(first, context, exten, priority)
        if second is not None:
            self.engine.stasis.redirect(second, extra_context or context, extra_exten or exten,
                                        extra_priority or priority)

    def set_variable(self, channel: str, name: str, value: str) -> None:
        """AMI ``Setvar`` on a channel (by id or name)."""
        self.engine.lifecycle.set_variable(self.engine.lifecycle.find_channel(channel), name, value)

    async def hangup(self, channel: str, cause: int = 16) -> None:
        """AMI ``Hangup``: Asterisk hangs the channel up itself."""
        found = self.engine.lifecycle.find_channel(channel)
        self.engine.lifecycle.hangup(found, cause=cause, initiator="ari")

    # -- looking at the world ---------------------------------------------------------------------

    @property
    def channels(self) -> dict[str, SimChannel]:
        """Live channels by id (read them; change them through the API)."""
        return self.engine.channels

    @property
    def bridges(self) -> dict[str, SimBridge]:
        return self.engine.bridges

    def find_channel(self, id_or_name: str) -> SimChannel:
        return self.engine.lifecycle.find_channel(id_or_name)

    def stasis_channels(self, app: str) -> list[SimChannel]:
        return [c for c in self.engine.channels.values() if c.stasis_app == app]

    def app_connected(self, app: str) -> bool:
        return self.engine.router.app_is_active(app)

    def add_listener(self, callback: Callable[[SimulatorEvent], None]) -> None:
        """Called with :class:`UserEventRaised`, :class:`StasisFailed`,
        :class:`ChannelHungUp` and :class:`ChannelContinued` as they happen."""
        self.engine.router.add_listener(callback)

    def add_event_observer(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        """Called with ``(app, event)`` for every ARI event emitted, socket or not."""
        self.engine.router.add_event_observer(callback)

    def add_request_observer(self, callback: Callable[[str, str, bytes], None]) -> None:
        """Called with ``(method, path with its query string, body)`` of every HTTP request
        received, before it is answered (what a client sent, secrets included)."""
        self._front.request_observers.append(callback)

    def mount_sounds(self, prefix: str, directory: str | Path) -> None:
        """``sound:<prefix>/...`` plays files from ``directory`` (e.g. ``payivr`` -> sounds/)."""
        self.sounds.mount(prefix, Path(directory))

    @property
    def open_sessions(self) -> int:
        """HTTP connections open now (WebSockets included), as ``sessionlimit`` counts."""
        return self._server.open_sessions if self._server is not None else 0

    @property
    def refused_sessions(self) -> int:
        return self._server.refused if self._server is not None else 0

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """REST requests answered (the latest 100,000): ``(method, operation path, status)``."""
        return list(self._front.requests)

    # -- faults ---------------------------------------------------------------------------------

    async def drop_websockets(self, app: str | None = None, mode: str = "close") -> int:
        """Drop event WebSockets of ``app`` (all if None). ``close``: a close frame;
        ``abort``: TCP reset; ``silent``: the connection stays but nothing flows either way
        (no events, no pongs), as a dead network path. Returns how many."""
        return await self._front.drop_websockets(app, mode)

    def fail_next(self, method: str, path: str, count: int = 1, status: int = 500,
                  message: str = "Internal Server Error") -> None:
        """The next ``count`` ``method`` requests on ``path`` (an api-docs path such as
        ``/channels/{channelId}/play``, or a concrete one) answer ``status`` and do nothing."""
        self._front.faults.append(Fault(method.upper(), path, count, status, message))


__all__ = ["AriSimulator", "DialedCall", "SimulatedAriError"]
