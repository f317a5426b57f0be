"""A request to take an agent's call over for a payment, and where the dialplan expects it.

The ``*7`` feature code raises ``UserEvent(PayIVRRequest,Agent: ${CHANNEL},Peer: ${BRIDGEPEER},
Amount: <cents>)`` (dialplan/payivr.conf). payivr answers it by setting ``PAYIVR_KEY`` on both
legs and ``PAYIVR_PEER`` on the caller's, then one ``Redirect`` with ``ExtraChannel`` sends the
caller to ``payivr-takeover,caller,1`` and the agent to ``payivr-takeover,agent,1``, where
``Stasis(payivr,takeover,caller|agent,<key>)`` runs: the key pairs both StasisStarts with the
request.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from payivr.ami.errors import InvalidTakeoverRequest
from payivr.ami.models import DialplanLocation, Redirect

REQUEST_EVENT = "PayIVRRequest"
TAKEOVER_CONTEXT = "payivr-takeover"
CALLER_LOCATION = DialplanLocation(TAKEOVER_CONTEXT, "caller", 1)
AGENT_LOCATION = DialplanLocation(TAKEOVER_CONTEXT, "agent", 1)
KEY_VARIABLE = "PAYIVR_KEY"
PEER_VARIABLE = "PAYIVR_PEER"
MAX_AMOUNT_DIGITS = 9

_DIGITS = re.compile(r"[0-9]+")


class RequestSource(Enum):
    FEATURE_CODE = "feature_code"
    FASTAGI = "fastagi"
    CONSOLE = "console"


@dataclass(frozen=True)
class TakeoverRequest:
    """Move ``caller_channel`` and ``agent_channel`` into payivr's Stasis app, paired by ``key``."""

    agent_channel: str
    caller_channel: str
    key: str
    amount_minor: int | None = None
    source: RequestSource = RequestSource.CONSOLE

    @classmethod
    def new(
        cls,
        agent_channel: str,
        caller_channel: str,
        amount_minor: int | None = None,
        source: RequestSource = RequestSource.CONSOLE,
    ) -> TakeoverRequest:
        return cls(agent_channel, caller_channel, new_key(), amount_minor, source)

    def pairing_variables(self) -> tuple[tuple[str, str, str], ...]:
        """(channel, variable, value) to set before the redirect: the key on both legs, and
        the agent's channel on the caller's."""
        return (
            (self.caller_channel, KEY_VARIABLE, self.key),
            (self.agent_channel, KEY_VARIABLE, self.key),
            (self.caller_channel, PEER_VARIABLE, self.agent_channel),
        )

    def redirect(self) -> Redirect:
        """The one ``Redirect`` that sends both legs to ``payivr-takeover``."""
        return Redirect(
            self.caller_channel,
            CALLER_LOCATION,
            extra_channel=self.agent_channel,
            extra_target=AGENT_LOCATION,
        )


KEY_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def new_key() -> str:
    """A pairing key: 16 lowercase letters (75 bits), safe as a Stasis() argument.

    No digits: a hex key held a run of 12 or more digits about once in a hundred takeovers,
    which the store refused as card data (the payment did not start) and the logs masked.
    """
    return "".join(secrets.choice(KEY_LETTERS) for _ in range(16))


def parse_amount(text: str) -> int | None:
    """The agent's optional amount in minor units: digits only, positive; otherwise none."""
    text = text.strip()
    if not _DIGITS.fullmatch(text) or len(text) > MAX_AMOUNT_DIGITS or int(text) == 0:
        return None
    return int(text)


def request_from_fields(
    agent: str, peer: str, amount: str, source: RequestSource
) -> TakeoverRequest:
    agent, peer = agent.strip(), peer.strip()
    if not agent:
        raise InvalidTakeoverRequest("the request names no agent channel",
                                     reason="no agent channel")
    if not peer:
        raise InvalidTakeoverRequest(f"{agent} is not bridged to a caller",
                                     reason="no caller channel")
    if "," in peer or peer == agent:
        raise InvalidTakeoverRequest(f"{agent} is not in a two-party call",
                                     reason="not a two-party call")
    return TakeoverRequest.new(agent, peer, parse_amount(amount), source)


def parse_user_event(event: Mapping[str, str | list[str]]) -> TakeoverRequest:
    """A TakeoverRequest from the AMI ``UserEvent`` headers (case-insensitive mapping)."""
    if event.get("UserEvent") != REQUEST_EVENT:
        raise InvalidTakeoverRequest(f"not a {REQUEST_EVENT} event")
    return request_from_fields(
        _single(event, "Agent") or _single(event, "Channel"),
        _single(event, "Peer"),
        _single(event, "Amount"),
        RequestSource.FEATURE_CODE,
    )


def _single(event: Mapping[str, str | list[str]], header: str) -> str:
    """One header's value; panoramisk makes a list of a header that appears more than once."""
    value = event.get(header) or ""
    if not isinstance(value, str):
        raise InvalidTakeoverRequest(f"{header} appears more than once",
                                     reason=f"{header} repeated")
    return value

