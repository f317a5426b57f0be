"""An Asterisk Manager Interface server that behaves like Asterisk 22 for what payivr uses.

Modelled on the exact text of a real session (``tests/fixtures/ami/takeover-wire.txt``):
banner, Login (a failed login is answered and the connection closed), FullyBooted and
SuccessfulAuth after a good login, Events, CoreShowChannels, BridgeList, BridgeInfo, Setvar,
Getvar, Redirect (single and dual, with ExtraContext/ExtraExten/ExtraPriority), Ping, Logoff,
and UserEvents raised by the PBX's dialplan. The PBX itself is a :class:`PbxModel`.

Start it with ``sim = AmiSimulator(pbx, users={"payivr": "secret"}); await sim.start()``, then
connect to ``sim.port``; ``sim.drop_connections()`` cuts every session as a restart would.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime

import structlog

from payivr.ami.models import (
    BridgeSnapshot,
    ChannelSnapshot,
    DialplanLocation,
    Redirect,
)
from payivr.sim.ami.pbx import (
    NoAudiohooks,
    NoSuchChannel,
    PbxModel,
    PbxUserEvent,
)
from payivr.sim.ami.wire import AmiMessage, AmiParser, AmiProtocolError, encode_message

log = structlog.get_logger(__name__)

_AST_FALSE = frozenset({"no", "false", "n", "f", "0", "off"})  # main/utils.c ast_false()

AMI_VERSION = "11.0.0"  # what Asterisk 22 announces
EVENT_CLASSES = frozenset(
    {"system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf",
     "reporting", "cdr", "dialplan", "originate", "agi", "cc", "aoc", "test", "security",
     "message"}
)  # fmt: skip
Headers = list[tuple[str, str]]


def channel_fields(channel: ChannelSnapshot) -> Headers:
    """The fields Asterisk puts in every event about a channel, in Asterisk's order."""
    return [
        ("Channel", channel.name),
        ("ChannelState", str(int(channel.state))),
        ("ChannelStateDesc", channel.state.description),
        ("CallerIDNum", channel.caller_id_num),
        ("CallerIDName", channel.caller_id_name),
        ("ConnectedLineNum", channel.connected_line_num),
        ("ConnectedLineName", channel.connected_line_name),
        ("Language", channel.language),
        ("AccountCode", channel.account_code),
        ("Context", channel.context),
        ("Exten", channel.exten),
        ("Priority", str(channel.priority)),
        ("Uniqueid", channel.uniqueid),
        ("Linkedid", channel.linkedid),
    ]


def bridge_fields(bridge: BridgeSnapshot) -> Headers:
    return [
        ("BridgeUniqueid", bridge.uniqueid),
        ("BridgeType", bridge.bridge_type),
        ("BridgeTechnology", bridge.technology),
        ("BridgeCreator", bridge.creator),
        ("BridgeName", bridge.name),
        ("BridgeNumChannels", str(len(bridge.channels))),
        ("BridgeVideoSourceMode", bridge.video_source_mode),
    ]


def _duration(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _event_tv(now: float) -> str:
    stamp = datetime.fromtimestamp(now, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"


def _parse_classes(value: str) -> frozenset[str]:
    """``Events``/``EventMask`` value: on, off, or a list of classes."""
    words = {w.strip().casefold() for w in value.split(",") if w.strip()}
    if not words or words & {"off", "no", "false", "0"}:
        return frozenset()
    if words & {"on", "yes", "true", "all"}:
        return EVENT_CLASSES
    return frozenset(words & EVENT_CLASSES)


class _Session:
    def __init__(
        self,
        simulator: AmiSimulator,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.simulator = simulator
        self.reader = reader
        self.writer = writer
        self.username: str | None = None
        self.events: frozenset[str] = EVENT_CLASSES
        self.closing = False

    # -- output -------------------------------------------------------------------------
    def send(self, headers: Iterable[tuple[str, str]]) -> None:
        if not self.closing:
            self.writer.write(encode_message(headers))

    def respond(self, action: AmiMessage, response: str, *fields: tuple[str, str]) -> None:
        headers: Headers = [("Response", response)]
        if "ActionID" in action:
            headers.append(("ActionID", action.get("ActionID")))
        headers.extend(fields)
        self.send(headers)

    def ack(self, action: AmiMessage, message: str) -> None:
        self.respond(action, "Success", ("Message", message))

    def error(self, action: AmiMessage, message: str) -> None:
        self.respond(action, "Error", ("Message", message))

    def list_ack(self, action: AmiMessage, message: str) -> None:
        self.respond(action, "Success", ("EventList", "start"), ("Message", message))

    def list_event(self, action: AmiMessage, event: str, fields: Headers) -> None:
        headers: Headers = [("Event", event)]
        if "ActionID" in action:
            headers.append(("ActionID", action.get("ActionID")))
        self.send(headers + fields)

    def event(self, event_class: str, event: str, fields: Headers) -> None:
        if self.username is not None and event_class in self.events:
            self.send([("Event", event), ("Privilege", f"{event_class},all"), *fields])

    # -- input --------------------------------------------------------------------------
    async def run(self) -> None:
        parser = AmiParser()
        self.send_banner()
        try:
            while not self.closing:
                data = await self.reader.read(4096)
                if not data:
                    break
                for action in parser.feed(data):
                    await self.handle(action)
                    if self.closing:
                        break
                if not self.closing:
                    await self.writer.drain()
        except (ConnectionError, AmiProtocolError) as exc:
            log.info("ami_sim.session_error", error=type(exc).__name__)
        finally:
            self.closing = True
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()

    def send_banner(self) -> None:
        self.writer.write(f"Asterisk Call Manager/{AMI_VERSION}\r\n".encode())

    async def handle(self, action: AmiMessage) -> None:
        name = action.get("Action")
        if not name:
            self.error(action, "Missing action in request")
            return
        folded = name.casefold()
        if self.username is None and folded not in ("login", "logoff", "challenge"):
            self.error(action, "Permission denied")
            return
        handler = self.simulator.actions.get(folded)
        if handler is None:
            self.error(
                action,
                f"Invalid/unknown command: {name}. "
                "Use Action: ListCommands to show available commands.",
            )
            return
        await handler(self, action)

    def close(self) -> None:
        self.closing = True
        self.writer.close()


ActionHandler = Callable[[_Session, AmiMessage], Awaitable[None]]


class AmiSimulator:
    def __init__(
        self,
        pbx: PbxModel,
        users: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pbx = pbx
        self.users = dict(users)
        self.clock = clock
        self.started_at = clock()
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe = pbx.add_user_event_listener(self._on_user_event)
        self.actions: dict[str, ActionHandler] = {
            "login": self._login,
            "logoff": self._logoff,
            "events": self._events,
            "ping": self._ping,
            "coreshowchannels": self._core_show_channels,
            "bridgelist": self._bridge_list,
            "bridgeinfo": self._bridge_info,
            "setvar": self._setvar,
            "getvar": self._getvar,
            "redirect": self._redirect,
            "mixmonitormute": self._mixmonitor_mute,
            "userevent": self._user_event,
        }

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._accept, host, port)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("AmiSimulator.start() has not been called")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def session_count(self) -> int:
        return len(self._sessions)

    def drop_connections(self) -> None:
        """Cut every session without a word, as an Asterisk restart would."""
        for session in list(self._sessions):
            session.closing = True
            session.writer.transport.abort()

    async def close(self) -> None:
        self._unsubscribe()
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            session.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(self, reader, writer)
        self._sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run()
        finally:
            self._sessions.discard(session)
            if task is not None:
                self._tasks.discard(task)

    def _on_user_event(self, raised: PbxUserEvent) -> None:
        fields = [*channel_fields(raised.channel), ("UserEvent", raised.name), *raised.fields]
        for session in list(self._sessions):
            session.event("user", "UserEvent", fields)

    # -- actions ------------------------------------------------------------------------
    async def _user_event(self, session: _Session, action: AmiMessage) -> None:
        """``Action: UserEvent`` (manager.c's action_userevent, needs ``write = user``): every
        header but Action, ActionID and UserEvent goes out in a UserEvent to ``user`` readers,
        with no channel fields: no channel raised it, so any AMI client can name any channel."""
        name = action.get("UserEvent")
        fields = [
            (header, value)
            for header, value in action.headers
            if header.casefold() not in ("action", "actionid", "userevent")
        ]
        session.respond(action, "Success", ("Message", "Event Sent"))
        for other in list(self._sessions):
            other.event("user", "UserEvent", [("UserEvent", name), *fields])

    async def _login(self, session: _Session, action: AmiMessage) -> None:
        username = action.get("Username")
        secret = self.users.get(username)
        if secret is None or not secrets.compare_digest(secret, action.get("Secret")):
            session.error(action, "Authentication failed")
            await session.writer.drain()
            session.close()
            return
        session.username = username
        if "Events" in action:
            session.events = _parse_classes(action.get("Events"))
        session.ack(action, "Authentication accepted")
        now = self.clock()
        uptime = str(int(now - self.started_at))
        session.event(
            "system",
            "FullyBooted",
            [("Uptime", uptime), ("LastReload", uptime), ("Status", "Fully Booted")],
        )
        local = session.writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        remote = session.writer.get_extra_info("peername") or ("127.0.0.1", 0)
        session.event(
            "security",
            "SuccessfulAuth",
            [
                ("EventTV", _event_tv(now)),
                ("Severity", "Informational"),
                ("Service", "AMI"),
                ("EventVersion", "1"),
                ("AccountID", username),
                ("SessionID", f"0x{id(session):x}"),
                ("LocalAddress", f"IPV4/TCP/{local[0]}/{local[1]}"),
                ("RemoteAddress", f"IPV4/TCP/{remote[0]}/{remote[1]}"),
                ("UsingPassword", "0"),
                ("SessionTV", _event_tv(now)),
            ],
        )

    async def _logoff(self, session: _Session, action: AmiMessage) -> None:
        session.respond(action, "Goodbye", ("Message", "Thanks for all the fish."))
        await session.writer.drain()
        session.close()

    async def _events(self, session: _Session, action: AmiMessage) -> None:
        session.events = _parse_classes(action.get("EventMask"))
        session.respond(action, "Success", ("Events", "On" if session.events else "Off"))

    async def _ping(self, session: _Session, action: AmiMessage) -> None:
        now = self.clock()
        session.respond(action, "Success", ("Ping", "Pong"), ("Timestamp", f"{now:.6f}"))

    async def _core_show_channels(self, session: _Session, action: AmiMessage) -> None:
        channels = list(self.pbx.channels())
        session.list_ack(action, "Channels will follow")
        for channel in channels:
            session.list_event(
                action,
                "CoreShowChannel",
                [
                    *channel_fields(channel),
                    ("Application", channel.application),
                    ("ApplicationData", channel.application_data),
                    ("Duration", _duration(channel.duration_seconds)),
                    ("BridgeId", channel.bridge_id),
                ],
            )
        session.list_event(
            action,
            "CoreShowChannelsComplete",
            [("EventList", "Complete"), ("ListItems", str(len(channels)))],
        )

    async def _bridge_list(self, session: _Session, action: AmiMessage) -> None:
        wanted = action.get("BridgeType")
        bridges = [b for b in self.pbx.bridges() if not wanted or b.bridge_type == wanted]
        session.list_ack(action, "Bridge listing will follow")
        for bridge in bridges:
            session.list_event(action, "BridgeListItem", bridge_fields(bridge))
        session.list_event(
            action,
            "BridgeListComplete",
            [("EventList", "Complete"), ("ListItems", str(len(bridges)))],
        )

    async def _bridge_info(self, session: _Session, action: AmiMessage) -> None:
        bridge_id = action.get("BridgeUniqueid")
        if not bridge_id:
            session.error(action, "BridgeUniqueid must be provided")
            return
        bridge = next((b for b in self.pbx.bridges() if b.uniqueid == bridge_id), None)
        if bridge is None:
            session.error(action, "Specified BridgeUniqueid not found")
            return
        members = [channel for name in bridge.channels if (channel := self._channel(name))]
        session.list_ack(action, "Bridge channel listing will follow")
        for channel in members:
            session.list_event(action, "BridgeInfoChannel", channel_fields(channel))
        session.list_event(
            action,
            "BridgeInfoComplete",
            [("EventList", "Complete"), ("ListItems", str(len(members))), *bridge_fields(bridge)],
        )

    async def _setvar(self, session: _Session, action: AmiMessage) -> None:
        variable = action.get("Variable")
        if not variable:
            session.error(action, "No variable specified")
            return
        try:
            self.pbx.setvar(action.get("Channel") or None, variable, action.get("Value"))
        except NoSuchChannel:
            session.error(action, "No such channel")
            return
        session.ack(action, "Variable Set")

    async def _getvar(self, session: _Session, action: AmiMessage) -> None:
        variable = action.get("Variable")
        if not variable:
            session.error(action, "No variable specified")
            return
        try:
            value = self.pbx.getvar(action.get("Channel") or None, variable)
        except NoSuchChannel:
            session.error(action, "No such channel")
            return
        session.respond(action, "Success", ("Variable", variable), ("Value", value or ""))

    async def _mixmonitor_mute(self, session: _Session, action: AmiMessage) -> None:
        """app_mixmonitor's ``manager_mute_mixmonitor``: its checks and messages in order."""
        direction = (action.get("Direction") or "").casefold()
        if not direction:
            session.error(action, "No direction specified. Must be read, write or both")
            return
        if direction not in ("read", "write", "both"):
            session.error(action, "Invalid direction specified. Must be read, write or both")
            return
        channel = action.get("Channel")
        if not channel:
            session.error(action, "No channel specified")
            return
        state = action.get("State")
        if not state:
            session.error(action, "No state specified")
            return
        muted = state.casefold() not in _AST_FALSE  # ast_false() clears the mute
        try:
            count = self.pbx.mute_recording(
                channel, direction in ("read", "both"), direction in ("write", "both"), muted
            )
        except NoSuchChannel:
            session.error(action, "No such channel")
            return
        except NoAudiohooks:
            session.error(action, "Cannot set mute flag")
            return
        session.respond(action, "Success")
        snapshot = self._channel(channel)
        if snapshot is not None:
            fields = [*channel_fields(snapshot), ("Direction", direction)]
            fields += [("State", "1" if muted else "0"), ("Count", str(count))]
            for other in list(self._sessions):
                other.event("call", "MixMonitorMute", fields)

    def _channel(self, name: str) -> ChannelSnapshot | None:
        try:
            return self.pbx.channel(name)
        except NoSuchChannel:
            return None

    async def _redirect(self, session: _Session, action: AmiMessage) -> None:
        channel = action.get("Channel")
        extra = action.get("ExtraChannel")
        for header, message in (
            ("Channel", "Channel not specified"),
            ("Context", "Context not specified"),
            ("Exten", "Exten not specified"),
            ("Priority", "Priority not specified"),
        ):
            if not action.get(header):
                session.error(action, message)
                return
        target = _location(action.get("Context"), action.get("Exten"), action.get("Priority"))
        if target is None:
            session.error(action, "Priority is invalid")
            return
        extra_target = None
        if extra and action.get("ExtraContext"):
            extra_target = _location(
                action.get("ExtraContext"),
                action.get("ExtraExten"),
                action.get("ExtraPriority"),
            )
            if extra_target is None:
                session.error(action, "ExtraPriority is invalid")
                return
        if self._channel(channel) is None:
            session.error(action, f"Channel does not exist: {channel}")
            return
        if extra and self._channel(extra) is None:
            session.error(action, f"ExtraChannel does not exist: {extra}")
            return
        try:
            await self.pbx.redirect(Redirect(channel, target, extra or None, extra_target))
        except NoSuchChannel:
            session.error(action, "Redirect failed")
            return
        session.ack(action, "Dual Redirect successful" if extra else "Redirect successful")


def _location(context: str, exten: str, priority: str) -> DialplanLocation | None:
    """Priorities must be numbers here: the simulator has no dialplan to look labels up in."""
    try:
        number = int(priority)
    except ValueError:
        return None
    if number < 1 or not context or not exten:
        return None
    return DialplanLocation(context, exten, number)
