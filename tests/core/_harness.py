"""A stand-in for the edges around :class:`PaymentFlow`: it keeps track of what is playing and
which timers run (from the commands the flow emits) so a test can answer the way the ARI
edge would: finish the current prompt, fire a running timer, press keys.

No mocks: the flow is the real one; the only addition is that every transition row it
takes is noted in :data:`FIRED`, so a test can prove that every row of the table ran.
"""

from __future__ import annotations

import enum
from datetime import date

from payivr.core.cards import Brand
from payivr.core.events import (
    CancelTimer,
    Command,
    Event,
    Finish,
    FlowStart,
    KeyPress,
    PaymentMethod,
    PlayPrompt,
    Prompt,
    PromptFinished,
    StartTimer,
    Step,
    StopPrompt,
    TimerExpiry,
)
from payivr.core.flow import FlowConfig, PaymentFlow
from payivr.core.transitions import State, Transition

TODAY = date(2025, 6, 15)
PAYMENT_ID = "pay_0001"

# DESIGN.md's test cards that approve: number, brand, a security code of the right length.
SUCCESS_CARDS: tuple[tuple[str, Brand], ...] = (
    ("4242424242424242", Brand.VISA),
    ("5555555555554444", Brand.MASTERCARD),
    ("2223003122003222", Brand.MASTERCARD),
    ("378282246310005", Brand.AMEX),
    ("6011111111111117", Brand.DISCOVER),
    ("36227206271667", Brand.DINERS),
    ("3566002020360505", Brand.JCB),
    ("6200000000000005", Brand.UNIONPAY),
)
DECLINE_CARDS: tuple[str, ...] = (
    "4000000000000002",
    "4000000000009995",
    "4000000000009987",
    "4000000000009979",
    "4000000000000069",
    "4000000000000127",
    "4000000000000119",
)
VISA = "4242424242424242"
AMEX = "378282246310005"
EXPIRY = "1230"  # December 2030, valid on TODAY
SECURITY_CODE = "737"
AMEX_SECURITY_CODE = "7373"
POSTAL_CODE = "94105"

# Stripe's test bank account (routing 110000000 passes the ABA checksum).
ROUTING_NUMBER = "110000000"
ACCOUNT_NUMBER = "000123456789"
# More routing numbers that pass the checksum, and one that does not.
VALID_ROUTING_NUMBERS = ("011000015", "021000021", "122105278", "110000000")
BAD_CHECKSUM_ROUTING_NUMBER = "123456789"

# Rows taken by any flow built here (see tests/core/test_flow_branches.py).
FIRED: set[Transition] = set()


class At(enum.Enum):
    """Where a payment is: the flow's state, and the step for the states of a step."""

    NEW = (State.NEW, None)
    CONFIRMING_AMOUNT = (State.CONFIRMING_AMOUNT, Step.AMOUNT)
    ENTERING_CARD_NUMBER = (State.ENTERING, Step.CARD_NUMBER)
    CONFIRMING_CARD_NUMBER = (State.CONFIRMING, Step.CARD_NUMBER)
    ENTERING_EXPIRY = (State.ENTERING, Step.EXPIRY)
    CONFIRMING_EXPIRY = (State.CONFIRMING, Step.EXPIRY)
    ENTERING_SECURITY_CODE = (State.ENTERING, Step.SECURITY_CODE)
    CONFIRMING_SECURITY_CODE = (State.CONFIRMING, Step.SECURITY_CODE)
    ENTERING_POSTAL_CODE = (State.ENTERING, Step.POSTAL_CODE)
    CONFIRMING_POSTAL_CODE = (State.CONFIRMING, Step.POSTAL_CODE)
    ENTERING_ROUTING_NUMBER = (State.ENTERING, Step.ROUTING_NUMBER)
    CONFIRMING_ROUTING_NUMBER = (State.CONFIRMING, Step.ROUTING_NUMBER)
    ENTERING_ACCOUNT_NUMBER = (State.ENTERING, Step.ACCOUNT_NUMBER)
    CONFIRMING_ACCOUNT_NUMBER = (State.CONFIRMING, Step.ACCOUNT_NUMBER)
    ENTERING_ACCOUNT_TYPE = (State.ENTERING, Step.ACCOUNT_TYPE)
    CONFIRMING_ACCOUNT_TYPE = (State.CONFIRMING, Step.ACCOUNT_TYPE)
    OFFERING_CARD_ON_FILE = (State.OFFERING_CARD_ON_FILE, None)
    AUTHORIZING = (State.AUTHORIZING, None)
    AUTHORIZING_CALLER_GONE = (State.AUTHORIZING_CALLER_GONE, None)
    ANNOUNCING_RESULT = (State.ANNOUNCING_RESULT, None)
    DONE = (State.DONE, None)

    @classmethod
    def of(cls, flow: PaymentFlow) -> At:
        return cls((flow.state, flow.step if flow.on_a_step else None))

    @property
    def step(self) -> Step | None:
        return self.value[1]


class RecordingFlow(PaymentFlow):
    """The real flow, noting each transition row it takes."""

    def _find_row(self, event: object) -> Transition:
        row = super()._find_row(event)
        FIRED.add(row)
        return row


class Call:
    """One payment driven the way the ARI edge drives it, with a log of what came out."""

    def __init__(
        self,
        *,
        amount_minor: int = 13742,
        currency: str = "USD",
        today: date = TODAY,
        start: bool = True,
        method: PaymentMethod = PaymentMethod.CARD,
        **config: object,
    ) -> None:
        self.flow = RecordingFlow(
            PAYMENT_ID, amount_minor, currency, FlowConfig(**config), today, method
        )
        self.playing: int | None = None
        self.stopped: list[int] = []  # prompts stopped (their PromptFinished is still due)
        self.timers: dict[str, int] = {}
        self.retired_timers: list[tuple[str, int]] = []  # (name, token) cancelled or replaced
        self.commands: list[Command] = []
        self.last: list[Command] = []
        if start:
            self.send(FlowStart())

    # ------------------------------------------------------------- driving

    def send(self, event: Event | FlowStart) -> list[Command]:
        commands = self.flow.send(event)
        for command in commands:
            self._track(command)
        self.commands += commands
        self.last = commands
        return commands

    def press(self, keys: str) -> list[Command]:
        """Press each key in turn; the commands of all of them, in order."""
        out: list[Command] = []
        for key in keys:
            out += self.send(KeyPress(key))
        self.last = out
        return out

    def prompt_done(self) -> list[Command]:
        """The prompt now playing reaches its end."""
        assert self.playing is not None, "no prompt is playing"
        sequence, self.playing = self.playing, None
        return self.send(PromptFinished(sequence))

    def stale_prompt_done(self) -> list[Command]:
        """The edge reports the end of a prompt the flow already stopped."""
        assert self.stopped, "no prompt was stopped"
        return self.send(PromptFinished(self.stopped.pop()))

    def fire(self, name: str) -> list[Command]:
        """The running timer ``name`` expires."""
        token = self.timers.pop(name)
        return self.send(TimerExpiry(name, token))

    def fire_stale(self) -> list[Command]:
        """A timer the flow cancelled or replaced fires anyway (a race at the edge)."""
        assert self.retired_timers, "no timer was cancelled"
        name, token = self.retired_timers[-1]
        return self.send(TimerExpiry(name, token))

    def _track(self, command: Command) -> None:
        if isinstance(command, PlayPrompt):
            assert self.playing is None, "the flow started a prompt over another one"
            self.playing = command.sequence
        elif isinstance(command, StopPrompt):
            assert command.sequence == self.playing
            self.playing = None
            self.stopped.append(command.sequence)
        elif isinstance(command, StartTimer):
            if command.name in self.timers:
                self.retired_timers.append((command.name, self.timers[command.name]))
            self.timers[command.name] = command.token
        elif isinstance(command, CancelTimer):
            token = self.timers.pop(command.name)
            self.retired_timers.append((command.name, token))

    # ------------------------------------------------------------- looking

    @property
    def state(self) -> At:
        return At.of(self.flow)

    def played(self) -> list[PlayPrompt]:
        return [c for c in self.commands if isinstance(c, PlayPrompt)]

    def last_prompt_ids(self) -> list[str]:
        """Prompt ids of the most recent PlayPrompt."""
        return prompt_ids(self.played()[-1])

    def finish(self) -> Finish:
        finishes = [c for c in self.commands if isinstance(c, Finish)]
        assert len(finishes) == 1, finishes
        assert self.commands[-1] is finishes[0], "Finish must be the last command"
        return finishes[0]


def prompt_ids(play: PlayPrompt) -> list[str]:
    return [part.id for part in play.parts if isinstance(part, Prompt)]


def luhn_complete(prefix: str) -> str:
    """``prefix`` followed by the check digit that makes it pass Luhn."""
    for check in "0123456789":
        digits = [int(d) for d in prefix + check]
        total = sum(
            (d * 2 - 9 if d * 2 > 9 else d * 2) if position % 2 else d
            for position, d in enumerate(reversed(digits))
        )
        if total % 10 == 0:
            return prefix + check
    raise AssertionError("unreachable: one check digit always fits")


def card_number(prefix: str, length: int) -> str:
    """A Luhn-valid number of ``length`` digits starting with ``prefix``."""
    return luhn_complete(prefix.ljust(length - 1, "0"))


def of_type(commands: list[Command], kind: type) -> list[Command]:
    return [c for c in commands if isinstance(c, kind)]


# ----------------------------------------------------------------- getting somewhere

# From each listening state, the keys of the standard test payment that leave it.
_PATH: tuple[tuple[At, str], ...] = (
    (At.CONFIRMING_AMOUNT, "1"),
    (At.ENTERING_CARD_NUMBER, VISA + "#"),
    (At.CONFIRMING_CARD_NUMBER, "1"),
    (At.ENTERING_EXPIRY, EXPIRY),
    (At.CONFIRMING_EXPIRY, "1"),
    (At.ENTERING_SECURITY_CODE, SECURITY_CODE),
    (At.CONFIRMING_SECURITY_CODE, "1"),
    (At.ENTERING_POSTAL_CODE, POSTAL_CODE + "#"),
    (At.CONFIRMING_POSTAL_CODE, "1"),
)
# The standard test bank payment: the routing number ends by itself at nine digits.
_BANK_PATH: tuple[tuple[At, str], ...] = (
    (At.ENTERING_ROUTING_NUMBER, ROUTING_NUMBER),
    (At.CONFIRMING_ROUTING_NUMBER, "1"),
    (At.ENTERING_ACCOUNT_NUMBER, ACCOUNT_NUMBER + "#"),
    (At.CONFIRMING_ACCOUNT_NUMBER, "1"),
    (At.ENTERING_ACCOUNT_TYPE, "1"),
    (At.CONFIRMING_ACCOUNT_TYPE, "1"),
)
BANK_STATES: tuple[At, ...] = tuple(state for state, _ in _BANK_PATH)
# The caller's steps, card and bank (the card-on-file offer is not a step).
LISTENING_STATES: tuple[At, ...] = tuple(state for state, _ in _PATH) + BANK_STATES
ENTERING_STATES: tuple[At, ...] = tuple(
    state for state in LISTENING_STATES if state.name.startswith("ENTERING")
)
CONFIRMING_STATES: tuple[At, ...] = tuple(
    state for state in LISTENING_STATES if state.name.startswith("CONFIRMING")
)


def reach(call: Call, target: At, *, card: str = VISA, security_code: str | None = None) -> Call:
    """Key the standard test payment from where the call is (a listening state with nothing
    keyed yet) until it is in ``target`` (a listening state or AUTHORIZING). Keys barge in:
    the prompt of each state is left playing on arrival. The card-on-file offer, when
    made, is answered 2 (do not keep)."""
    keys = dict(_PATH + _BANK_PATH)
    keys[At.OFFERING_CARD_ON_FILE] = "2"
    keys[At.ENTERING_CARD_NUMBER] = card + "#"
    if security_code is not None:
        keys[At.ENTERING_SECURITY_CODE] = security_code
    while call.state is not target:
        before = call.state
        assert before in keys, f"cannot get from {before} to {target}"
        call.press(keys[before])
        assert call.state is not before, f"keys did not leave {before}"
    return call


def at(target: At, **options: object) -> Call:
    """A fresh call (default config unless ``options``) driven to ``target``; a bank
    payment when ``target`` is a bank step, with the offer made when it is the offer."""
    if target in BANK_STATES:
        options.setdefault("method", PaymentMethod.ACH)
    if target is At.OFFERING_CARD_ON_FILE:
        options.setdefault("offer_card_on_file", True)
    return reach(Call(**options), target)
