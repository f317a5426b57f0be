"""The payment flow: a pure state machine (events in, commands out).

Modelled on h11: the states are an enum and the transitions a literal table of data
(:mod:`payivr.core.transitions`) that both drives the machine and draws its diagram
(:mod:`payivr.core.diagram`). What each step is lives in :mod:`payivr.core.steps`; what
the guards check and the actions do, in :mod:`payivr.core.actions`. Nothing here imports
asyncio, reads a clock or does I/O: timers are commands (``StartTimer``) answered by events
(``TimerExpiry``), and "today" is passed in.

:class:`PaymentFlow` holds one payment's memory (what is playing, which timers run, what
the caller keyed) and the primitives the actions emit commands with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from payivr.core.bank import MaskedBankAccount
from payivr.core.cards import Brand, MaskedCard, SecretDigits
from payivr.core.errors import PayivrError
from payivr.core.events import (
    CancelTimer,
    Command,
    Event,
    FlowStart,
    Outcome,
    PaymentDetails,
    PaymentMethod,
    PlayPrompt,
    PromptPart,
    StartTimer,
    Step,
    StopPrompt,
)
from payivr.core.prompts import CURRENCIES
from payivr.core.steps import SPECS, STEPS_OF_METHOD, StepContext, StepSpec
from payivr.core.transitions import ROWS_BY_STATE, STEP_STATES, State, Transition


class FlowError(PayivrError):
    """Base of the flow's errors."""


class IllegalEvent(FlowError):
    """The code driving the flow sent an event its current state cannot take (we broke it).

    The caller's keys can never cause this: every key is a legal input in every state that
    listens to the caller.
    """


class FlowFinished(IllegalEvent):
    """An event arrived after the flow reached its terminal state."""


@dataclass(frozen=True)
class FlowConfig:
    """Per-deployment settings of the caller's flow.

    ``offer_card_on_file``: after the last card step the caller is asked whether to keep
    the card for future payments; the answer becomes ``Authorize(store_card=...)``.
    ``accepted_methods``: the payment methods a request may choose.
    ``decline_retries``: after a declined card the caller may try again this many more
    times (another card, or the field the processor refused); then the payment ends.
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
    decline_retries: int = 2

    def __post_init__(self) -> None:
        if not self.accepted_brands:
            raise ValueError("accepted_brands: at least one card brand must be accepted")
        if not self.accepted_methods:
            raise ValueError("accepted_methods: at least one payment method must be accepted")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.decline_retries < 0:
            raise ValueError("decline_retries must be 0 or more")
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
            for step in STEPS_OF_METHOD[method]
            if (step is not Step.SECURITY_CODE or self.ask_security_code)
            and (step is not Step.POSTAL_CODE or self.ask_postal_code)
        )


@dataclass
class Entry:
    """What the caller keyed for one step. Card steps use a wipeable buffer."""

    digits: SecretDigits = field(default_factory=SecretDigits)
    attempts: int = 0  # entries made, valid or not
    choice_errors: int = 0  # keys other than 1 and 2 while confirming
    pauses: int = 0  # entries asked again after a pause between digits
    timed_out: bool = False

    def reset(self) -> None:
        """Forget the digits keyed (wiped first), to key them again."""
        self.digits.wipe()
        self.digits = SecretDigits()
        self.timed_out = False


class PaymentFlow:
    """One caller's payment. Feed it events with :meth:`send`; it answers with commands.

    ``step`` is the step the caller is on (the amount, then those of ``steps``); the
    actions keep ``entries`` (what was keyed per step) and ``confirmed`` (the entries the
    caller accepted, which become the gateway request).
    """

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
        self.today = today
        self.state = State.NEW
        self.step = Step.AMOUNT
        self.agent_present = True
        self.outcome: Outcome | None = None
        self.reason = ""
        self.reference: str | None = None
        self.brand: Brand | None = None
        self.masked_card: MaskedCard | None = None
        self.masked_bank_account: MaskedBankAccount | None = None
        self.entries: dict[Step, Entry] = {step: Entry() for step in Step}
        self.confirmed: dict[Step, SecretDigits] = {}
        self.offer_choice_errors = 0
        self.charges = 0
        self.fixing_one_field = False
        self.details: PaymentDetails | None = None
        self._commands: list[Command] = []
        self._prompt_sequence = 0
        self._playing: int | None = None
        self._timer_token = 0
        self._timers: dict[str, int] = {}
        self._pending: list[object] = []

    def __repr__(self) -> str:
        return f"<PaymentFlow {self.payment_id} {self.state.value} {self.step.value}>"

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
            row.action(self, current)
            self.state = row.target
            queue.extend(self._pending)
            self._pending.clear()
        if self.state is State.DONE:
            self.wipe()
        commands, self._commands = self._commands, []
        return commands

    def _find_row(self, event: object) -> Transition:
        for row in ROWS_BY_STATE[self.state]:
            if isinstance(event, row.event) and row.guard(self, event):
                return row
        raise IllegalEvent(f"{self.state.value} cannot take {type(event).__name__}")

    def would_act_on(self, event: Event) -> bool:
        """Whether ``event`` would change anything now (its row is not one that ignores
        it). The flow is not changed: the guards only look."""
        try:
            row = self._find_row(event)
        except IllegalEvent:
            return False
        return not row.action.__name__.startswith("ignore")

    def then(self, event: object) -> None:
        """Take ``event`` next, within the same :meth:`send` (an internal event)."""
        self._pending.append(event)

    # ----------------------------------------------------------------- the current step

    @property
    def spec(self) -> StepSpec:
        """What the keyed step the caller is on is."""
        return SPECS[self.step]

    @property
    def entry(self) -> Entry:
        return self.entries[self.step]

    @property
    def step_context(self) -> StepContext:
        return StepContext(
            today=self.today,
            brand=self.brand,
            accepted_brands=self.config.accepted_brands,
            postal_code_lengths=self.config.postal_code_lengths,
        )

    @property
    def on_a_step(self) -> bool:
        """Whether the caller is on one of the steps (not before, after or between them)."""
        return self.state in STEP_STATES

    def next_step(self) -> Step | None:
        """The step after the current one (None: the last, or a field fixed after a
        decline, whose card's other fields were already confirmed)."""
        if self.fixing_one_field:
            return None
        index = self.steps.index(self.step)
        return self.steps[index + 1] if index + 1 < len(self.steps) else None

    # ----------------------------------------------------------------- commands

    def emit(self, command: Command) -> None:
        self._commands.append(command)

    def play(self, *parts: PromptPart) -> None:
        self.barge_in()
        self._prompt_sequence += 1
        self._playing = self._prompt_sequence
        self.emit(PlayPrompt(tuple(parts), self._prompt_sequence))

    def barge_in(self) -> None:
        """Stop the prompt playing, if any."""
        if self._playing is not None:
            self.emit(StopPrompt(self._playing))
            self._playing = None

    def is_playing(self, sequence: int) -> bool:
        return sequence == self._playing

    def prompt_ended(self) -> None:
        """The prompt playing ended by itself (or with the caller's channel): nothing to stop."""
        self._playing = None

    def start_timer(self, name: str, seconds: float) -> None:
        self._timer_token += 1
        self._timers[name] = self._timer_token
        self.emit(StartTimer(name, seconds, self._timer_token))

    def cancel_timer(self, name: str) -> None:
        if self._timers.pop(name, None) is not None:
            self.emit(CancelTimer(name))

    def cancel_all_timers(self) -> None:
        for name in list(self._timers):
            self.cancel_timer(name)

    def is_running(self, name: str, token: int) -> bool:
        return self._timers.get(name) == token

    def timer_fired(self, name: str) -> None:
        """The timer ``name`` expired: it no longer runs, and there is nothing to cancel."""
        self._timers.pop(name, None)

    # ----------------------------------------------------------------- card data

    def forget(self, step: Step) -> None:
        """Wipe what was keyed and confirmed for ``step``: it is asked as if for the first time."""
        confirmed = self.confirmed.pop(step, None)
        if confirmed is not None:
            confirmed.wipe()
        self.entries[step].digits.wipe()
        self.entries[step] = Entry()

    def wipe(self) -> None:
        for entry in self.entries.values():
            entry.digits.wipe()
        for digits in self.confirmed.values():
            digits.wipe()
        self.confirmed.clear()
        if self.details is not None:
            self.details.wipe()
            self.details = None

    def holds_card_data(self) -> bool:
        """True while any keyed card or bank digit is still in memory."""
        buffers = [entry.digits for entry in self.entries.values()] + list(self.confirmed.values())
        return any(len(buffer) for buffer in buffers)
