"""The ARI resources as :class:`~payivr.ari.client.AriClient` offers them: ``channels``,
``bridges``, ``playbacks``, ``applications`` and ``asterisk``, one method per operation."""

from __future__ import annotations

import builtins
import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from payivr.ari import operations as ops
from payivr.ari.errors import NotFound, PeerError
from payivr.ari.models import (
    Application,
    AsteriskInfo,
    AsteriskPing,
    Bridge,
    Channel,
    MalformedObject,
    Playback,
)

log = structlog.get_logger(__name__)

if TYPE_CHECKING:
    from payivr.ari.client import AriClient

DEFAULT_BRIDGE_TYPE = ("mixing", "dtmf_events")
"""Every bridge payivr creates needs `dtmf_events`: without it two SIP channels are bridged
natively and the caller's digits reach the agent whatever `absorbDTMF` says."""


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
