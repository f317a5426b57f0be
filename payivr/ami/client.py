"""payivr's AMI client, on panoramisk 1.4's ``Manager``.

    client = AmiClient(host="asterisk", port=5038, username="payivr", secret=...)
    client.on_takeover_request(handle)          # *7 -> UserEvent PayIVRRequest
    await client.connect()                      # inside the running loop; raises on bad login
    call = await client.find_call("PJSIP/1001") # console request: the agent's bridged call
    await client.take_over(TakeoverRequest.new(call.agent.name, call.peer.name))
    await client.close()

What this adds to panoramisk: the Manager is created inside the running loop; a rejected
login raises :class:`AmiLoginFailed` instead of reconnecting forever; after a drop it
reconnects and logs in again, and actions that were in flight fail with
:class:`AmiConnectionError` rather than being replayed later (a replayed Redirect could pull a
caller out of a payment); a keepalive Ping with a timeout detects dead connections; every
action has a timeout; ``Originate`` is always sent with ``Async: true``; junk from the
connection (see :class:`_Protocol`) is dropped message by message, never taking the
connection down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from payivr.ami.errors import (
    AmiActionError,
    AmiConnectionError,
    AmiLoginFailed,
    AmiTimeout,
    InvalidTakeoverRequest,
)
from payivr.ami.models import BridgeSnapshot, ChannelSnapshot, ChannelState, Redirect
from payivr.ami.takeover import REQUEST_EVENT, TakeoverRequest, parse_user_event
from payivr.core.channels import on_endpoint

log = structlog.get_logger(__name__)

_SAFE_TO_REPEAT = frozenset(
    {"ping", "coreshowchannels", "bridgelist", "bridgeinfo", "getvar", "setvar"}
)
TakeoverCallback = Callable[[TakeoverRequest], Awaitable[None] | None]

BRIDGE_PEER_VARIABLE = "BRIDGEPEER"

MAX_MESSAGE_CHARS = 1 << 20
"""The longest AMI message payivr waits for (Asterisk's are a few hundred characters); past
it, the connection is dropped and made again rather than buffered without end."""
_EOM = "\r\n\r\n"
_SINGLE_HEADERS = ("Event", "Response", "ActionID", "CommandID", "Message", "EventList",
                   "SubEvent")
"""Headers panoramisk reads as one string; it makes a list of a header that appears twice."""


@dataclass(frozen=True)
class ActiveCall:
    """An agent's leg and the one other leg in its bridge."""

    agent: ChannelSnapshot
    peer: ChannelSnapshot
    bridge_id: str

    @property
    def in_stasis(self) -> bool:
        """Both legs already belong to a Stasis app (payivr bridged them): no redirect needed."""
        return all(c.application == "Stasis" for c in (self.agent, self.peer))


def channel_from_headers(headers: Mapping[str, str]) -> ChannelSnapshot:
    """A ChannelSnapshot from a CoreShowChannel/BridgeInfoChannel/UserEvent message."""

    def get(key: str) -> str:
        return headers.get(key) or ""

    duration = get("Duration")
    seconds = 0
    if duration.count(":") == 2 and duration.replace(":", "").isdigit():
        hours, minutes, secs = (int(part) for part in duration.split(":"))
        seconds = hours * 3600 + minutes * 60 + secs
    try:
        state = ChannelState(int(get("ChannelState")))
    except ValueError:
        state = ChannelState.DOWN
    return ChannelSnapshot(
        name=get("Channel"),
        uniqueid=get("Uniqueid"),
        linkedid=get("Linkedid"),
        state=state,
        caller_id_num=get("CallerIDNum"),
        caller_id_name=get("CallerIDName"),
        connected_line_num=get("ConnectedLineNum"),
        connected_line_name=get("ConnectedLineName"),
        language=get("Language"),
        account_code=get("AccountCode"),
        context=get("Context"),
        exten=get("Exten"),
        priority=int(get("Priority")) if get("Priority").isdigit() else 0,
        application=get("Application"),
        application_data=get("ApplicationData"),
        duration_seconds=seconds,
        bridge_id=get("BridgeId"),
    )


class _Protocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's AMI protocol, framing and dispatching messages one at a time.

    panoramisk lets an exception escape ``data_received`` (a repeated ``Event`` or
    ``ActionID`` header, a callback failing), which makes asyncio close the connection and
    lose every message behind it in the same read; it buffers a message with no end without
    limit; and at DEBUG it logs every message whole. Here a malformed message is logged by
    its header names only and dropped, a failing one is logged by the error's type, and an
    over-long one ends the connection.
    """

    version: str | None

    def data_received(self, data: bytes) -> None:
        text = (self.queue.popleft() if self.queue else "") + data.decode(
            getattr(self, "encoding", "utf8"), "ignore"
        )
        if self.version is None and text.startswith("Asterisk Call Manager/"):
            self.version = text.partition("\r\n")[0].partition("/")[2].strip()
        *complete, rest = text.split(_EOM)
        for raw in complete:
            if self.closed:  # a Shutdown event, or the keepalive gave up
                return
            self._received(raw)
        if len(rest) > MAX_MESSAGE_CHARS:
            log.warning("ami.message_too_long", chars=len(rest), limit=MAX_MESSAGE_CHARS)
            self.transport.abort()
            return
        self.queue.append(rest)

    def _received(self, raw: str) -> None:
        message = Message.from_line(raw.strip())
        if message is None:
            return  # neither an Event nor a Response: nothing to act on
        repeated = [name for name in _SINGLE_HEADERS if isinstance(message.get(name), list)]
        if repeated:
            log.warning("ami.message_malformed", repeated_headers=repeated)
            return
        try:
            self.handle_message(message)
        except Exception as exc:
            log.error("ami.message_failed", error=type(exc).__name__)


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager with payivr's login, reconnect and replay rules (see module doc)."""

    def __init__(self, client: AmiClient, **config: Any) -> None:
        super().__init__(**config)
        self._client = client
        # panoramisk casts these to int; keep sub-second delays for tests.
        self.reconnect_timeout = client.reconnect_delay

    def connect(self, *args: Any, **kwargs: Any) -> Any:
        if self._client.closing:
            return None
        return super().connect(*args, **kwargs)

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if self._client.closing:
            if not f.cancelled() and f.exception() is None:
                f.result()[0].close()
            return
        super().connection_made(f)

    def ping(self) -> None:
        """Replaced by AmiClient's keepalive, which notices when no Pong comes back."""

    def login(self, future: asyncio.Future[Any]) -> bool:
        if future.cancelled():
            return False
        accepted: bool = super().login(future)
        self._client._login_answered(accepted, future.result())
        return accepted

    def connection_lost(self, exc: Exception | None) -> None:
        # panoramisk would send these again after the next login: fail them instead.
        self.awaiting_actions.clear()
        self._client._connection_lost()
        if self._client.closing:
            self._connected = False
            return
        super().connection_lost(exc)


class AmiClient:
    def __init__(
        self,
        *,
        host: str,
        port: int = 5038,
        username: str,
        secret: str,
        reconnect_delay: float = 2.0,
        action_timeout: float = 5.0,
        keepalive_interval: float = 10.0,
        connect_timeout: float = 10.0,
        app: str = "",
    ) -> None:
        self.host = host
        self.app = app
        self.port = port
        self.username = username
        self._secret = secret
        self.reconnect_delay = reconnect_delay
        self.action_timeout = action_timeout
        self.keepalive_interval = keepalive_interval
        self.connect_timeout = connect_timeout
        self.closing = False
        self.logins = 0
        self._manager: _Manager | None = None
        self._logged_in: asyncio.Event | None = None
        self._login_error: AmiLoginFailed | None = None
        self._login_settled: asyncio.Event | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._callbacks: list[TakeoverCallback] = []
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[asyncio.Future[Any]] = set()

    def __repr__(self) -> str:
        return f"AmiClient(host={self.host!r}, port={self.port}, username={self.username!r})"

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def logged_in(self) -> bool:
        return self._logged_in is not None and self._logged_in.is_set()

    async def connect(self) -> None:
        """Connect and log in; raises AmiLoginFailed or AmiConnectionError. Reconnects later on."""
        if self._manager is not None:
            raise RuntimeError("AmiClient.connect() called twice")
        self.closing = False
        self._logged_in = asyncio.Event()
        self._login_settled = asyncio.Event()
        self._manager = _Manager(
            self,
            host=self.host,
            port=self.port,
            username=self.username,
            secret=self._secret,
            events="user",
            protocol_factory=_Protocol,
            loop=asyncio.get_running_loop(),
            log=logging.getLogger("panoramisk"),
        )
        self._manager.register_event("UserEvent", self._on_user_event)
        self._manager.connect()
        try:
            async with asyncio.timeout(self.connect_timeout):
                await self._login_settled.wait()
        except TimeoutError:
            await self.close()
            raise AmiConnectionError(
                f"no AMI login at {self.host}:{self.port} within {self.connect_timeout:g}s"
            ) from None
        if self._login_error is not None:
            await self.close()
            raise self._login_error
        self._keepalive = asyncio.create_task(self._keep_alive())

    async def close(self) -> None:
        self.closing = True
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
            self._keepalive = None
        if self._manager is not None:
            self._manager.close()
            self._manager = None
        for task in list(self._callback_tasks):
            task.cancel()
        if self._logged_in is not None:
            self._logged_in.clear()

    async def __aenter__(self) -> AmiClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def wait_logged_in(self) -> None:
        """Wait (at most ``action_timeout``) until logged in, e.g. after a reconnect."""
        if self._logged_in is None:
            raise AmiConnectionError("AmiClient.connect() has not been called")
        try:
            async with asyncio.timeout(self.action_timeout):
                await self._logged_in.wait()
        except TimeoutError:
            raise AmiConnectionError(
                f"not logged in to AMI at {self.host}:{self.port}"
            ) from None

    def _login_answered(self, accepted: bool, response: Mapping[str, str]) -> None:
        assert self._logged_in is not None and self._login_settled is not None
        if accepted:
            self.logins += 1
            self._logged_in.set()
            log.info("ami.logged_in", host=self.host, port=self.port, logins=self.logins)
        else:
            message = response.get("Message") or "login rejected"
            self._login_error = AmiLoginFailed(
                f"Asterisk rejected AMI user {self.username!r} at {self.host}:{self.port}: "
                f"{message} (check manager.conf and payivr's AMI secret)"
            )
            self.closing = True
            log.error("ami.login_failed", host=self.host, port=self.port, user=self.username)
        self._login_settled.set()

    def _connection_lost(self) -> None:
        for future in self._in_flight:
            if not future.done():
                future.set_exception(
                    AmiConnectionError("AMI connection lost before Asterisk answered")
                )
        if self._logged_in is not None and self._logged_in.is_set():
            self._logged_in.clear()
            if not self.closing:
                log.warning("ami.connection_lost", host=self.host, port=self.port)

    async def _keep_alive(self) -> None:
        # ``while not closing`` as well as the cancel from close(): a cancel that lands as
        # a Ping is answered can be lost inside asyncio, and close() waits for this task.
        while not self.closing:
            await asyncio.sleep(self.keepalive_interval)
            if self.closing or not self.logged_in:
                continue
            try:
                await self.ping()
            except (AmiTimeout, AmiConnectionError):
                log.warning("ami.keepalive_failed", host=self.host, port=self.port)
                manager = self._manager
                if manager is not None and manager.protocol is not None:
                    manager.protocol.transport.abort()

    # -- events -------------------------------------------------------------------------
    def on_takeover_request(self, callback: TakeoverCallback) -> None:
        """Call ``callback`` for every valid PayIVRRequest UserEvent (sync or async) whose
        ``App`` header is empty or this client's ``app``."""
        self._callbacks.append(callback)

    def _on_user_event(self, _manager: Manager, event: Mapping[str, str]) -> None:
        if event.get("UserEvent") != REQUEST_EVENT:
            return
        requested_app = event.get("App") or ""
        if self.app and requested_app and requested_app != self.app:
            return  # PAYIVR_APP names another payivr sharing this Asterisk: its request
        try:
            request = parse_user_event(event)
        except InvalidTakeoverRequest as exc:
            log.warning(
                "ami.takeover_request_invalid",
                reason=exc.reason,
                headers=[name for name in ("Agent", "Channel", "Peer", "Amount") if name in event],
            )
            return
        log.info(
            "ami.takeover_requested",
            agent=request.agent_channel,
            caller=request.caller_channel,
            key=request.key,
            has_amount=request.amount_minor is not None,
        )
        for callback in self._callbacks:
            result = callback(request)
            if result is not None:
                task = asyncio.ensure_future(result)
                self._callback_tasks.add(task)
                task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Future[None]) -> None:
        self._callback_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ami.takeover_callback_failed", error=repr(task.exception()))

    # -- actions ------------------------------------------------------------------------
    async def send_action(self, action: Mapping[str, str]) -> Any:
        """Send one action; return panoramisk's Message (or list of Messages for lists).

        Raises AmiActionError on ``Response: Error``, AmiTimeout, AmiConnectionError. An
        action that only reads (or sets a variable) is sent once more after a reconnect;
        a Redirect is never repeated.
        """
        try:
            return await self._send_once(action)
        except AmiConnectionError:
            if action.get("Action", "").casefold() not in _SAFE_TO_REPEAT:
                raise
            log.info("ami.action_repeated_after_reconnect", action=action.get("Action"))
            return await self._send_once(action)

    async def _send_once(self, action: Mapping[str, str]) -> Any:
        name = action.get("Action", "")
        fields = dict(action)
        if name.casefold() == "originate":
            fields["Async"] = "true"  # a synchronous Originate breaks panoramisk's parser
        await self.wait_logged_in()
        manager = self._manager
        if manager is None or manager.protocol is None:
            raise AmiConnectionError("AMI is not connected")
        future = manager.send_action(fields)
        self._in_flight.add(future)
        try:
            async with asyncio.timeout(self.action_timeout):
                response = await future
        except TimeoutError:
            raise AmiTimeout(f"no answer to AMI {name} within {self.action_timeout:g}s") from None
        finally:
            self._in_flight.discard(future)
        first = response[0] if isinstance(response, list) else response
        if first.get("Response") == "Error":
            raise AmiActionError(name, first.get("Message") or "")
        return response

    async def _send_list(self, action: Mapping[str, str], item_event: str) -> list[Any]:
        messages = await self.send_action(action)
        if not isinstance(messages, list):
            return []
        return [m for m in messages if m.get("Event") == item_event]

    async def ping(self) -> None:
        await self.send_action({"Action": "Ping"})

    async def core_show_channels(self) -> list[ChannelSnapshot]:
        items = await self._send_list({"Action": "CoreShowChannels"}, "CoreShowChannel")
        return [channel_from_headers(item) for item in items]

    async def bridge_info(self, bridge_id: str) -> BridgeSnapshot:
        messages = await self.send_action({"Action": "BridgeInfo", "BridgeUniqueid": bridge_id})
        if not isinstance(messages, list):
            messages = [messages]
        members = [m.get("Channel") for m in messages if m.get("Event") == "BridgeInfoChannel"]
        complete: Mapping[str, str] = next(
            (m for m in messages if m.get("Event") == "BridgeInfoComplete"), {}
        )
        return BridgeSnapshot(
            uniqueid=bridge_id,
            channels=tuple(members),
            bridge_type=complete.get("BridgeType") or "",
            technology=complete.get("BridgeTechnology") or "",
            creator=complete.get("BridgeCreator") or "",
            name=complete.get("BridgeName") or "",
            video_source_mode=complete.get("BridgeVideoSourceMode") or "",
        )

    async def find_call(self, endpoint: str) -> ActiveCall | None:
        """The bridged two-party call of ``endpoint`` (e.g. ``PJSIP/1001``), or None.

        Raises InvalidTakeoverRequest when the endpoint is in several bridges or in a
        bridge with more than one other party: then nobody can tell which caller is meant.
        """
        channels = await self.core_show_channels()
        return pick_call(channels, endpoint)

    async def bridged_together(self, agent_channel: str, peer_channel: str) -> bool:
        """Whether Asterisk has exactly these two channels bridged to each other now.

        Asterisk keeps ``BRIDGEPEER`` on every bridged channel: the other party's name, or a
        comma list in a bridge of three or more. Two ``Getvar`` of it (sent together) answer
        for one named pair, where listing every channel (``CoreShowChannels``) costs a message
        per channel on the PBX for each ``*7``. A channel that does not exist is not bridged.
        """
        try:
            agent_peer, peer_peer = await asyncio.gather(
                self.getvar(agent_channel, BRIDGE_PEER_VARIABLE),
                self.getvar(peer_channel, BRIDGE_PEER_VARIABLE),
            )
        except AmiActionError:
            return False
        return (agent_peer, peer_peer) == (peer_channel, agent_channel)

    async def setvar(self, channel: str | None, variable: str, value: str) -> None:
        action = {"Action": "Setvar", "Variable": variable, "Value": value}
        if channel is not None:
            action["Channel"] = channel
        await self.send_action(action)

    async def getvar(self, channel: str | None, variable: str) -> str:
        action = {"Action": "Getvar", "Variable": variable}
        if channel is not None:
            action["Channel"] = channel
        response = await self.send_action(action)
        value: str = response.get("Value") or ""
        return value

    async def mute_recording(self, channel: str, *, muted: bool) -> None:
        """Mute (or unmute) both directions of ``channel``'s MixMonitor recordings.

        Raises AmiActionError ("Cannot set mute flag") when the channel has no audio hooks.
        """
        await self.send_action(
            {
                "Action": "MixMonitorMute",
                "Channel": channel,
                "Direction": "both",
                "State": "1" if muted else "0",
            }
        )

    async def redirect(self, redirect: Redirect) -> None:
        target, extra_target = redirect.target, redirect.extra_target
        action = {
            "Action": "Redirect",
            "Channel": redirect.channel,
            "Context": target.context,
            "Exten": target.exten,
            "Priority": str(target.priority),
        }
        if redirect.extra_channel is not None:
            action["ExtraChannel"] = redirect.extra_channel
            if extra_target is not None:
                action["ExtraContext"] = extra_target.context
                action["ExtraExten"] = extra_target.exten
                action["ExtraPriority"] = str(extra_target.priority)
        await self.send_action(action)

    async def take_over(self, request: TakeoverRequest) -> None:
        """Set the pairing variables, then move both legs into payivr-takeover in one Redirect.

        The three Setvars go out together (AMI answers each by its ActionID): one round trip
        instead of three before the Redirect, which waits for all of them.
        """
        await asyncio.gather(
            *(
                self.setvar(channel, name, value)
                for channel, name, value in request.pairing_variables()
            )
        )
        await self.redirect(request.redirect())
        log.info(
            "ami.taken_over",
            agent=request.agent_channel,
            caller=request.caller_channel,
            key=request.key,
        )


def pick_call(channels: Sequence[ChannelSnapshot], endpoint: str) -> ActiveCall | None:
    """The bridged two-party call of ``endpoint`` among ``channels`` (see find_call)."""
    mine = [c for c in channels if on_endpoint(c.name, endpoint) and c.bridge_id]
    if not mine:
        return None
    if len({c.bridge_id for c in mine}) > 1:
        raise InvalidTakeoverRequest(f"{endpoint} is in more than one call")
    agent = mine[0]
    others = [c for c in channels if c.bridge_id == agent.bridge_id and c.name != agent.name]
    if len(others) != 1:
        raise InvalidTakeoverRequest(f"{endpoint} is not in a two-party call")
    return ActiveCall(agent=agent, peer=others[0], bridge_id=agent.bridge_id)

