"""The payment flow: a pure state machine (events in, commands out).

Modelled on h11: the states are an enum and the transitions are a table of data
(:data:`TRANSITIONS`) that both drives the machine and draws its diagram
(:func:`mermaid_diagram`). Nothing here imports asyncio, reads a clock or does I/O: timers
are commands (``StartTimer``) answered by events (``TimerExpiry``), and "today" is passed in.

A row of the table reads: in ``source``, on an event of type ``event`` for which the guard
``guard`` holds, run the action ``action`` and go to ``target``. Rows are tried in order;
the first whose guard holds wins. An event no row takes raises :class:`IllegalEvent`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from payivr.core.bank import (
    MAX_ACCOUNT_NUMBER_LENGTH,
    ROUTING_NUMBER_LENGTH,
    AccountType,
    BankProblem,
    MaskedBankAccount,
    check_account_number,
    check_routing_number,
    last_two,
)
from payivr.core.cards import (
    Brand,
    CardProblem,
    MaskedCard,
    SecretDigits,
    check_card_number,
    check_expiry,
    check_postal_code,
    check_security_code,
    expiry_month_and_year,
    identify_brand,
)
from payivr.core.events import (
    AgentCancellation,
    AgentHangup,
    AgentUpdate,
    Authorize,
    BankAccountDetails,
    CallerHangup,
    CancelTimer,
    CardDetails,
    Command,
    Event,
    Finish,
    GatewayApproval,
    GatewayDecline,
    GatewayFailure,
    GatewayOutcomeUnknown,
    KeyPress,
    Outcome,
    PaymentDetails,
    PaymentMethod,
    PlayPrompt,
    Prompt,
    PromptFinished,
    PromptPart,
    Reconnect,
    SayCharacters,
    SayDigits,
    SayNumber,
    StartTimer,
    Step,
    StepStatus,
    StopPrompt,
    TimerExpiry,
)
from payivr.core.prompts import CURRENCIES, brand_prompt, month_prompt

NO_INPUT_TIMER = "no_input"
INTER_DIGIT_TIMER = "inter_digit"


class FlowError(Exception):
    """Base of the flow's errors."""


class IllegalEvent(FlowError):
    """The code driving the flow sent an event its current state cannot take (we broke it).

    The caller's keys can never cause this: every key is a legal input in every state that
    listens to the caller.
    """


class FlowFinished(IllegalEvent):
    """An event arrived after the flow reached its terminal state."""


class State(enum.Enum):
    NEW = "new"
    CONFIRMING_AMOUNT = "confirming_amount"
    ENTERING_CARD_NUMBER = "entering_card_number"
    CONFIRMING_CARD_NUMBER = "confirming_card_number"
    ENTERING_EXPIRY = "entering_expiry"
    CONFIRMING_EXPIRY = "confirming_expiry"
    ENTERING_SECURITY_CODE = "entering_security_code"
    CONFIRMING_SECURITY_CODE = "confirming_security_code"
    ENTERING_POSTAL_CODE = "entering_postal_code"
    CONFIRMING_POSTAL_CODE = "confirming_postal_code"
    ENTERING_ROUTING_NUMBER = "entering_routing_number"
    CONFIRMING_ROUTING_NUMBER = "confirming_routing_number"
    ENTERING_ACCOUNT_NUMBER = "entering_account_number"
    CONFIRMING_ACCOUNT_NUMBER = "confirming_account_number"
    ENTERING_ACCOUNT_TYPE = "entering_account_type"
    CONFIRMING_ACCOUNT_TYPE = "confirming_account_type"
    OFFERING_CARD_ON_FILE = "offering_card_on_file"
    AUTHORIZING = "authorizing"
    AUTHORIZING_CALLER_GONE = "authorizing_caller_gone"
    ANNOUNCING_RESULT = "announcing_result"
    DONE = "done"


@dataclass(frozen=True)
class FlowStart:
    """Starts the flow (from ``NEW``)."""


@dataclass(frozen=True)
class EntryEnded:
    """Internal: the entry of the current step is complete (or cut short by a timeout)."""

    timed_out: bool = False


@dataclass(frozen=True)
class Transition:
    source: State
    event: type[object]
    guard: str
    target: State
    action: str


ENTERING = {
    Step.CARD_NUMBER: State.ENTERING_CARD_NUMBER,
    Step.EXPIRY: State.ENTERING_EXPIRY,
    Step.SECURITY_CODE: State.ENTERING_SECURITY_CODE,
    Step.POSTAL_CODE: State.ENTERING_POSTAL_CODE,
    Step.ROUTING_NUMBER: State.ENTERING_ROUTING_NUMBER,
    Step.ACCOUNT_NUMBER: State.ENTERING_ACCOUNT_NUMBER,
    Step.ACCOUNT_TYPE: State.ENTERING_ACCOUNT_TYPE,
}
CONFIRMING = {
    Step.AMOUNT: State.CONFIRMING_AMOUNT,
    Step.CARD_NUMBER: State.CONFIRMING_CARD_NUMBER,
    Step.EXPIRY: State.CONFIRMING_EXPIRY,
    Step.SECURITY_CODE: State.CONFIRMING_SECURITY_CODE,
    Step.POSTAL_CODE: State.CONFIRMING_POSTAL_CODE,
    Step.ROUTING_NUMBER: State.CONFIRMING_ROUTING_NUMBER,
    Step.ACCOUNT_NUMBER: State.CONFIRMING_ACCOUNT_NUMBER,
    Step.ACCOUNT_TYPE: State.CONFIRMING_ACCOUNT_TYPE,
}
STEP_OF_STATE = {
    state: step for mapping in (ENTERING, CONFIRMING) for step, state in mapping.items()
}

# After a step is confirmed: the next step's entry state, guarded by whether it is asked.
# The last card step leads to the card-on-file offer when it is made, else to the charge.
_NEXT_AFTER: dict[Step, tuple[tuple[str, State], ...]] = {
    Step.AMOUNT: (
        ("bank_payment", State.ENTERING_ROUTING_NUMBER),
        ("always", State.ENTERING_CARD_NUMBER),
    ),
    Step.CARD_NUMBER: (("always", State.ENTERING_EXPIRY),),
    Step.EXPIRY: (
        ("security_code_asked", State.ENTERING_SECURITY_CODE),
        ("postal_code_asked", State.ENTERING_POSTAL_CODE),
        ("card_on_file_offered", State.OFFERING_CARD_ON_FILE),
        ("always", State.AUTHORIZING),
    ),
    Step.SECURITY_CODE: (
        ("postal_code_asked", State.ENTERING_POSTAL_CODE),
        ("card_on_file_offered", State.OFFERING_CARD_ON_FILE),
        ("always", State.AUTHORIZING),
    ),
    Step.POSTAL_CODE: (
        ("card_on_file_offered", State.OFFERING_CARD_ON_FILE),
        ("always", State.AUTHORIZING),
    ),
    Step.ROUTING_NUMBER: (("always", State.ENTERING_ACCOUNT_NUMBER),),
    Step.ACCOUNT_NUMBER: (("always", State.ENTERING_ACCOUNT_TYPE),),
    Step.ACCOUNT_TYPE: (("always", State.AUTHORIZING),),
}


def _listening_rows(state: State) -> list[Transition]:
    """Rows shared by every state in which the caller is keying or confirming."""
    end = State.ANNOUNCING_RESULT
    return [
        Transition(state, KeyPress, "cancel_key", end, "cancel_by_caller"),
        Transition(state, TimerExpiry, "no_input_timer", end, "fail_no_input"),
        Transition(state, PromptFinished, "current_prompt", state, "await_input"),
        Transition(state, PromptFinished, "always", state, "ignore_stale"),
        Transition(state, CallerHangup, "always", State.DONE, "finish_caller_gone"),
        Transition(state, AgentHangup, "always", state, "note_agent_gone"),
        Transition(state, AgentCancellation, "always", end, "cancel_by_agent"),
    ]


# Entries of one key (a choice): the key ends them, so no inter-digit timer ever runs.
SINGLE_KEY_STEPS = frozenset({Step.ACCOUNT_TYPE})


def _entry_rows(step: Step) -> list[Transition]:
    entering, confirming = ENTERING[step], CONFIRMING[step]
    end = State.ANNOUNCING_RESULT
    inter_digit = (
        []
        if step in SINGLE_KEY_STEPS
        else [
            Transition(entering, TimerExpiry, "inter_digit_timer", entering, "end_entry_timed_out")
        ]
    )
    return [
        *_listening_rows(entering),
        Transition(entering, KeyPress, "end_key", entering, "end_entry"),
        Transition(entering, KeyPress, "always", entering, "collect_digit"),
        *inter_digit,
        Transition(entering, TimerExpiry, "always", entering, "ignore_stale"),
        Transition(entering, EntryEnded, "entry_valid", confirming, "read_back"),
        Transition(entering, EntryEnded, "retry_left_after_this", entering, "reject_entry"),
        Transition(entering, EntryEnded, "always", end, "fail_attempts"),
    ]


def _confirm_rows(step: Step) -> list[Transition]:
    confirming = CONFIRMING[step]
    end = State.ANNOUNCING_RESULT
    rows = _listening_rows(confirming)
    rows += [
        Transition(
            confirming,
            KeyPress,
            "accept_key" if guard == "always" else f"accept_key_and_{guard}",
            target,
            "accept_step",
        )
        for guard, target in _NEXT_AFTER[step]
    ]
    if step is Step.AMOUNT:
        rows.append(Transition(confirming, KeyPress, "reenter_key", end, "reject_amount"))
    else:
        rows += [
            Transition(
                confirming, KeyPress, "reenter_key_and_retry_left", ENTERING[step], "reenter"
            ),
            Transition(confirming, KeyPress, "reenter_key", end, "fail_attempts"),
        ]
    rows += [
        Transition(confirming, KeyPress, "choice_retry_left", confirming, "invalid_choice"),
        Transition(confirming, KeyPress, "always", end, "fail_attempts"),
        Transition(confirming, TimerExpiry, "always", confirming, "ignore_stale"),
    ]
    return rows


def _offer_rows() -> list[Transition]:
    """Keeping the card on file is asked before the charge, so one sale both charges the
    card and returns its token. A caller who cannot answer is charged without storing."""
    offering, auth = State.OFFERING_CARD_ON_FILE, State.AUTHORIZING
    return [
        *_listening_rows(offering),
        Transition(offering, KeyPress, "keep_card_key", auth, "authorize_keeping_card"),
        Transition(offering, KeyPress, "do_not_keep_card_key", auth, "authorize_without_keeping"),
        Transition(offering, KeyPress, "choice_retry_left", offering, "invalid_offer_choice"),
        Transition(offering, KeyPress, "always", auth, "authorize_without_keeping"),
        Transition(offering, TimerExpiry, "always", offering, "ignore_stale"),
    ]


def _authorizing_rows() -> list[Transition]:
    auth, gone, end = State.AUTHORIZING, State.AUTHORIZING_CALLER_GONE, State.ANNOUNCING_RESULT
    rows = [
        Transition(auth, GatewayApproval, "always", end, "announce_approval"),
        Transition(auth, GatewayDecline, "always", end, "announce_decline"),
        Transition(auth, GatewayFailure, "always", end, "announce_failure"),
        Transition(auth, GatewayOutcomeUnknown, "always", end, "announce_unknown"),
        Transition(auth, KeyPress, "always", auth, "ignore_key_while_charging"),
        Transition(auth, PromptFinished, "current_prompt", auth, "note_prompt_done"),
        Transition(auth, PromptFinished, "always", auth, "ignore_stale"),
        Transition(auth, TimerExpiry, "always", auth, "ignore_stale"),
        Transition(auth, CallerHangup, "always", gone, "note_caller_gone"),
        Transition(auth, AgentHangup, "always", auth, "note_agent_gone"),
        Transition(auth, AgentCancellation, "always", auth, "ignore_cancel_while_charging"),
    ]
    for event in (GatewayApproval, GatewayDecline, GatewayFailure, GatewayOutcomeUnknown):
        rows.append(Transition(gone, event, "always", State.DONE, "finish_without_caller"))
    rows += [
        Transition(gone, PromptFinished, "always", gone, "ignore_stale"),
        Transition(gone, TimerExpiry, "always", gone, "ignore_stale"),
        Transition(gone, AgentHangup, "always", gone, "note_agent_gone"),
        Transition(gone, AgentCancellation, "always", gone, "ignore_cancel_while_charging"),
    ]
    return rows


def _announcing_rows() -> list[Transition]:
    end = State.ANNOUNCING_RESULT
    return [
        Transition(end, PromptFinished, "current_prompt", State.DONE, "reconnect_and_finish"),
        Transition(end, PromptFinished, "always", end, "ignore_stale"),
        Transition(end, KeyPress, "always", end, "ignore_key_while_announcing"),
        Transition(end, TimerExpiry, "always", end, "ignore_stale"),
        Transition(end, CallerHangup, "always", State.DONE, "finish_caller_gone"),
        Transition(end, AgentHangup, "always", end, "note_agent_gone"),
        Transition(end, AgentCancellation, "always", end, "ignore_late_cancel"),
    ]


TRANSITIONS: tuple[Transition, ...] = (
    Transition(State.NEW, FlowStart, "always", State.CONFIRMING_AMOUNT, "start"),
    Transition(State.NEW, CallerHangup, "always", State.DONE, "finish_caller_gone"),
    Transition(State.NEW, AgentCancellation, "always", State.DONE, "finish_cancelled_before_start"),
    *_confirm_rows(Step.AMOUNT),
    *(row for step in ENTERING for row in (*_entry_rows(step), *_confirm_rows(step))),
    *_offer_rows(),
    *_authorizing_rows(),
    *_announcing_rows(),
)


@dataclass(frozen=True)
class FlowConfig:
    """Per-deployment settings of the caller's flow.

    ``offer_card_on_file``: after the last card step the caller is asked whether to keep
    the card for future payments; the answer becomes ``Authorize(store_card=...)``.
    ``accepted_methods``: the payment methods a request may choose.
    """

    accepted_brands: frozenset[Brand] = frozenset(Brand)
    ask_security_code: bool = True
    ask_postal_code: bool = True
    max_attempts: int = 3
    no_input_timeout: float = 60.0
    inter_digit_timeout: float = 5.0
    postal_code_lengths: frozenset[int] = frozenset({5, 9})
    offer_card_on_file: bool = False
    accepted_methods: frozenset[PaymentMethod] = frozenset(PaymentMethod)

    def __post_init__(self) -> None:
        if not self.accepted_brands:
            raise ValueError("accepted_brands: at least one card brand must be accepted")
        if not self.accepted_methods:
            raise ValueError("accepted_methods: at least one payment method must be accepted")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        # Written so that NaN fails too.
        if not all(
            0 < timeout < float("inf")
            for timeout in (self.no_input_timeout, self.inter_digit_timeout)
        ):
            raise ValueError("timeouts must be positive and finite")
        if not self.postal_code_lengths or not all(
            1 <= length <= 10 for length in self.postal_code_lengths
        ):
            raise ValueError("postal_code_lengths must be between 1 and 10 digits")

    @property
    def steps(self) -> tuple[Step, ...]:
        """The steps of a card payment."""
        return self.steps_for(PaymentMethod.CARD)

    def steps_for(self, method: PaymentMethod) -> tuple[Step, ...]:
        """The steps the caller is asked, in order, when paying by ``method``."""
        return tuple(
            step
            for step in method_steps(method)
            if (step is not Step.SECURITY_CODE or self.ask_security_code)
            and (step is not Step.POSTAL_CODE or self.ask_postal_code)
        )


def method_steps(method: PaymentMethod) -> tuple[Step, ...]:
    """Every step of a payment by ``method``, asked or not (the agent sees the others as
    skipped)."""
    return tuple(step for step in Step if step.method in (None, method))


_PROBLEM_PROMPTS: dict[CardProblem | BankProblem, str] = {
    CardProblem.BRAND_NOT_ACCEPTED: "brand-not-accepted",
    CardProblem.EXPIRED: "card-expired",
}
_INVALID_PROMPTS = {
    Step.CARD_NUMBER: "invalid-card-number",
    Step.EXPIRY: "invalid-expiry",
    Step.SECURITY_CODE: "invalid-security-code",
    Step.POSTAL_CODE: "invalid-postal-code",
    Step.ROUTING_NUMBER: "invalid-routing-number",
    Step.ACCOUNT_NUMBER: "invalid-account-number",
    Step.ACCOUNT_TYPE: "invalid-account-type",
}
_ENTRY_PROMPTS = {
    Step.CARD_NUMBER: "enter-card-number",
    Step.EXPIRY: "enter-expiry",
    Step.POSTAL_CODE: "enter-postal-code",
    Step.ROUTING_NUMBER: "enter-routing-number",
    Step.ACCOUNT_NUMBER: "enter-account-number",
    Step.ACCOUNT_TYPE: "choose-account-type",
}
_FAILURE_REASONS = {
    Step.AMOUNT: "the caller could not confirm the amount",
    Step.CARD_NUMBER: "too many invalid card numbers",
    Step.EXPIRY: "too many invalid expiry dates",
    Step.SECURITY_CODE: "too many invalid security codes",
    Step.POSTAL_CODE: "too many invalid postal codes",
    Step.ROUTING_NUMBER: "too many invalid routing numbers",
    Step.ACCOUNT_NUMBER: "too many invalid account numbers",
    Step.ACCOUNT_TYPE: "too many invalid account type choices",
}


@dataclass
class _Entry:
    """What the caller keyed for one step. Card steps use a wipeable buffer."""

    digits: SecretDigits = field(default_factory=SecretDigits)
    attempts: int = 0  # entries made, valid or not
    choice_errors: int = 0  # keys other than 1 and 2 while confirming
    timed_out: bool = False


class PaymentFlow:
    """One caller's payment. Feed it events with :meth:`send`; it answers with commands."""

    def __init__(
        self,
        payment_id: str,
        amount_minor: int,
        currency: str,
        config: FlowConfig,
        today: date,
        method: PaymentMethod = PaymentMethod.CARD,
    ) -> None:
        if type(amount_minor) is not int or amount_minor <= 0:  # bool is an int: refuse it
            raise ValueError("amount_minor must be a positive whole number of minor units")
        if currency not in CURRENCIES:
            raise ValueError(
                f"currency {currency!r} is not supported: use one of {sorted(CURRENCIES)}"
            )
        if method not in config.accepted_methods:
            raise ValueError(f"payment method {method.value!r} is not accepted here")
        self.payment_id = payment_id
        self.method = method
        self.steps = config.steps_for(method)
        self.amount_minor = amount_minor
        self.currency = CURRENCIES[currency]
        self.config = config
        self._today = today
        self.state = State.NEW
        self.agent_present = True
        self.caller_present = True
        self.outcome: Outcome | None = None
        self.reason = ""
        self.reference: str | None = None
        self.brand: Brand | None = None
        self.masked_card: MaskedCard | None = None
        self.masked_bank_account: MaskedBankAccount | None = None
        self._entries: dict[Step, _Entry] = {step: _Entry() for step in Step}
        self._confirmed: dict[Step, SecretDigits] = {}
        self._postal_code: str | None = None
        self._account_type: AccountType | None = None
        self._offer_choice_errors = 0
        self._details: PaymentDetails | None = None
        self._commands: list[Command] = []
        self._prompt_sequence = 0
        self._playing: int | None = None
        self._timer_token = 0
        self._timers: dict[str, int] = {}
        self._pending: list[object] = []

    def __repr__(self) -> str:
        return f"<PaymentFlow {self.payment_id} {self.state.value}>"

    # ----------------------------------------------------------------- driving

    def start(self) -> list[Command]:
        return self.send(FlowStart())

    def send(self, event: Event | FlowStart) -> list[Command]:
        """Take one event; return the commands it causes, in order."""
        if self.state is State.DONE:
            raise FlowFinished(
                f"payment {self.payment_id} is finished; {type(event).__name__} refused"
            )
        self._commands = []
        queue: list[object] = [event]
        while queue:
            current = queue.pop(0)
            row = self._find_row(current)
            getattr(self, f"_act_{row.action}")(current)
            self.state = row.target
            queue.extend(self._pending)
            self._pending.clear()
        if self.state is State.DONE:
            self._wipe()
        commands, self._commands = self._commands, []
        return commands

    def _find_row(self, event: object) -> Transition:
        for row in _ROWS_BY_STATE.get(self.state, ()):
            if isinstance(event, row.event) and self._guard(row.guard, event):
                return row
        raise IllegalEvent(f"{self.state.value} cannot take {type(event).__name__}")

    # ----------------------------------------------------------------- guards

    def _guard(self, name: str, event: object) -> bool:
        if name == "always":
            return True
        checks: dict[str, Callable[[], bool]] = {
            "cancel_key": lambda: _key(event) == "*",
            "end_key": lambda: _key(event) == "#",
            "accept_key": lambda: _key(event) == "1",
            "reenter_key": lambda: _key(event) == "2",
            "accept_key_and_security_code_asked": lambda: (
                _key(event) == "1" and self.config.ask_security_code
            ),
            "accept_key_and_postal_code_asked": lambda: (
                _key(event) == "1" and self.config.ask_postal_code
            ),
            "reenter_key_and_retry_left": lambda: (
                _key(event) == "2" and self._entry().attempts < self.config.max_attempts
            ),
            "retry_left_after_this": lambda: self._entry().attempts + 1 < self.config.max_attempts,
            "choice_retry_left": lambda: self._choice_errors() + 1 < self.config.max_attempts,
            "current_prompt": lambda: (
                isinstance(event, PromptFinished) and event.sequence == self._playing
            ),
            "no_input_timer": lambda: self._is_current_timer(event, NO_INPUT_TIMER),
            "inter_digit_timer": lambda: self._is_current_timer(event, INTER_DIGIT_TIMER),
            "entry_valid": lambda: self._problem_with_entry() is None,
            "security_code_asked": lambda: self.config.ask_security_code,
            "postal_code_asked": lambda: self.config.ask_postal_code,
            "accept_key_and_card_on_file_offered": lambda: (
                _key(event) == "1" and self._card_on_file_offered()
            ),
            "accept_key_and_bank_payment": lambda: (
                _key(event) == "1" and self.method is PaymentMethod.ACH
            ),
            "keep_card_key": lambda: _key(event) == "1",
            "do_not_keep_card_key": lambda: _key(event) == "2",
        }
        return checks[name]()

    def _is_current_timer(self, event: object, name: str) -> bool:
        return (
            isinstance(event, TimerExpiry)
            and event.name == name
            and self._timers.get(name) == event.token
        )

    def _entry(self) -> _Entry:
        return self._entries[STEP_OF_STATE[self.state]]

    def _choice_errors(self) -> int:
        if self.state is State.OFFERING_CARD_ON_FILE:
            return self._offer_choice_errors
        return self._entry().choice_errors

    def _card_on_file_offered(self) -> bool:
        return self.config.offer_card_on_file and self.method is PaymentMethod.CARD

    # ----------------------------------------------------------------- actions

    def _act_start(self, _: object) -> None:
        for step in method_steps(self.method):
            status = StepStatus.WAITING if step in self.steps else StepStatus.SKIPPED
            self._emit(AgentUpdate(step, status))
        self._emit(AgentUpdate(Step.AMOUNT, StepStatus.ENTERING, confirming=True))
        self._play(Prompt("intro"), *self._amount_parts(), Prompt("confirm-amount"))

    def _act_await_input(self, _: object) -> None:
        self._playing = None
        self._start_timer(NO_INPUT_TIMER, self.config.no_input_timeout)

    def _act_note_prompt_done(self, _: object) -> None:
        self._playing = None

    def _act_ignore_stale(self, _: object) -> None:
        """A prompt or timer that was already replaced: nothing to do."""

    def _act_ignore_key_while_charging(self, _: object) -> None:
        """The card is with the gateway; keys can no longer change anything."""

    def _act_ignore_key_while_announcing(self, _: object) -> None:
        """The result is being read out; it is not cut short by a key."""

    def _act_ignore_late_cancel(self, _: object) -> None:
        """The payment is already ending."""

    def _act_ignore_cancel_while_charging(self, _: object) -> None:
        """The card is already with the gateway: a cancel cannot stop the charge."""

    def _act_collect_digit(self, event: object) -> None:
        step = STEP_OF_STATE[self.state]
        entry = self._entries[step]
        self._barge_in()
        self._cancel_timer(NO_INPUT_TIMER)
        entry.digits.append(_key(event))
        iin = identify_brand(entry.digits) if step is Step.CARD_NUMBER else None
        self._emit(
            AgentUpdate(
                step,
                StepStatus.ENTERING,
                digits_entered=len(entry.digits),
                brand=iin.brand if iin is not None else None,
            )
        )
        if len(entry.digits) >= self._entry_length_limit(step):
            self._cancel_timer(INTER_DIGIT_TIMER)
            self._pending.append(EntryEnded())
        else:
            self._start_timer(INTER_DIGIT_TIMER, self.config.inter_digit_timeout)

    def _act_end_entry(self, _: object) -> None:
        self._barge_in()
        self._cancel_timer(NO_INPUT_TIMER)
        self._cancel_timer(INTER_DIGIT_TIMER)
        self._pending.append(EntryEnded())

    def _act_end_entry_timed_out(self, _: object) -> None:
        self._timers.pop(INTER_DIGIT_TIMER, None)
        self._entries[STEP_OF_STATE[self.state]].timed_out = True
        self._pending.append(EntryEnded(timed_out=True))

    def _act_read_back(self, _: object) -> None:
        step = STEP_OF_STATE[self.state]
        entry = self._entries[step]
        entry.attempts += 1
        parts: list[PromptPart]
        masked_card = None
        if step is Step.CARD_NUMBER:
            brand = check_card_number(entry.digits, self.config.accepted_brands)
            assert isinstance(brand, Brand)
            self.brand = brand
            masked_card = MaskedCard(brand, entry.digits.last_four())
            parts = [
                Prompt("you-entered"),
                Prompt(brand_prompt(self.brand)),
                Prompt("card-ending-in"),
                SayDigits(entry.digits.last_four()),
            ]
        elif step is Step.EXPIRY:
            month, year = expiry_month_and_year(entry.digits)
            parts = [Prompt("expiry-is"), Prompt(month_prompt(month)), SayNumber(year)]
        elif step is Step.SECURITY_CODE:
            parts = [Prompt("security-code-entered")]
        elif step is Step.POSTAL_CODE:
            parts = [Prompt("postal-code-is"), SayDigits(_plain(entry.digits))]
        elif step is Step.ROUTING_NUMBER:
            parts = [Prompt("routing-number-ending-in"), SayDigits(last_two(entry.digits))]
        elif step is Step.ACCOUNT_NUMBER:
            parts = [Prompt("account-number-ending-in"), SayDigits(last_two(entry.digits))]
        else:
            account_type = AccountType.from_key(_plain(entry.digits))
            assert account_type is not None
            parts = [Prompt(f"account-type-{account_type.value}")]
        self._emit(
            AgentUpdate(
                step,
                StepStatus.ENTERING,
                digits_entered=len(entry.digits),
                masked_card=masked_card,
                brand=self.brand if masked_card else None,
                confirming=True,
            )
        )
        self._play(*parts, Prompt("confirm-entry"))

    def _act_reject_entry(self, _: object) -> None:
        step = STEP_OF_STATE[self.state]
        problem = self._problem_with_entry()
        assert problem is not None
        self._entry().attempts += 1
        self._reset_entry(step)
        prompt = _PROBLEM_PROMPTS.get(problem, _INVALID_PROMPTS[step])
        detail = f"invalid entry ({problem.value}); the caller is trying again"
        self._emit(AgentUpdate(step, StepStatus.ENTERING, detail=detail))
        self._play(Prompt(prompt), *self._entry_prompt(step))

    def _act_reenter(self, _: object) -> None:
        step = STEP_OF_STATE[self.state]
        self._barge_in()
        self._cancel_timer(NO_INPUT_TIMER)
        self._reset_entry(step)
        if step is Step.CARD_NUMBER:
            self.brand = None
        self._emit(AgentUpdate(step, StepStatus.ENTERING, detail="the caller is entering it again"))
        self._play(*self._entry_prompt(step))

    def _act_invalid_choice(self, _: object) -> None:
        self._cancel_timer(NO_INPUT_TIMER)
        self._entry().choice_errors += 1
        if STEP_OF_STATE[self.state] is Step.AMOUNT:
            self._play(Prompt("invalid-choice"), *self._amount_parts(), Prompt("confirm-amount"))
        else:
            self._play(Prompt("invalid-choice"), Prompt("confirm-entry"))

    def _act_accept_step(self, _: object) -> None:
        step = STEP_OF_STATE[self.state]
        self._barge_in()
        self._cancel_timer(NO_INPUT_TIMER)
        digits = self._entries[step].digits
        if step is Step.CARD_NUMBER:
            assert self.brand is not None
            self.masked_card = MaskedCard(self.brand, digits.last_four())
        if step is Step.POSTAL_CODE:
            self._postal_code = _plain(digits)
            digits.wipe()
        elif step is Step.ACCOUNT_TYPE:
            self._account_type = AccountType.from_key(_plain(digits))
            assert self._account_type is not None
            digits.wipe()
            account_number = self._confirmed[Step.ACCOUNT_NUMBER]
            self.masked_bank_account = MaskedBankAccount(
                self._account_type, last_two(account_number)
            )
        elif step is not Step.AMOUNT:
            self._confirmed[step] = digits
        self._emit(
            AgentUpdate(
                step,
                StepStatus.DONE,
                masked_card=self.masked_card if step is Step.CARD_NUMBER else None,
                masked_bank_account=(
                    self.masked_bank_account if step is Step.ACCOUNT_TYPE else None
                ),
            )
        )
        following = self._next_step(step)
        if following is not None:
            self._emit(AgentUpdate(following, StepStatus.ENTERING))
            self._play(*self._entry_prompt(following))
        elif self._card_on_file_offered():
            self._play(Prompt("offer-card-on-file"))
        else:
            self._authorize(store_card=False)

    def _act_invalid_offer_choice(self, _: object) -> None:
        self._cancel_timer(NO_INPUT_TIMER)
        self._offer_choice_errors += 1
        self._play(Prompt("invalid-choice"), Prompt("offer-card-on-file"))

    def _act_authorize_keeping_card(self, _: object) -> None:
        self._barge_in()
        self._cancel_timer(NO_INPUT_TIMER)
        self._authorize(store_card=True)

    def _act_authorize_without_keeping(self, _: object) -> None:
        self._barge_in()
        self._cancel_timer(NO_INPUT_TIMER)
        self._authorize(store_card=False)

    def _act_reject_amount(self, _: object) -> None:
        self._barge_in()
        self._emit(
            AgentUpdate(
                Step.AMOUNT, StepStatus.FAILED, detail="the caller did not accept the amount"
            )
        )
        self._conclude(
            Outcome.DECLINED_BY_CALLER, "the caller did not accept the amount", "amount-rejected"
        )

    def _act_cancel_by_caller(self, _: object) -> None:
        self._barge_in()
        self._fail_current_step("cancelled by the caller")
        self._conclude(Outcome.CANCELLED, "the caller cancelled the payment", "payment-cancelled")

    def _act_cancel_by_agent(self, _: object) -> None:
        self._fail_current_step("cancelled by the agent")
        self._conclude(
            Outcome.AGENT_CANCELLED, "the agent cancelled the payment", "payment-cancelled"
        )

    def _act_fail_no_input(self, _: object) -> None:
        self._timers.pop(NO_INPUT_TIMER, None)
        self._fail_current_step("no key pressed in time")
        self._conclude(Outcome.TIMED_OUT, "the caller did not press a key in time", "no-input")

    def _act_fail_attempts(self, _: object) -> None:
        step = STEP_OF_STATE[self.state]
        self._barge_in()
        self._fail_current_step("too many invalid entries")
        self._conclude(Outcome.ATTEMPTS_EXHAUSTED, _FAILURE_REASONS[step], "too-many-attempts")

    def _act_announce_approval(self, event: object) -> None:
        assert isinstance(event, GatewayApproval)
        self.reference = event.reference
        saved = (Prompt("card-kept-on-file"),) if event.card_stored else ()
        self._conclude(
            Outcome.APPROVED,
            "approved",
            "payment-approved",
            SayCharacters(spoken_reference(event.reference)),
            *saved,
        )

    def _act_announce_decline(self, event: object) -> None:
        assert isinstance(event, GatewayDecline)
        self._conclude(Outcome.DECLINED, event.reason, "payment-declined")

    def _act_announce_failure(self, event: object) -> None:
        assert isinstance(event, GatewayFailure)
        self._conclude(Outcome.GATEWAY_ERROR, event.reason, "payment-error")

    def _act_announce_unknown(self, event: object) -> None:
        assert isinstance(event, GatewayOutcomeUnknown)
        self._conclude(Outcome.PENDING, event.reason, "payment-pending")

    def _act_note_caller_gone(self, _: object) -> None:
        self.caller_present = False
        self._playing = None  # it ended with the caller's channel: nothing to stop
        self._cancel_all_timers()

    def _act_note_agent_gone(self, _: object) -> None:
        self.agent_present = False

    def _act_finish_without_caller(self, event: object) -> None:
        outcome, reason, reference = _gateway_result(event)
        self.reference = reference
        self._finish(outcome, reason)

    def _act_finish_caller_gone(self, _: object) -> None:
        self.caller_present = False
        self._playing = None  # it ended with the caller's channel: nothing to stop
        if self.outcome is None:
            self._fail_current_step("the caller hung up")
            self._finish(Outcome.CALLER_HUNG_UP, "the caller hung up")
        else:
            self._finish(self.outcome, self.reason)

    def _act_finish_cancelled_before_start(self, _: object) -> None:
        self._finish(Outcome.AGENT_CANCELLED, "the agent cancelled the payment before it started")

    def _act_reconnect_and_finish(self, _: object) -> None:
        self._playing = None
        assert self.outcome is not None
        self._cancel_all_timers()
        self._emit(Reconnect(agent_present=self.agent_present))
        self._emit(self._finish_command(self.outcome, self.reason))

    # ----------------------------------------------------------------- helpers

    def _emit(self, command: Command) -> None:
        self._commands.append(command)

    def _play(self, *parts: PromptPart) -> None:
        self._barge_in()
        self._prompt_sequence += 1
        self._playing = self._prompt_sequence
        self._emit(PlayPrompt(tuple(parts), self._prompt_sequence))

    def _barge_in(self) -> None:
        if self._playing is not None:
            self._emit(StopPrompt(self._playing))
            self._playing = None

    def _start_timer(self, name: str, seconds: float) -> None:
        self._timer_token += 1
        self._timers[name] = self._timer_token
        self._emit(StartTimer(name, seconds, self._timer_token))

    def _cancel_timer(self, name: str) -> None:
        if self._timers.pop(name, None) is not None:
            self._emit(CancelTimer(name))

    def _cancel_all_timers(self) -> None:
        for name in list(self._timers):
            self._cancel_timer(name)

    def _amount_parts(self) -> list[PromptPart]:
        currency = self.currency
        scale = 10**currency.exponent
        major, minor = divmod(self.amount_minor, scale)
        parts: list[PromptPart] = [Prompt("amount-is")]
        if major or not minor:
            word = currency.major_singular if major == 1 else currency.major_plural
            parts += [SayNumber(major), Prompt(word)]
        if minor and currency.minor_plural and currency.minor_singular:
            if major:
                parts.append(Prompt("and"))
            word = currency.minor_singular if minor == 1 else currency.minor_plural
            parts += [SayNumber(minor), Prompt(word)]
        return parts

    def _entry_prompt(self, step: Step) -> list[PromptPart]:
        if step is Step.SECURITY_CODE:
            amex = self.brand is Brand.AMEX
            return [Prompt("enter-security-code-amex" if amex else "enter-security-code")]
        return [Prompt(_ENTRY_PROMPTS[step])]

    def _entry_length_limit(self, step: Step) -> int:
        """Digits after which an entry ends by itself (fixed length, or too long to be valid)."""
        if step is Step.EXPIRY:
            return 4
        if step is Step.SECURITY_CODE:
            assert self.brand is not None
            return self.brand.security_code_length
        if step is Step.POSTAL_CODE:
            return max(self.config.postal_code_lengths) + 1
        if step is Step.ROUTING_NUMBER:
            return ROUTING_NUMBER_LENGTH
        if step is Step.ACCOUNT_NUMBER:
            return MAX_ACCOUNT_NUMBER_LENGTH + 1  # too long to be valid: ends by itself
        if step is Step.ACCOUNT_TYPE:
            return 1
        return 20  # one more than the longest card number any brand allows

    def _problem_with_entry(self) -> CardProblem | BankProblem | None:
        step = STEP_OF_STATE[self.state]
        entry = self._entries[step]
        if entry.timed_out:
            if step.method is PaymentMethod.ACH:
                return BankProblem.INCOMPLETE
            return CardProblem.INCOMPLETE
        if step is Step.ROUTING_NUMBER:
            return check_routing_number(entry.digits)
        if step is Step.ACCOUNT_NUMBER:
            return check_account_number(entry.digits)
        if step is Step.ACCOUNT_TYPE:
            if AccountType.from_key(_plain(entry.digits)) is None:
                return BankProblem.ACCOUNT_TYPE
            return None
        if step is Step.CARD_NUMBER:
            result = check_card_number(entry.digits, self.config.accepted_brands)
            return None if isinstance(result, Brand) else result
        if step is Step.EXPIRY:
            return check_expiry(entry.digits, self._today)
        if step is Step.SECURITY_CODE:
            assert self.brand is not None
            return check_security_code(entry.digits, self.brand)
        return check_postal_code(_plain(entry.digits), self.config.postal_code_lengths)

    def _reset_entry(self, step: Step) -> None:
        entry = self._entries[step]
        entry.digits.wipe()
        entry.digits = SecretDigits()
        entry.timed_out = False

    def _next_step(self, step: Step) -> Step | None:
        index = self.steps.index(step)
        return self.steps[index + 1] if index + 1 < len(self.steps) else None

    def _authorize(self, *, store_card: bool) -> None:
        details: PaymentDetails
        if self.method is PaymentMethod.ACH:
            assert self._account_type is not None
            details = BankAccountDetails(
                routing_number=self._confirmed[Step.ROUTING_NUMBER],
                account_number=self._confirmed[Step.ACCOUNT_NUMBER],
                account_type=self._account_type,
            )
        else:
            assert self.brand is not None
            details = CardDetails(
                number=self._confirmed[Step.CARD_NUMBER],
                expiry=self._confirmed[Step.EXPIRY],
                security_code=self._confirmed.get(Step.SECURITY_CODE),
                postal_code=self._postal_code,
                brand=self.brand,
            )
        self._details = details
        self._play(Prompt("processing"))
        self._emit(
            Authorize(
                details,
                self.amount_minor,
                self.currency.code,
                self.payment_id,
                store_card=store_card,
            )
        )

    def _fail_current_step(self, detail: str) -> None:
        step = STEP_OF_STATE.get(self.state)
        if step is not None:
            self._emit(AgentUpdate(step, StepStatus.FAILED, detail=detail))

    def _conclude(self, outcome: Outcome, reason: str, prompt: str, *details: PromptPart) -> None:
        """Decide the outcome and tell the caller; the reconnect follows the announcement."""
        self.outcome = outcome
        self.reason = reason
        self._cancel_all_timers()
        self._wipe()
        closing = "returning-to-agent" if self.agent_present else "goodbye"
        self._play(Prompt(prompt), *details, Prompt(closing))

    def _finish(self, outcome: Outcome, reason: str) -> None:
        self.outcome = outcome
        self.reason = reason
        self._barge_in()
        self._cancel_all_timers()
        self._emit(self._finish_command(outcome, reason))

    def _finish_command(self, outcome: Outcome, reason: str) -> Finish:
        return Finish(
            outcome,
            reason,
            reference=self.reference,
            masked_card=self.masked_card,
            masked_bank_account=self.masked_bank_account,
        )

    def _wipe(self) -> None:
        for entry in self._entries.values():
            entry.digits.wipe()
        for digits in self._confirmed.values():
            digits.wipe()
        self._confirmed.clear()
        if self._details is not None:
            self._details.wipe()
            self._details = None
        self._postal_code = None

    def holds_card_data(self) -> bool:
        """True while any keyed card or bank digit is still in memory."""
        buffers = [entry.digits for entry in self._entries.values()] + list(
            self._confirmed.values()
        )
        return any(len(buffer) for buffer in buffers) or self._postal_code is not None


def spoken_reference(reference: str) -> str:
    """What the caller hears of a gateway reference: its last 8 letters and digits."""
    return "".join(character for character in reference if character.isalnum())[-8:]


def _key(event: object) -> str:
    return event.digit if isinstance(event, KeyPress) else ""


def _plain(digits: SecretDigits) -> str:
    """Digits that are not card data (the postal code, the account type key) as text."""
    return digits.reveal().decode("ascii")


def _gateway_result(event: object) -> tuple[Outcome, str, str | None]:
    if isinstance(event, GatewayApproval):
        return Outcome.APPROVED, "approved", event.reference
    if isinstance(event, GatewayDecline):
        return Outcome.DECLINED, event.reason, None
    if isinstance(event, GatewayFailure):
        return Outcome.GATEWAY_ERROR, event.reason, None
    assert isinstance(event, GatewayOutcomeUnknown)
    return Outcome.PENDING, event.reason, None


_ROWS_BY_STATE: dict[State, tuple[Transition, ...]] = {
    state: tuple(row for row in TRANSITIONS if row.source is state) for state in State
}


def mermaid_diagram() -> str:
    """The state diagram, drawn from :data:`TRANSITIONS` (the table that drives the flow)."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.NEW.name}"]
    seen: set[tuple[State, State, str]] = set()
    for row in TRANSITIONS:
        if row.action.startswith("ignore") or row.action == "note_agent_gone":
            continue
        label = row.event.__name__ + ("" if row.guard == "always" else f" [{row.guard}]")
        key = (row.source, row.target, label)
        if key in seen:
            continue
        seen.add(key)
        lines.append(f"    {row.source.name} --> {row.target.name}: {label} / {row.action}")
    lines.append(f"    {State.DONE.name} --> [*]")
    return "\n".join(lines)
