"""Every ARI operation payivr uses, with the parameters it sends.

The client sends requests only through these (:meth:`payivr.ari.client.AriClient.send`
refuses a parameter an operation does not name), and the start-up check asks Asterisk's
api-docs for exactly these: what payivr checks and what it calls cannot drift apart.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"\{[^}]*\}")


@dataclass(frozen=True)
class Operation:
    """One ARI operation: its method, its path as the api-docs write it, its parameters."""

    method: str
    path: str  # e.g. "/channels/{channelId}/play"
    params: tuple[str, ...] = ()  # query and body parameters payivr may send

    @property
    def resource(self) -> str:
        """The api-docs file that declares it (``channels`` for ``/channels/...``)."""
        return self.path.split("/")[1]

    @functools.cached_property
    def _parts(self) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """The path's parts and where its placeholders are (worked out once: every request
        needs them)."""
        parts = tuple(self.path.strip("/").split("/"))
        return parts, tuple(i for i, part in enumerate(parts) if _PLACEHOLDER.fullmatch(part))

    @functools.cached_property
    def pieces(self) -> tuple[str, ...]:
        """The path split at its placeholders (``/channels/``, ``/play``): one more piece
        than there are ids."""
        return tuple(_PLACEHOLDER.split(self.path))

    @functools.cached_property
    def accepted(self) -> frozenset[str]:
        """:attr:`params` as a set."""
        return frozenset(self.params)

    def segments(self, *ids: str) -> tuple[str, ...]:
        """The path's parts with ``ids`` in place of its placeholders, in order."""
        template, holes = self._parts
        if len(holes) != len(ids):
            raise ValueError(f"{self.method} {self.path} takes {len(holes)} ids, not {len(ids)}")
        if not holes:
            return template
        parts = list(template)
        for hole, value in zip(holes, ids, strict=True):
            parts[hole] = value
        return tuple(parts)


ASTERISK_PING = Operation("GET", "/asterisk/ping")
ASTERISK_INFO = Operation("GET", "/asterisk/info")
APPLICATION_GET = Operation("GET", "/applications/{applicationName}")

CHANNELS_LIST = Operation("GET", "/channels")
CHANNEL_ORIGINATE = Operation(
    "POST",
    "/channels",
    ("endpoint", "channelId", "otherChannelId", "app", "appArgs", "context", "extension",
     "priority", "label", "callerId", "timeout", "originator", "formats", "variables"),
)  # fmt: skip
CHANNEL_GET = Operation("GET", "/channels/{channelId}")
CHANNEL_HANGUP = Operation("DELETE", "/channels/{channelId}", ("reason", "reason_code"))
CHANNEL_CONTINUE = Operation(
    "POST", "/channels/{channelId}/continue", ("context", "extension", "priority", "label")
)
CHANNEL_ANSWER = Operation("POST", "/channels/{channelId}/answer")
CHANNEL_RING = Operation("POST", "/channels/{channelId}/ring")
CHANNEL_RING_STOP = Operation("DELETE", "/channels/{channelId}/ring")
CHANNEL_DTMF = Operation(
    "POST", "/channels/{channelId}/dtmf", ("dtmf", "before", "between", "duration", "after")
)
CHANNEL_MUTE = Operation("POST", "/channels/{channelId}/mute", ("direction",))
CHANNEL_UNMUTE = Operation("DELETE", "/channels/{channelId}/mute", ("direction",))
CHANNEL_HOLD = Operation("POST", "/channels/{channelId}/hold")
CHANNEL_UNHOLD = Operation("DELETE", "/channels/{channelId}/hold")
CHANNEL_MOH_START = Operation("POST", "/channels/{channelId}/moh", ("mohClass",))
CHANNEL_MOH_STOP = Operation("DELETE", "/channels/{channelId}/moh")
CHANNEL_SILENCE_START = Operation("POST", "/channels/{channelId}/silence")
CHANNEL_SILENCE_STOP = Operation("DELETE", "/channels/{channelId}/silence")
CHANNEL_PLAY = Operation(
    "POST", "/channels/{channelId}/play", ("media", "playbackId", "lang", "offsetms", "skipms")
)
CHANNEL_VARIABLE_GET = Operation("GET", "/channels/{channelId}/variable", ("variable",))
CHANNEL_VARIABLE_SET = Operation("POST", "/channels/{channelId}/variable", ("variable", "value"))
CHANNEL_SNOOP = Operation(
    "POST", "/channels/{channelId}/snoop", ("app", "spy", "whisper", "appArgs", "snoopId")
)

BRIDGES_LIST = Operation("GET", "/bridges")
BRIDGE_CREATE = Operation("POST", "/bridges", ("bridgeId", "type", "name"))
BRIDGE_GET = Operation("GET", "/bridges/{bridgeId}")
BRIDGE_DESTROY = Operation("DELETE", "/bridges/{bridgeId}")
BRIDGE_ADD_CHANNEL = Operation(
    "POST",
    "/bridges/{bridgeId}/addChannel",
    ("channel", "absorbDTMF", "mute", "role", "inhibitConnectedLineUpdates"),
)
BRIDGE_REMOVE_CHANNEL = Operation("POST", "/bridges/{bridgeId}/removeChannel", ("channel",))

PLAYBACK_GET = Operation("GET", "/playbacks/{playbackId}")
PLAYBACK_STOP = Operation("DELETE", "/playbacks/{playbackId}")

EVENTS = Operation("GET", "/events", ("app", "subscribeAll"))  # the WebSocket

OPERATIONS: tuple[Operation, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, Operation)
)
