"""The agent's ``*7`` on a call payivr already holds.

Asterisk runs the ``*7`` feature code (features.conf) only in the bridge ``Dial()`` made; once a
call is in payivr's own bridge (after a first payment, or a call routed through payivr) the
agent's keys reach payivr as DTMF events instead, and this reads the same code from them:
``*7``, then optionally the amount in minor units and ``#``. Pure: the session feeds it keys
and tells it when the amount's time is up.
"""

from __future__ import annotations

from dataclasses import dataclass

from payivr.ami.takeover import parse_amount

FEATURE_CODE = "*7"
"""As dialplan/features.conf maps it (``payivr => *7,self,Gosub(payivr-feature,s,1)``)."""
AMOUNT_SECONDS = 3.0
"""How long the agent has to key the amount after the code (the dialplan's default
PAYIVR_AMOUNT_TIMEOUT)."""
MAX_AMOUNT_KEYS = 9


@dataclass(frozen=True)
class AgentRequest:
    """The agent asked for a payment: with the amount they keyed (minor units), or none."""

    amount_minor: int | None


class AgentKeys:
    def __init__(self, code: str = FEATURE_CODE) -> None:
        self._code = code
        self._typed = ""  # the part of the code keyed so far
        self._amount: str | None = None  # keys after the code, None before it

    @property
    def reading_amount(self) -> bool:
        """The code was keyed: the amount's keys (or its timeout) come next."""
        return self._amount is not None

    def key(self, digit: str) -> AgentRequest | None:
        """One of the agent's keys; the request once the code (and amount) is complete."""
        if self._amount is not None:
            if digit == "#":
                return self._complete()
            if digit.isdigit() and len(self._amount) < MAX_AMOUNT_KEYS:
                self._amount += digit
            elif digit == "*":  # starting over
                self._amount = None
                self._typed = digit if self._code.startswith(digit) else ""
            return None
        typed = self._typed + digit
        if typed == self._code:
            self._typed, self._amount = "", ""
        elif self._code.startswith(typed):
            self._typed = typed
        else:
            self._typed = digit if self._code.startswith(digit) else ""
        return None

    def expired(self) -> AgentRequest | None:
        """The amount's time is up: the request with what was keyed, if the code was."""
        return self._complete() if self._amount is not None else None

    def _complete(self) -> AgentRequest:
        amount = parse_amount(self._amount or "")
        self._amount = None
        return AgentRequest(amount)
