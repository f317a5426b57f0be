"""Asterisk Manager Interface and FastAGI edges of payivr.

- :class:`AmiClient` (client.py): panoramisk-based client: PayIVRRequest events, channel and
  bridge look-ups, Setvar/Getvar, the dual Redirect into ``payivr-takeover``.
- :class:`FastAgiServer` (fastagi.py): ``AGI(agi://payivr:4573/pay,...)`` as another trigger.
- :class:`TakeoverRequest` (takeover.py): what both triggers produce.
- The AMI simulator for tests and the demo is ``payivr.sim.ami``.
"""

from payivr.ami.client import ActiveCall, AmiClient, channel_from_headers, pick_call
from payivr.ami.errors import (
    AmiActionError,
    AmiConnectionError,
    AmiError,
    AmiLoginFailed,
    AmiTimeout,
    InvalidTakeoverRequest,
)
from payivr.ami.fastagi import AgiError, AgiRequest, AgiSession, FastAgiServer, takeover_route
from payivr.ami.models import (
    BridgeSnapshot,
    ChannelSnapshot,
    ChannelState,
    DialplanLocation,
    Redirect,
)
from payivr.ami.takeover import (
    AGENT_LOCATION,
    CALLER_LOCATION,
    KEY_VARIABLE,
    PEER_VARIABLE,
    REQUEST_EVENT,
    TAKEOVER_CONTEXT,
    RequestSource,
    TakeoverRequest,
    parse_user_event,
)

__all__ = [
    "AGENT_LOCATION",
    "CALLER_LOCATION",
    "KEY_VARIABLE",
    "PEER_VARIABLE",
    "REQUEST_EVENT",
    "TAKEOVER_CONTEXT",
    "ActiveCall",
    "AgiError",
    "AgiRequest",
    "AgiSession",
    "AmiActionError",
    "AmiClient",
    "AmiConnectionError",
    "AmiError",
    "AmiLoginFailed",
    "AmiTimeout",
    "BridgeSnapshot",
    "ChannelSnapshot",
    "ChannelState",
    "DialplanLocation",
    "FastAgiServer",
    "InvalidTakeoverRequest",
    "Redirect",
    "RequestSource",
    "TakeoverRequest",
    "channel_from_headers",
    "parse_user_event",
    "pick_call",
    "takeover_route",
]
