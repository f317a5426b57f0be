"""The simulator's state: channels, bridges, playbacks and applications, with the JSON
snapshots ARI shows of them. Plain data; behaviour lives in :mod:`.engine`."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .phones import SimPhone

ASTERISK_ID = "02:fc:00:00:00:01"
ASTERISK_VERSION = "22.10.1"

HANGUP_CAUSES = {
    0: "Unknown",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    18: "No user responding",
    20: "Subscriber absent",
    21: "Call Rejected",
    22: "Number changed",
    26: "Answered elsewhere",
    27: "Destination out of order",
    28: "Invalid number format",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    102: "Recovery on timer expiry",
    1: "Unallocated (unassigned) number",
}
# A SIP final response to an INVITE as the hangup cause chan_pjsip queues
# (ast_sip_hangup_sip2cause), for the responses a simulated phone or trunk can give.
SIP_RESPONSE_CAUSES = {
    404: 1, 408: 18, 410: 22, 480: 19, 484: 28, 486: 17, 500: 38, 502: 27, 503: 34,
    504: 102, 600: 17, 603: 21, 604: 1,
}
# DELETE /channels/{id}?reason=... (resource_channels.c)
HANGUP_REASONS = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 19,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}


class Technology(Enum):
    SIP = "PJSIP"
    LOCAL = "Local"
    SNOOP = "Snoop"


class Clock:
    """Simulated time: ``time_scale`` real seconds per simulated second (0.1 = 10x faster)."""

    def __init__(self, time_scale: float) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wall_origin = time.time()
        self._loop_origin = 0.0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._loop_origin = self._loop.time()
        return self._loop

    def now(self) -> float:
        """Simulated wall-clock time (epoch seconds)."""
        return self._wall_origin + (self.loop.time() - self._loop_origin) / self.time_scale

    def call_later(self, seconds: float, callback: Any, *args: Any) -> asyncio.TimerHandle:
        return self.loop.call_later(max(0.0, seconds) * self.time_scale, callback, *args)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) * self.time_scale)


@functools.lru_cache(maxsize=4096)
def iso_time(epoch: float) -> str:
    """Asterisk's timestamp format: ``2026-11-21T21:11:04.541+0000``.

    Remembered: a channel's ``creationtime`` is in every event about it, and the events of
    one moment share their ``timestamp``."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")[:23] + "+0000"


class EventSink(Protocol):
    """Where one WebSocket's events go (the server's side of a connection)."""

    def deliver(self, text: str) -> None: ...


@dataclass(eq=False)
class SimApplication:
    name: str
    sinks: list[EventSink] = field(default_factory=list)
    subscribe_all: bool = False
    endpoint_ids: set[str] = field(default_factory=set)
    device_names: set[str] = field(default_factory=set)

    @property
    def active(self) -> bool:
        return bool(self.sinks)


@dataclass
class Recording:
    """A ``MixMonitor()`` on a channel: what its recording would hold, in order.

    ``read`` is audio from the channel (DTMF tones as ``dtmf:<digit>``), ``write`` audio to
    it (the media URIs played). ``MixMonitorMute`` silences either direction: a muted
    direction adds nothing, as Asterisk writes silence in its place.
    """

    filename: str
    entries: list[str] = field(default_factory=list)
    read_muted: bool = False
    write_muted: bool = False


@dataclass(eq=False)
class SimChannel:
    id: str
    name: str
    technology: Technology
    created: float
    state: str = "Down"
    protocol_id: str = ""
    caller_name: str = ""
    caller_number: str = ""
    connected_name: str = ""
    connected_number: str = ""
    language: str = "en"
    context: str = "default"
    exten: str = "s"
    priority: int = 1
    app_name: str = ""
    app_data: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    phone: SimPhone | None = None
    local_peer: SimChannel | None = None
    # explicit subscriptions (originate, POST /applications/{app}/subscription)
    subscribers: set[str] = field(default_factory=set)
    stasis_app: str | None = None
    stasis_args: list[str] = field(default_factory=list)
    stasis_exit: asyncio.Future[tuple[str, str, int] | None] | None = None
    bridge: SimBridge | None = None
    absorb_dtmf: bool = False
    bridge_muted: bool = False
    role: str = ""
    muted_in: bool = False
    muted_out: bool = False
    on_hold: bool = False
    moh_class: str | None = None
    silence: bool = False
    playback_queue: deque[SimPlayback] = field(default_factory=deque)
    playing: SimPlayback | None = None
    has_pbx: bool = False
    pbx_task: asyncio.Task[None] | None = None
    dialing: asyncio.Future[str] | None = None
    ring_timer: asyncio.TimerHandle | None = None
    feature_buffer: str = ""
    feature_timer: asyncio.TimerHandle | None = None
    may_transfer: bool = False  # Dial()'s t (called party) or T (calling party) option
    snoop_target: SimChannel | None = None
    snoop_whisper: str = "none"
    snoops: list[SimChannel] = field(default_factory=list)
    hanging_up: bool = False
    destroyed: bool = False
    hangup_cause: int = 16
    refused_cause: int | None = None  # the far end refused the call (a SIP error response)
    ring_timed_out: bool = False  # nobody answered within the dial timeout
    continued_to: tuple[str, str, int] | None = None
    linkedid: str = ""  # AMI's Linkedid: the first channel of the call
    # Read(): (variable, max digits, done) while the dialplan collects digits
    reading: tuple[str, int, asyncio.Future[None]] | None = None
    recording: Recording | None = None  # MixMonitor() on this channel
    # TALK_DETECT(set): the silence (seconds) that ends "talking", and the detector's state
    talk_detect: float | None = None
    talking_since: float | None = None
    talk_end_timer: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"SimChannel({self.id!r}, {self.name!r}, {self.state!r})"

    def wake_phone(self) -> None:
        """Tell the phone on this channel that something changed (its waiters look again)."""
        if self.phone is not None:
            self.phone.changed()

    @property
    def is_sip(self) -> bool:
        return self.technology is Technology.SIP

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": self.protocol_id,
            "caller": {"name": self.caller_name, "number": self.caller_number},
            "connected": {"name": self.connected_name, "number": self.connected_number},
            "accountcode": "",
            "dialplan": {
                "context": self.context,
                "exten": self.exten,
                "priority": self.priority,
                "app_name": self.app_name,
                "app_data": self.app_data,
            },
            "creationtime": iso_time(self.created),
            "language": self.language,
        }


BRIDGE_CAPABILITIES = frozenset(
    {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label"}
)


@dataclass(eq=False)
class SimBridge:
    id: str
    name: str
    types: frozenset[str]
    created: float
    stasis: bool = True
    channels: list[SimChannel] = field(default_factory=list)
    subscribers: set[str] = field(default_factory=set)
    moh_class: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    native: bool = False
    playback_queue: deque[SimPlayback] = field(default_factory=deque)
    playing: SimPlayback | None = None
    destroyed: bool = False

    def __repr__(self) -> str:
        return f"SimBridge({self.id!r}, {sorted(self.types)!r}, {[c.id for c in self.channels]!r})"

    @property
    def holding(self) -> bool:
        return "holding" in self.types

    @property
    def technology(self) -> str:
        if self.native:
            return "native_rtp"
        return "holding_bridge" if self.holding else "simple_bridge"

    def can_bridge_natively(self) -> bool:
        """Two SIP channels alone, no frame processing asked for: RTP is relayed natively."""
        if self.holding or self.types & {"dtmf_events", "proxy_media"}:
            return False
        if len(self.channels) != 2:
            return False
        return all(
            c.is_sip
            and not (c.muted_in or c.muted_out)
            and not (not self.stasis and (c.variables.get("DYNAMIC_FEATURES") or c.may_transfer))
            for c in self.channels
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "technology": self.technology,
            "bridge_type": "holding" if self.holding else "mixing",
            "bridge_class": "stasis" if self.stasis else "basic",
            "creator": "Stasis" if self.stasis else "",
            "name": self.name,
            "channels": sorted(c.id for c in self.channels),
            "creationtime": iso_time(self.created),
            "video_mode": "none" if self.holding else "talker",
        }


@dataclass(eq=False)
class SimPlayback:
    id: str
    media: list[str]
    target_kind: str  # "channel" or "bridge"
    target_id: str
    language: str
    skipms: int
    state: str = "queued"
    index: int = 0
    timer: asyncio.TimerHandle | None = None
    item_ends_at: float = 0.0
    paused_remaining: float | None = None

    @property
    def media_uri(self) -> str:
        return self.media[self.index]

    def snapshot(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "media_uri": self.media_uri}
        if self.index + 1 < len(self.media):
            data["next_media_uri"] = self.media[self.index + 1]
        data["target_uri"] = f"{self.target_kind}:{self.target_id}"
        data["language"] = self.language
        data["state"] = self.state
        return data
