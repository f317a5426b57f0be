"""Typed parsing of the ARI WebSocket events payivr uses.

`parse_event(raw)` turns one WebSocket text message into an event object, returns `None` for
event types payivr does not use, and raises `MalformedEvent` for anything it cannot read. The
exception and the event reprs never contain DTMF digits or variable values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from payivr.ari.models import (
    Bridge,
    Channel,
    JsonObject,
    MalformedObject,
    Playback,
)
from payivr.core.errors import RemoteError


class MalformedEvent(RemoteError, ValueError):
    """A WebSocket message payivr cannot parse; `event_type` is known when it could be read."""

    def __init__(self, reason: str, event_type: str | None = None) -> None:
        self.reason = reason
        self.event_type = event_type
        super().__init__(f"{event_type or 'unknown'}: {reason}")


@dataclass(frozen=True, kw_only=True)
class AriEvent:
    """Fields every ARI event has."""

    application: str
    timestamp: str = ""

    @property
    def channel_ids(self) -> tuple[str, ...]:
        """Ids of the channels this event is about, for routing."""
        return ()

    @property
    def bridge_id(self) -> str | None:
        """Id of the bridge this event is about, for routing when no channel is known."""
        return None


@dataclass(frozen=True, kw_only=True)
class ChannelEvent(AriEvent):
    channel: Channel

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel.id,)


@dataclass(frozen=True, kw_only=True)
class StasisStart(ChannelEvent):
    """The channel entered our application; `args` are the Stasis() arguments."""

    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None


@dataclass(frozen=True, kw_only=True)
class StasisEnd(ChannelEvent):
    """The channel left our application (hung up or continued). No `ChannelDestroyed` follows
    when the far end hangs up: treat this as the end of the channel for payivr."""


@dataclass(frozen=True, kw_only=True)
class ChannelDtmfReceived(ChannelEvent):
    """One key pressed on the channel. The digit is hidden from repr: never log it."""

    digit: str = field(repr=False)
    duration_ms: int = 0


@dataclass(frozen=True, kw_only=True)
class ChannelHangupRequest(ChannelEvent):
    cause: int | None = None
    soft: bool = False


@dataclass(frozen=True, kw_only=True)
class ChannelDestroyed(ChannelEvent):
    cause: int = 0
    cause_txt: str = ""


@dataclass(frozen=True, kw_only=True)
class ChannelStateChange(ChannelEvent):
    """The channel's state changed (e.g. Ringing -> Up); see `channel.state`."""


@dataclass(frozen=True, kw_only=True)
class ChannelVarset(ChannelEvent):
    variable: str
    value: str = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class ChannelEnteredBridge(ChannelEvent):
    bridge: Bridge

    @property
    def bridge_id(self) -> str | None:
        return self.bridge.id


@dataclass(frozen=True, kw_only=True)
class ChannelLeftBridge(ChannelEvent):
    bridge: Bridge

    @property
    def bridge_id(self) -> str | None:
        return self.bridge.id


@dataclass(frozen=True, kw_only=True)
class BridgeDestroyed(AriEvent):
    bridge: Bridge

    @property
    def bridge_id(self) -> str | None:
        return self.bridge.id


@dataclass(frozen=True, kw_only=True)
class PlaybackEvent(AriEvent):
    playback: Playback

    @property
    def channel_ids(self) -> tuple[str, ...]:
        channel_id = self.playback.channel_id
        return (channel_id,) if channel_id else ()

    @property
    def bridge_id(self) -> str | None:
        return self.playback.bridge_id


@dataclass(frozen=True, kw_only=True)
class PlaybackStarted(PlaybackEvent):
    pass


@dataclass(frozen=True, kw_only=True)
class PlaybackContinuing(PlaybackEvent):
    """One item of a media list finished and the next one starts."""


@dataclass(frozen=True, kw_only=True)
class PlaybackFinished(PlaybackEvent):
    """`playback.state` is ``done`` or ``failed`` (e.g. a missing sound file)."""


@dataclass(frozen=True, kw_only=True)
class Dial(AriEvent):
    """Progress of a dial (e.g. payivr originating the agent leg); `dialstatus` is empty while
    ringing, then ANSWER, BUSY, NOANSWER, CHANUNAVAIL, CANCEL..."""

    peer: Channel
    caller: Channel | None = None
    dialstatus: str = ""
    dialstring: str = ""

    @property
    def channel_ids(self) -> tuple[str, ...]:
        if self.caller is None:
            return (self.peer.id,)
        return (self.peer.id, self.caller.id)


@dataclass(frozen=True, kw_only=True)
class ApplicationReplaced(AriEvent):
    """Another WebSocket took our application name: Asterisk stops sending us its events."""


def decode_message(raw: str | bytes) -> JsonObject:
    """Decode one WebSocket message into a JSON object that has a string `type`."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedEvent("not JSON") from None
    except RecursionError:
        raise MalformedEvent("JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise MalformedEvent("not a JSON object")
    if not isinstance(data.get("type"), str):
        raise MalformedEvent("no type")
    return data


def parse_event(raw: str | bytes | JsonObject) -> AriEvent | None:
    """Parse one WebSocket message (raw or decoded).

    Returns `None` for a well-formed message of a type payivr does not use (see `EVENT_TYPES`);
    raises `MalformedEvent` when a message cannot be read.
    """
    data = decode_message(raw) if isinstance(raw, str | bytes) else raw
    event_type = data.get("type")
    if not isinstance(event_type, str):
        raise MalformedEvent("no type")
    parser = _PARSERS.get(event_type)
    if parser is None:
        return None
    try:
        return parser(data)
    except MalformedObject as exc:
        raise MalformedEvent(str(exc), event_type) from None
    except (KeyError, TypeError, ValueError, RecursionError):
        raise MalformedEvent("missing or invalid field", event_type) from None


def _common(data: JsonObject) -> dict[str, Any]:
    application = data.get("application")
    if not isinstance(application, str):
        raise MalformedObject("application: expected a string")
    timestamp = data.get("timestamp", "")
    return {"application": application, "timestamp": timestamp if isinstance(timestamp, str)
            else ""}


def _optional_channel(data: JsonObject, key: str) -> Channel | None:
    value = data.get(key)
    return None if value is None else Channel.from_json(value)


def _stasis_start(data: JsonObject) -> AriEvent:
    args = data.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise MalformedObject("args: expected a list of strings")
    return StasisStart(**_common(data), channel=Channel.from_json(data["channel"]),
                       args=tuple(args), replace_channel=_optional_channel(data, "replace_channel"))


def _dtmf(data: JsonObject) -> AriEvent:
    digit = data["digit"]
    duration = data.get("duration_ms", 0)
    if not isinstance(digit, str) or isinstance(duration, bool) or not isinstance(duration, int):
        raise MalformedObject("digit/duration_ms: wrong type")
    return ChannelDtmfReceived(**_common(data), channel=Channel.from_json(data["channel"]),
                               digit=digit, duration_ms=duration)


def _hangup_request(data: JsonObject) -> AriEvent:
    cause = data.get("cause")
    return ChannelHangupRequest(**_common(data), channel=Channel.from_json(data["channel"]),
                                cause=cause if isinstance(cause, int) else None,
                                soft=data.get("soft") is True)


def _destroyed(data: JsonObject) -> AriEvent:
    cause = data.get("cause", 0)
    cause_txt = data.get("cause_txt", "")
    return ChannelDestroyed(**_common(data), channel=Channel.from_json(data["channel"]),
                            cause=cause if isinstance(cause, int) else 0,
                            cause_txt=cause_txt if isinstance(cause_txt, str) else "")


def _varset(data: JsonObject) -> AriEvent | None:
    if data.get("channel") is None:
        return None  # a global variable: nothing to do with a call
    variable, value = data["variable"], data["value"]
    if not isinstance(variable, str) or not isinstance(value, str):
        raise MalformedObject("variable/value: expected strings")
    return ChannelVarset(**_common(data), channel=Channel.from_json(data["channel"]),
                         variable=variable, value=value)


def _dial(data: JsonObject) -> AriEvent:
    dialstatus = data.get("dialstatus", "")
    dialstring = data.get("dialstring", "")
    return Dial(**_common(data), peer=Channel.from_json(data["peer"]),
                caller=_optional_channel(data, "caller"),
                dialstatus=dialstatus if isinstance(dialstatus, str) else "",
                dialstring=dialstring if isinstance(dialstring, str) else "")


def _channel_only(kind: type[StasisEnd | ChannelStateChange]) -> Callable[[JsonObject], AriEvent]:
    def parse(data: JsonObject) -> AriEvent:
        return kind(**_common(data), channel=Channel.from_json(data["channel"]))
    return parse


def _bridge_membership(
    kind: type[ChannelEnteredBridge | ChannelLeftBridge],
) -> Callable[[JsonObject], AriEvent | None]:
    def parse(data: JsonObject) -> AriEvent | None:
        if data.get("channel") is None:
            return None  # ChannelEnteredBridge may omit the channel; nothing to route it by
        return kind(**_common(data), channel=Channel.from_json(data["channel"]),
                    bridge=Bridge.from_json(data["bridge"]))
    return parse


def _playback(
    kind: type[PlaybackStarted | PlaybackContinuing | PlaybackFinished],
) -> Callable[[JsonObject], AriEvent]:
    def parse(data: JsonObject) -> AriEvent:
        return kind(**_common(data), playback=Playback.from_json(data["playback"]))
    return parse


def _bridge_destroyed(data: JsonObject) -> AriEvent:
    return BridgeDestroyed(**_common(data), bridge=Bridge.from_json(data["bridge"]))


def _application_replaced(data: JsonObject) -> AriEvent:
    return ApplicationReplaced(**_common(data))


_PARSERS: dict[str, Callable[[JsonObject], AriEvent | None]] = {
    "StasisStart": _stasis_start,
    "StasisEnd": _channel_only(StasisEnd),
    "ChannelDtmfReceived": _dtmf,
    "ChannelHangupRequest": _hangup_request,
    "ChannelDestroyed": _destroyed,
    "ChannelStateChange": _channel_only(ChannelStateChange),
    "ChannelVarset": _varset,
    "ChannelEnteredBridge": _bridge_membership(ChannelEnteredBridge),
    "ChannelLeftBridge": _bridge_membership(ChannelLeftBridge),
    "BridgeDestroyed": _bridge_destroyed,
    "PlaybackStarted": _playback(PlaybackStarted),
    "PlaybackContinuing": _playback(PlaybackContinuing),
    "PlaybackFinished": _playback(PlaybackFinished),
    "Dial": _dial,
    "ApplicationReplaced": _application_replaced,
}

EVENT_TYPES = frozenset(_PARSERS)
"""The ARI event types payivr parses; every other type is skipped."""
