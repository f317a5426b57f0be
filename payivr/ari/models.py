"""Frozen dataclasses for the ARI objects payivr reads, parsed from Asterisk's JSON.

Parsing is strict about the fields payivr relies on (a missing `id` raises `MalformedObject`)
and lenient about the rest (absent optional fields get empty defaults), so a newer Asterisk
that adds fields does not break us. Timestamps stay as Asterisk's strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from payivr.core.errors import RemoteError


class MalformedObject(RemoteError, ValueError):
    """A JSON object from Asterisk lacks a field payivr needs or has the wrong type."""


JsonObject = Mapping[str, Any]


def _object(data: object, what: str) -> JsonObject:
    if type(data) is dict:  # what json.loads makes: no walk through Mapping's ABC checks
        return data
    if not isinstance(data, Mapping):
        raise MalformedObject(f"{what}: expected an object, got {type(data).__name__}")
    return data


def _str(data: JsonObject, key: str, what: str, *, required: bool = True) -> str:
    value = data.get(key)
    if isinstance(value, str):  # first: a dozen of these per event, on every event
        return value
    if value is None and not required:
        return ""
    raise MalformedObject(f"{what}.{key}: expected a string")


def _texts(data: JsonObject, what: str, keys: tuple[str, ...]) -> list[str]:
    """The optional strings ``keys`` of ``data`` ("" when absent), in one pass: a channel
    has a dozen of them on every event."""
    values = []
    for key in keys:
        value = data.get(key)
        if isinstance(value, str):
            values.append(value)
        elif value is None:
            values.append("")
        else:
            raise MalformedObject(f"{what}.{key}: expected a string")
    return values


def _int(data: JsonObject, key: str, what: str, *, default: int | None = None) -> int:
    value = data.get(key)
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedObject(f"{what}.{key}: expected an integer")
    return value


def _str_list(data: JsonObject, key: str, what: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise MalformedObject(f"{what}.{key}: expected a list of strings")
    return tuple(value)


def _str_map(data: JsonObject, key: str, what: str) -> Mapping[str, str]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MalformedObject(f"{what}.{key}: expected an object")
    # Asterisk's variables are strings; anything else is skipped, never turned into text (a
    # deeply nested value would exhaust the stack in str()).
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


# The optional strings of each object, in the order of its dataclass's fields.
_DIALPLAN_TEXTS = ("context", "exten", "app_name", "app_data")
_CHANNEL_TEXTS = ("name", "state", "language", "accountcode", "protocol_id", "creationtime")
_PLAYBACK_TEXTS = ("state", "media_uri", "next_media_uri", "target_uri", "language")


@dataclass(frozen=True)
class CallerId:
    name: str = ""
    number: str = ""

    @classmethod
    def from_json(cls, data: object) -> CallerId:
        if data is None:
            return cls()
        name, number = _texts(_object(data, "CallerID"), "CallerID", ("name", "number"))
        return cls(name, number)


@dataclass(frozen=True)
class DialplanCEP:
    """Where the channel is in the dialplan (`app_data` of Stasis holds the app arguments)."""

    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""

    @classmethod
    def from_json(cls, data: object) -> DialplanCEP:
        if data is None:
            return cls()
        obj = _object(data, "DialplanCEP")
        context, exten, app_name, app_data = _texts(obj, "DialplanCEP", _DIALPLAN_TEXTS)
        return cls(context, exten, _int(obj, "priority", "DialplanCEP", default=0), app_name,
                   app_data)


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    state: str
    caller: CallerId = field(default_factory=CallerId)
    connected: CallerId = field(default_factory=CallerId)
    dialplan: DialplanCEP = field(default_factory=DialplanCEP)
    language: str = ""
    accountcode: str = ""
    protocol_id: str = ""
    creationtime: str = ""
    channelvars: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: object) -> Channel:
        obj = _object(data, "Channel")
        channel_id = _str(obj, "id", "Channel")
        name, state, language, accountcode, protocol_id, creationtime = _texts(
            obj, "Channel", _CHANNEL_TEXTS
        )
        return cls(
            channel_id,
            name,
            state,
            CallerId.from_json(obj.get("caller")),
            CallerId.from_json(obj.get("connected")),
            DialplanCEP.from_json(obj.get("dialplan")),
            language,
            accountcode,
            protocol_id,
            creationtime,
            _str_map(obj, "channelvars", "Channel"),
        )

    def in_stasis_of(self, app: str) -> bool:
        """Whether the channel runs ``Stasis(app,...)`` (originated into ``app`` or sent there
        by the dialplan)."""
        location = self.dialplan
        return location.app_name == "Stasis" and location.app_data.split(",", 1)[0] == app


@dataclass(frozen=True)
class Bridge:
    id: str
    bridge_type: str
    channels: tuple[str, ...] = ()
    name: str = ""
    technology: str = ""
    bridge_class: str = ""
    creator: str = ""
    creationtime: str = ""

    @classmethod
    def from_json(cls, data: object) -> Bridge:
        obj = _object(data, "Bridge")
        return cls(
            id=_str(obj, "id", "Bridge"),
            bridge_type=_str(obj, "bridge_type", "Bridge", required=False),
            channels=_str_list(obj, "channels", "Bridge"),
            name=_str(obj, "name", "Bridge", required=False),
            technology=_str(obj, "technology", "Bridge", required=False),
            bridge_class=_str(obj, "bridge_class", "Bridge", required=False),
            creator=_str(obj, "creator", "Bridge", required=False),
            creationtime=_str(obj, "creationtime", "Bridge", required=False),
        )


@dataclass(frozen=True)
class Playback:
    """A playback; `state` is queued, playing, continuing, done, failed (or cancelled...)."""

    id: str
    state: str
    media_uri: str = field(default="", repr=False)
    next_media_uri: str = field(default="", repr=False)
    target_uri: str = ""
    language: str = ""

    @property
    def channel_id(self) -> str | None:
        """The channel played to, when the target is a channel (``channel:<id>``)."""
        scheme, _, target = self.target_uri.partition(":")
        return target if scheme == "channel" and target else None

    @property
    def bridge_id(self) -> str | None:
        scheme, _, target = self.target_uri.partition(":")
        return target if scheme == "bridge" and target else None

    @classmethod
    def from_json(cls, data: object) -> Playback:
        obj = _object(data, "Playback")
        return cls(_str(obj, "id", "Playback"), *_texts(obj, "Playback", _PLAYBACK_TEXTS))


@dataclass(frozen=True)
class Application:
    name: str
    channel_ids: tuple[str, ...] = ()
    bridge_ids: tuple[str, ...] = ()
    endpoint_ids: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: object) -> Application:
        obj = _object(data, "Application")
        return cls(
            name=_str(obj, "name", "Application"),
            channel_ids=_str_list(obj, "channel_ids", "Application"),
            bridge_ids=_str_list(obj, "bridge_ids", "Application"),
            endpoint_ids=_str_list(obj, "endpoint_ids", "Application"),
        )


@dataclass(frozen=True)
class AsteriskPing:
    asterisk_id: str
    timestamp: str = ""

    @classmethod
    def from_json(cls, data: object) -> AsteriskPing:
        obj = _object(data, "AsteriskPing")
        return cls(asterisk_id=_str(obj, "asterisk_id", "AsteriskPing"),
                   timestamp=_str(obj, "timestamp", "AsteriskPing", required=False))


@dataclass(frozen=True)
class AsteriskInfo:
    """The parts of GET /asterisk/info payivr reports: version, entity id, start times."""

    version: str = ""
    entity_id: str = ""
    startup_time: str = ""
    last_reload_time: str = ""

    @classmethod
    def from_json(cls, data: object) -> AsteriskInfo:
        obj = _object(data, "AsteriskInfo")
        system = _object(obj.get("system") or {}, "AsteriskInfo.system")
        status = _object(obj.get("status") or {}, "AsteriskInfo.status")
        return cls(
            version=_str(system, "version", "SystemInfo", required=False),
            entity_id=_str(system, "entity_id", "SystemInfo", required=False),
            startup_time=_str(status, "startup_time", "StatusInfo", required=False),
            last_reload_time=_str(status, "last_reload_time", "StatusInfo", required=False),
        )


@dataclass(frozen=True)
class Snapshot:
    """What Asterisk holds for us right after a (re)connect of the event WebSocket.

    Asterisk keeps no events while we are away: the application compares this with the calls it
    drives (resume those whose channels are here, finish those whose channels are gone) and
    destroys leftover bridges.
    """

    asterisk_id: str
    application: Application
    channels: tuple[Channel, ...]
    """The application's channels: those in its Stasis, and those it is only subscribed to
    (Asterisk subscribes the originating application to the other half of a Local channel,
    which runs the dialplan or another application's Stasis)."""
    bridges: tuple[Bridge, ...]
    """Bridges whose id starts with payivr's bridge prefix."""
    connection: int
    """1 for the first connection of this process, then 2, 3... for each reconnection."""

    @property
    def channel_ids(self) -> frozenset[str]:
        return frozenset(channel.id for channel in self.channels)

    @property
    def in_stasis(self) -> tuple[Channel, ...]:
        """The channels in our own Stasis application (``Stasis(<app>,...)`` in their
        dialplan location), not those we are only subscribed to."""
        return tuple(c for c in self.channels if c.in_stasis_of(self.application.name))
