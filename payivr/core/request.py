"""What a payment request says besides the amount and the method: how the caller reached
the payment, and how the agent is kept from hearing the caller's keys.

These are the words the whole of payivr uses; text (a Stasis argument, a setting, a JSON
field, a database column) becomes one of them where it enters, and back where it leaves.
"""

from __future__ import annotations

import enum


class EntryKind(enum.Enum):
    """How the caller reached the payment."""

    TAKEOVER = "takeover"  # the agent pressed *7, or the console took a bridged call over
    INBOUND = "inbound"  # the dialplan sent a new call to payivr, which dials the agent
    PAYLINE = "payline"  # the caller dialled the pay line and pays alone
    TRANSFER = "transfer"  # an agent transferred the caller, who is called back after paying
    OUTBOUND = "outbound"  # payivr dialled the agent, then the customer
    TEXT = "text"  # pay by text (payivr.sms): no call, an SMS and a card on file


class PrivacyMode(enum.Enum):
    """``hold``: the agent hears music while the caller keys. ``talk-through``: they keep
    talking and Asterisk absorbs the caller's keys before they reach the agent."""

    HOLD = "hold"
    TALK_THROUGH = "talk-through"
