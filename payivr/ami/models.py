"""What AMI tells of channels and bridges, and where a Redirect sends a channel.

Shared by payivr's AMI client and the AMI simulator (which must say the same things).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ChannelState(IntEnum):
    """Asterisk's ``ast_channel_state``, as AMI reports it (``ChannelState``/``...Desc``)."""

    DOWN = 0
    RSRVD = 1
    OFFHOOK = 2
    DIALING = 3
    RING = 4
    RINGING = 5
    UP = 6
    BUSY = 7

    @property
    def description(self) -> str:
        return {
            ChannelState.DOWN: "Down",
            ChannelState.RSRVD: "Rsrvd",
            ChannelState.OFFHOOK: "OffHook",
            ChannelState.DIALING: "Dialing",
            ChannelState.RING: "Ring",
            ChannelState.RINGING: "Ringing",
            ChannelState.UP: "Up",
            ChannelState.BUSY: "Busy",
        }[self]


@dataclass(frozen=True)
class ChannelSnapshot:
    """One channel as AMI lists it (``CoreShowChannel``, ``BridgeInfoChannel``, events)."""

    name: str
    uniqueid: str
    linkedid: str
    state: ChannelState = ChannelState.UP
    caller_id_num: str = "<unknown>"
    caller_id_name: str = "<unknown>"
    connected_line_num: str = "<unknown>"
    connected_line_name: str = "<unknown>"
    language: str = "en"
    account_code: str = ""
    context: str = ""
    exten: str = ""
    priority: int = 1
    application: str = ""
    application_data: str = ""
    duration_seconds: int = 0
    bridge_id: str = ""


@dataclass(frozen=True)
class BridgeSnapshot:
    uniqueid: str
    channels: tuple[str, ...]
    bridge_type: str = "basic"
    technology: str = "simple_bridge"
    creator: str = "<unknown>"
    name: str = "<unknown>"
    video_source_mode: str = "none"


@dataclass(frozen=True)
class DialplanLocation:
    context: str
    exten: str
    priority: int


@dataclass(frozen=True)
class Redirect:
    """AMI ``Redirect``: ``channel`` to ``target`` and, in the same action, ``extra_channel`` to
    ``extra_target`` (to ``target`` when there is none, as Asterisk does)."""

    channel: str
    target: DialplanLocation
    extra_channel: str | None = None
    extra_target: DialplanLocation | None = None
