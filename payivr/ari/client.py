"""A thin asyncio client for the Asterisk REST Interface (ARI), on aiohttp.

    async with AriClient("http://127.0.0.1:8088", "payivr", secret) as ari:
        await ari.check_api()
        await ari.channels.answer(channel_id)
        await ari.channels.play(channel_id, [media.sound("payivr/en/welcome")], playback_id="pb-1")

Each method sends one request and returns a frozen dataclass from `payivr.ari.models` (or
`None` for Asterisk's 204). Failures raise the exceptions of `payivr.ari.errors`.

The connection pool is bounded (20 by default): Asterisk's HTTP server drops connections beyond
`sessionlimit` (http.conf, default 100, WebSockets included), and aiohttp's default pool of 100
was seen failing under load where 20 worked. The event WebSocket uses its own connection.

Only the method and the path (ids) are ever logged or put in exceptions: query strings carry
DTMF strings and media lists, so they stay out of logs.
"""

from __future__ import annotations

import base64
import builtins
import enum
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import structlog
from yarl import URL

from payivr.ari import operations as ops
from payivr.ari.apicheck import check_api
from payivr.ari.errors import (
    AriError,
    ConnectionFailed,
    NotFound,
    PeerError,
    error_for_status,
)
from payivr.ari.models import (
    Application,
    AsteriskInfo,
    AsteriskPing,
    Bridge,
    Channel,
    MalformedObject,
    Playback,
)
from payivr.ari.operations import Operation

log = structlog.get_logger(__name__)

DEFAULT_POOL_LIMIT = 20
DEFAULT_BRIDGE_TYPE = ("mixing", "dtmf_events")
"""Every bridge payivr creates needs `dtmf_events`: without it two SIP channels are bridged
natively and the caller's digits reach the agent whatever `absorbDTMF` says."""

Params = Mapping[str, str | int | bool | Sequence[str] | None]
RequestObserver = Callable[[str, tuple[str, ...]], None]
"""Told ``(method, path segments)`` just before each request goes out (for measurements).
Ids only, as in the logs: the query string, which can carry DTMF or media, is not passed."""


class Direction(enum.StrEnum):
    """Audio direction for mute/unmute and snoop."""

    BOTH = "both"
    IN = "in"
    OUT = "out"
    NONE = "none"


class HangupReason(enum.StrEnum):
    NORMAL = "normal"
    BUSY = "busy"
    CONGESTION = "congestion"
    NO_ANSWER = "no_answer"
    TIMEOUT = "timeout"
    REJECTED = "rejected"
    UNALLOCATED = "unallocated"
    NORMAL_UNSPECIFIED = "normal_unspecified"
    NUMBER_INCOMPLETE = "number_incomplete"
    CODEC_MISMATCH = "codec_mismatch"
    INTERWORKING = "interworking"
    FAILURE = "failure"
    ANSWERED_ELSEWHERE = "answered_elsewhere"


def ari_base_url(url: str) -> URL:
    """Normalise a configured ARI URL (``http://host:8088`` or ``.../ari``) to ``.../ari``.

    Credentials in the URL are refused: they belong in the Basic auth header, never in a URL
    that can end up in a log. The error message does not repeat the URL for that reason.
    """
    parsed = URL(url)
    if parsed.user is not None or parsed.password is not None:
        raise ValueError("the ARI URL must not contain credentials; set the user and password "
                         "separately")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"the ARI URL must be http:// or https:// with a host, got {url!r}")
    if parsed.query_string or parsed.fragment:
        raise ValueError("the ARI URL must not have a query string or fragment")
    path = parsed.path.rstrip("/")
    if not path.endswith("/ari"):
        path += "/ari"
    return parsed.with_path(path)


def _basic_auth(username: str, password: str) -> str:
    if ":" in username:
        raise ValueError("the ARI user name must not contain ':'")
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _segment(value: str) -> str:
    if not value or "/" in value:
        raise ValueError("an ARI id must be non-empty and contain no '/'")
    return quote(value, safe=";:@!$&'()*+,=-._~")


def _query_value(value: str | int | bool | Sequence[str]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    return ",".join(value)


def _query(params: Params | None) -> str:
    if not params:
        return ""
    return "&".join(
        f"{quote(key, safe='')}={quote(_query_value(value), safe=',:')}"
        for key, value in params.items()
        if value is not None
    )


class AriClient:
    """REST side of ARI. Use as an async context manager, or call `close()` when done."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        pool_limit: int = DEFAULT_POOL_LIMIT,
        request_timeout: float = 10.0,
        connect_timeout: float = 5.0,
    ) -> None:
        if pool_limit < 1:
            raise ValueError("pool_limit must be at least 1")
        self.base_url = ari_base_url(url)
        self.username = username
        self._authorization = _basic_auth(username, password)
        self.pool_limit = pool_limit
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        self.channels = Channels(self)
        self.bridges = Bridges(self)
        self.playbacks = Playbacks(self)
        self.applications = Applications(self)
        self.asterisk = AsteriskResource(self)
        self._request_observers: list[RequestObserver] = []

    def __repr__(self) -> str:
        return f"AriClient({str(self.base_url)!r}, user={self.username!r})"

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def authorization(self) -> str:
        """The Basic auth header value (for the event WebSocket)."""
        return self._authorization

    def add_request_observer(self, observer: RequestObserver) -> Callable[[], None]:
        """Call ``observer`` before every request (it must be quick and must not raise);
        returns a function that removes it."""
        self._request_observers.append(observer)
        return lambda: self._request_observers.remove(observer)

    def events_url(self, app: str, *, subscribe_all: bool = False) -> URL:
        """The event WebSocket URL for `app`: no credentials in it, by design."""
        scheme = "wss" if self.base_url.scheme == "https" else "ws"
        query = _query({"app": app, "subscribeAll": subscribe_all})
        path = "/".join(ops.EVENTS.segments())
        return URL(f"{self.base_url.with_scheme(scheme)}/{path}?{query}", encoded=True)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.pool_limit),
                headers={"Authorization": self._authorization},
                # sock_connect, not connect: aiohttp's `connect` also counts the wait for a
                # free connection of the bounded pool, so a burst failed after 5 s in the queue.
                timeout=aiohttp.ClientTimeout(total=self.request_timeout,
                                              sock_connect=self.connect_timeout),
                raise_for_status=False,
            )
        return self._session

    async def request(
        self,
        method: str,
        *segments: str,
        params: Params | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one ARI request; return the decoded JSON body (None for an empty answer).

        `segments` are the path parts below /ari, ids unquoted (``"channels", channel_id``).
        """
        path = "/" + "/".join(_segment(s) for s in segments)
        query = _query(params)
        url = URL(f"{self.base_url}{path}" + (f"?{query}" if query else ""), encoded=True)
        logged_path = "/" + "/".join(segments)
        for observer in self._request_observers:
            observer(method, segments)
        started = time.monotonic()
        try:
            async with self._http().request(method, url, json=body) as response:
                status = response.status
                text = await response.text()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("ari.request_failed", method=method, path=logged_path,
                        error=type(exc).__name__)
            raise ConnectionFailed(_connection_error_text(exc), method=method,
                                   path=logged_path) from None
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        log.debug("ari.request", method=method, path=logged_path, status=status, ms=elapsed_ms)
        if status >= 400:
            raise error_for_status(status, _error_message(text, status), method=method,
                                   path=logged_path)
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise PeerError("answer is not JSON", status=status, method=method,
                            path=logged_path) from None

    async def send(
        self,
        operation: Operation,
        *ids: str,
        params: Params | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one of :data:`~payivr.ari.operations.OPERATIONS` with ``ids`` in its path.

        A parameter the operation does not name is our bug, never sent: the start-up check
        verified exactly the operation's parameters against Asterisk's api-docs.
        """
        unknown = set(params or ()) | set(body or ())
        unknown.difference_update(operation.params)
        if unknown:
            raise ValueError(
                f"{operation.method} {operation.path} has no parameter {sorted(unknown)}"
            )
        segments = operation.segments(*ids)
        return await self.request(operation.method, *segments, params=params, body=body)

    async def get_json(self, *segments: str, params: Params | None = None) -> Any:
        return await self.request("GET", *segments, params=params)

    async def check_api(self) -> None:
        """Check, before serving calls, that ARI is reachable and offers what payivr uses.

        Raises `AriUnreachable`, `AriDisabled`, `BadCredentials` or `IncompatibleAsterisk`
        (all `StartupError`) with a message that names what to fix.
        """
        await check_api(self)


def _error_message(text: str, status: int) -> str:
    """Asterisk's error text: ``{"message": ...}`` from ARI, ``{"error": ...}`` from http.c."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, Mapping):
        for key in ("message", "error"):
            if isinstance(data.get(key), str):
                return str(data[key])
    # Not JSON (e.g. the HTML 404 page when ARI is disabled): the reason phrase is enough.
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


def _connection_error_text(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        return f"cannot connect to {exc.host}:{exc.port} ({reason})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    return f"connection failed ({type(exc).__name__})"


_T = TypeVar("_T")


def _parse(parse: Callable[[object], _T], data: Any, method: str, path: str) -> _T:
    try:
        return parse(data)
    except MalformedObject as exc:
        raise PeerError(f"unexpected answer: {exc}", method=method, path=path) from None


class _Resource:
    def __init__(self, client: AriClient) -> None:
        self._client = client


class Channels(_Resource):
    """/channels: everything payivr does to a call leg."""

    async def list(self) -> builtins.list[Channel]:
        data = await self._client.send(ops.CHANNELS_LIST)
        return [_parse(Channel.from_json, item, "GET", "/channels") for item in data or []]

    async def get(self, channel_id: str) -> Channel:
        data = await self._client.send(ops.CHANNEL_GET, channel_id)
        return _parse(Channel.from_json, data, "GET", f"/channels/{channel_id}")

    async def originate(
        self,
        endpoint: str,
        *,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        app: str | None = None,
        app_args: str | Sequence[str] | None = None,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
        caller_id: str | None = None,
        dial_timeout: int | None = None,
        variables: Mapping[str, str] | None = None,
        originator: str | None = None,
        formats: str | None = None,
    ) -> Channel:
        """POST /channels: dial `endpoint` into `app` (or a dialplan location).

        Choose `channel_id` (and `other_channel_id` for Local channels) so events can be routed
        to the call before the request even returns. `dial_timeout` is ARI's `timeout` (s).
        """
        params: dict[str, Any] = {
            "endpoint": endpoint, "channelId": channel_id, "otherChannelId": other_channel_id,
            "app": app, "appArgs": app_args, "context": context, "extension": extension,
            "priority": priority, "label": label, "callerId": caller_id, "timeout": dial_timeout,
            "originator": originator, "formats": formats,
        }
        body = {"variables": dict(variables)} if variables else None
        data = await self._client.send(ops.CHANNEL_ORIGINATE, params=params, body=body)
        return _parse(Channel.from_json, data, "POST", "/channels")

    async def answer(self, channel_id: str) -> None:
        await self._client.send(ops.CHANNEL_ANSWER, channel_id)

    async def ring(self, channel_id: str) -> None:
        """Let the channel hear ringing (e.g. an agent waiting while payivr dials out)."""
        await self._client.send(ops.CHANNEL_RING, channel_id)

    async def ring_stop(self, channel_id: str) -> None:
        await self._client.send(ops.CHANNEL_RING_STOP, channel_id)

    async def hangup(
        self,
        channel_id: str,
        *,
        reason: HangupReason | str | None = None,
        reason_code: int | None = None,
    ) -> None:
        """DELETE /channels/{id}; give `reason` or a Q.850 `reason_code`, not both."""
        if reason is not None and reason_code is not None:
            raise ValueError("give reason or reason_code, not both")
        params = {"reason": None if reason is None else str(HangupReason(reason)),
                  "reason_code": reason_code}
        await self._client.send(ops.CHANNEL_HANGUP, channel_id, params=params)

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        """Leave Stasis and go on in the dialplan (after Stasis() by default)."""
        params = {"context": context, "extension": extension, "priority": priority,
                  "label": label}
        await self._client.send(ops.CHANNEL_CONTINUE, channel_id, params=params)

    async def play(
        self,
        channel_id: str,
        media: str | Sequence[str],
        *,
        playback_id: str,
        lang: str | None = None,
        offsetms: int | None = None,
        skipms: int | None = None,
    ) -> Playback:
        """Play a media URI or list (see `payivr.ari.media`) to this channel only.

        The client chooses `playback_id` so `PlaybackFinished` can be matched without a race.
        """
        items = [media] if isinstance(media, str) else list(media)
        if not items:
            raise ValueError("play needs at least one media item")
        params = {"media": items, "playbackId": playback_id, "lang": lang,
                  "offsetms": offsetms, "skipms": skipms}
        data = await self._client.send(ops.CHANNEL_PLAY, channel_id, params=params)
        return _parse(Playback.from_json, data, "POST", f"/channels/{channel_id}/play")

    async def send_dtmf(
        self,
        channel_id: str,
        dtmf: str,
        *,
        before: int | None = None,
        between: int | None = None,
        duration: int | None = None,
        after: int | None = None,
    ) -> None:
        """Send DTMF to a channel (times in ms). The digits are never logged."""
        params = {"dtmf": dtmf, "before": before, "between": between, "duration": duration,
                  "after": after}
        await self._client.send(ops.CHANNEL_DTMF, channel_id, params=params)

    async def mute(self, channel_id: str, direction: Direction | str = Direction.BOTH) -> None:
        await self._client.send(ops.CHANNEL_MUTE, channel_id,
                                params={"direction": _audio_direction(direction)})

    async def unmute(self, channel_id: str, direction: Direction | str = Direction.BOTH) -> None:
        await self._client.send(ops.CHANNEL_UNMUTE, channel_id,
                                params={"direction": _audio_direction(direction)})

    async def hold(self, channel_id: str) -> None:
        await self._client.send(ops.CHANNEL_HOLD, channel_id)

    async def unhold(self, channel_id: str) -> None:
        await self._client.send(ops.CHANNEL_UNHOLD, channel_id)

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await self._client.send(ops.CHANNEL_MOH_START, channel_id,
                                params={"mohClass": moh_class})

    async def stop_moh(self, channel_id: str) -> None:
        await self._client.send(ops.CHANNEL_MOH_STOP, channel_id)

    async def start_silence(self, channel_id: str) -> None:
        await self._client.send(ops.CHANNEL_SILENCE_START, channel_id)

    async def stop_silence(self, channel_id: str) -> None:
        await self._client.send(ops.CHANNEL_SILENCE_STOP, channel_id)

    async def get_variable(self, channel_id: str, variable: str) -> str:
        data = await self._client.send(ops.CHANNEL_VARIABLE_GET, channel_id,
                                       params={"variable": variable})
        if not isinstance(data, Mapping) or not isinstance(data.get("value"), str):
            raise PeerError("unexpected answer: Variable.value missing", method="GET",
                            path=f"/channels/{channel_id}/variable")
        return str(data["value"])

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self._client.send(ops.CHANNEL_VARIABLE_SET, channel_id,
                                params={"variable": variable, "value": value})

    async def snoop(
        self,
        channel_id: str,
        *,
        app: str,
        spy: Direction | str = Direction.NONE,
        whisper: Direction | str = Direction.NONE,
        app_args: str | Sequence[str] | None = None,
        snoop_id: str | None = None,
    ) -> Channel:
        """Create a snoop channel on `channel_id` that enters `app`."""
        params = {"app": app, "spy": str(Direction(spy)), "whisper": str(Direction(whisper)),
                  "appArgs": app_args, "snoopId": snoop_id}
        data = await self._client.send(ops.CHANNEL_SNOOP, channel_id, params=params)
        return _parse(Channel.from_json, data, "POST", f"/channels/{channel_id}/snoop")


def _audio_direction(direction: Direction | str) -> str:
    value = Direction(direction)
    if value is Direction.NONE:
        raise ValueError("mute direction must be both, in or out")
    return str(value)


class Bridges(_Resource):
    """/bridges: mixing bridges with client-chosen ids."""

    async def list(self) -> builtins.list[Bridge]:
        data = await self._client.send(ops.BRIDGES_LIST)
        return [_parse(Bridge.from_json, item, "GET", "/bridges") for item in data or []]

    async def get(self, bridge_id: str) -> Bridge:
        data = await self._client.send(ops.BRIDGE_GET, bridge_id)
        return _parse(Bridge.from_json, data, "GET", f"/bridges/{bridge_id}")

    async def create(
        self,
        bridge_id: str,
        *,
        type: Sequence[str] = DEFAULT_BRIDGE_TYPE,
        name: str | None = None,
    ) -> Bridge:
        """POST /bridges?bridgeId=...; `type` is a list such as ``("mixing", "dtmf_events")``."""
        if isinstance(type, str):
            type = [t.strip() for t in type.split(",")]
        params = {"bridgeId": bridge_id, "type": list(type), "name": name}
        data = await self._client.send(ops.BRIDGE_CREATE, params=params)
        return _parse(Bridge.from_json, data, "POST", "/bridges")

    async def add_channel(
        self,
        bridge_id: str,
        channel: str | Sequence[str],
        *,
        absorb_dtmf: bool | None = None,
        mute: bool | None = None,
        role: str | None = None,
        inhibit_connected_line_updates: bool | None = None,
    ) -> None:
        """Add one channel or several; `absorb_dtmf=True` keeps its digits out of the bridge
        (the application still receives them). A gone channel raises `ChannelGone`."""
        params = {"channel": _ids(channel), "absorbDTMF": absorb_dtmf, "mute": mute,
                  "role": role, "inhibitConnectedLineUpdates": inhibit_connected_line_updates}
        await self._client.send(ops.BRIDGE_ADD_CHANNEL, bridge_id, params=params)

    async def remove_channel(self, bridge_id: str, channel: str | Sequence[str]) -> None:
        await self._client.send(ops.BRIDGE_REMOVE_CHANNEL, bridge_id,
                                params={"channel": _ids(channel)})

    async def destroy(self, bridge_id: str) -> None:
        await self._client.send(ops.BRIDGE_DESTROY, bridge_id)

    async def destroy_leftovers(
        self, prefix: str, *, keep: Iterable[str] = (), bridges: Iterable[Bridge] | None = None,
    ) -> builtins.list[str]:
        """Destroy the bridges whose id starts with `prefix`, except those in `keep`.

        Pass `bridges` (e.g. from a reconnect snapshot) to skip listing them again. Bridges that
        vanish meanwhile are fine. Returns the ids destroyed.
        """
        if not prefix:
            raise ValueError("refusing to destroy bridges without an id prefix")
        kept = set(keep)
        candidates = await self.list() if bridges is None else list(bridges)
        destroyed = []
        for bridge in candidates:
            if not bridge.id.startswith(prefix) or bridge.id in kept:
                continue
            try:
                await self.destroy(bridge.id)
            except NotFound:
                continue
            destroyed.append(bridge.id)
        if destroyed:
            log.info("ari.leftover_bridges_destroyed", count=len(destroyed))
        return destroyed


def _ids(channel: str | Sequence[str]) -> list[str]:
    ids = [channel] if isinstance(channel, str) else list(channel)
    if not ids or any(not i or "," in i for i in ids):
        raise ValueError("channel ids must be non-empty and contain no comma")
    return ids


class Playbacks(_Resource):
    async def get(self, playback_id: str) -> Playback:
        data = await self._client.send(ops.PLAYBACK_GET, playback_id)
        return _parse(Playback.from_json, data, "GET", f"/playbacks/{playback_id}")

    async def stop(self, playback_id: str) -> None:
        """DELETE /playbacks/{id}. Asterisk may answer 500 ("Could not stop playback") for a
        media list and keep playing it: that raises `ServerError`."""
        await self._client.send(ops.PLAYBACK_STOP, playback_id)


class Applications(_Resource):
    async def get(self, name: str) -> Application:
        data = await self._client.send(ops.APPLICATION_GET, name)
        return _parse(Application.from_json, data, "GET", f"/applications/{name}")


class AsteriskResource(_Resource):
    async def ping(self) -> AsteriskPing:
        data = await self._client.send(ops.ASTERISK_PING)
        return _parse(AsteriskPing.from_json, data, "GET", "/asterisk/ping")

    async def info(self) -> AsteriskInfo:
        data = await self._client.send(ops.ASTERISK_INFO)
        return _parse(AsteriskInfo.from_json, data, "GET", "/asterisk/info")


__all__ = [
    "DEFAULT_BRIDGE_TYPE",
    "DEFAULT_POOL_LIMIT",
    "AriClient",
    "AriError",
    "Direction",
    "HangupReason",
    "ari_base_url",
]
