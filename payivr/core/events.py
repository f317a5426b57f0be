"""What goes into the payment flow (events) and what comes out of it (commands).

Both are frozen dataclasses named as nouns, as in h11. Nothing here prints card or bank
digits: the only objects that carry them are :class:`CardDetails` and
:class:`BankAccountDetails`, whose ``repr`` is masked.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from payivr.core.bank import AccountType, MaskedBankAccount, last_two
from payivr.core.cards import Brand, MaskedCard, SecretDigits


class PaymentMethod(enum.Enum):
    """How the caller pays, chosen per payment request."""

    CARD = "card"
    ACH = "ach"


class Step(enum.Enum):
    """The caller's steps (what each is: :mod:`payivr.core.steps`, which also orders them)."""

    AMOUNT = "amount"
    CARD_NUMBER = "card_number"
    EXPIRY = "expiry"
    SECURITY_CODE = "security_code"
    POSTAL_CODE = "postal_code"
    ROUTING_NUMBER = "routing_number"
    ACCOUNT_NUMBER = "account_number"
    ACCOUNT_TYPE = "account_type"


class StepStatus(enum.Enum):
    WAITING = "waiting"
    ENTERING = "entering"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class Outcome(enum.Enum):
    """How a payment ended."""

    APPROVED = "approved"
    DECLINED = "declined"
    DECLINED_BY_CALLER = "declined_by_caller"
    CANCELLED = "cancelled"
    AGENT_CANCELLED = "agent_cancelled"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    TIMED_OUT = "timed_out"
    CALLER_HUNG_UP = "caller_hung_up"
    GATEWAY_ERROR = "gateway_error"
    PENDING = "pending"

    @property
    def succeeded(self) -> bool:
        return self is Outcome.APPROVED


# --------------------------------------------------------------------------- events in


@dataclass(frozen=True)
class KeyPress:
    """One DTMF digit from the caller: ``0``-``9``, ``*`` or ``#``."""

    digit: str

    def __post_init__(self) -> None:
        if len(self.digit) != 1 or self.digit not in "0123456789*#":
            raise ValueError("a key press is one of 0-9, * or #")

    def __repr__(self) -> str:
        # The digit itself is card data while a card is being keyed.
        return "KeyPress(<hidden>)"


@dataclass(frozen=True)
class PromptFinished:
    """The prompt started by ``PlayPrompt(sequence=...)`` ended (played, stopped or failed)."""

    sequence: int


@dataclass(frozen=True)
class TimerExpiry:
    """The timer started by ``StartTimer(name, token=...)`` fired."""

    name: str
    token: int


@dataclass(frozen=True)
class GatewayApproval:
    """Money moved. ``card_stored``: the card is now on file (the caller asked for it and
    the gateway's token was kept)."""

    reference: str
    brand: Brand | None = None
    last_four: str | None = None
    card_stored: bool = False


@dataclass(frozen=True)
class GatewayDecline:
    code: str
    reason: str


@dataclass(frozen=True)
class GatewayFailure:
    """The gateway refused or broke; no money moved."""

    reason: str


@dataclass(frozen=True)
class GatewayOutcomeUnknown:
    """Sent, but no answer and the status query did not settle it either."""

    reason: str = "the gateway did not answer"


GatewayAnswer = GatewayApproval | GatewayDecline | GatewayFailure | GatewayOutcomeUnknown


@dataclass(frozen=True)
class CallerHangup:
    pass


@dataclass(frozen=True)
class AgentHangup:
    pass


@dataclass(frozen=True)
class AgentCancellation:
    pass


@dataclass(frozen=True)
class AgentReask:
    """The agent sends the caller back to ``step`` (one already keyed, or the one being
    keyed); what was keyed from there on is forgotten."""

    step: Step


@dataclass(frozen=True)
class FlowStart:
    """Starts the flow (from ``NEW``)."""


@dataclass(frozen=True)
class EntryEnded:
    """Internal: the entry of the current step is complete (or cut short by a timeout)."""

    timed_out: bool = False


Event = (
    KeyPress
    | PromptFinished
    | TimerExpiry
    | GatewayAnswer
    | CallerHangup
    | AgentHangup
    | AgentCancellation
    | AgentReask
)

# --------------------------------------------------------------------------- prompt parts


@dataclass(frozen=True)
class Prompt:
    """A recorded prompt, by id (see :mod:`payivr.core.prompts`)."""

    id: str


@dataclass(frozen=True)
class SayNumber:
    """A number read as a number ("one hundred thirty seven")."""

    value: int


@dataclass(frozen=True)
class SayDigits:
    """Digits read one by one. Never more than the last four of a card."""

    digits: str


@dataclass(frozen=True)
class SayCharacters:
    """Letters and digits read one by one (a transaction reference)."""

    text: str


PromptPart = Prompt | SayNumber | SayDigits | SayCharacters

# --------------------------------------------------------------------------- commands out


@dataclass(frozen=True)
class PlayPrompt:
    """Play ``parts`` to the caller only; answer with ``PromptFinished(sequence)``."""

    parts: tuple[PromptPart, ...]
    sequence: int


@dataclass(frozen=True)
class StopPrompt:
    sequence: int


NO_INPUT_TIMER = "no_input"
INTER_DIGIT_TIMER = "inter_digit"


@dataclass(frozen=True)
class StartTimer:
    """Start (or restart) the timer ``name``; answer with ``TimerExpiry(name, token)``."""

    name: str
    seconds: float
    token: int


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, eq=False)
class CardDetails:
    """The card as keyed. Handed to the gateway edge, which wipes it after encrypting."""

    number: SecretDigits
    expiry: SecretDigits
    security_code: SecretDigits | None
    postal_code: str | None
    brand: Brand

    @property
    def masked(self) -> MaskedCard:
        return MaskedCard(self.brand, self.number.last_four())

    def wipe(self) -> None:
        self.number.wipe()
        self.expiry.wipe()
        if self.security_code is not None:
            self.security_code.wipe()

    def __repr__(self) -> str:
        return f"CardDetails(brand={self.brand.value}, <digits hidden>)"


@dataclass(frozen=True, eq=False)
class BankAccountDetails:
    """The bank account as keyed (ACH). Handed to the gateway edge, which wipes it."""

    routing_number: SecretDigits
    account_number: SecretDigits
    account_type: AccountType

    @property
    def masked(self) -> MaskedBankAccount:
        return MaskedBankAccount(self.account_type, last_two(self.account_number))

    def wipe(self) -> None:
        self.routing_number.wipe()
        self.account_number.wipe()

    def __repr__(self) -> str:
        return f"BankAccountDetails(type={self.account_type.value}, <digits hidden>)"


PaymentDetails = CardDetails | BankAccountDetails


@dataclass(frozen=True)
class Authorize:
    """Charge the card, or debit the bank account, once. ``attempt``: the payment's
    charges so far, this one included (a declined card may be followed by another). The
    ``idempotency_key`` is the payment id for the first, with ``-try-<n>`` after it for the
    next. ``store_card``: the caller asked to keep the card on file, so the charge also asks
    the gateway for a token (never with a bank account)."""

    details: PaymentDetails = field(repr=False)
    amount_minor: int
    currency: str
    payment_id: str
    store_card: bool = False
    attempt: int = 1

    @property
    def idempotency_key(self) -> str:
        return self.payment_id if self.attempt == 1 else f"{self.payment_id}-try-{self.attempt}"

    @property
    def method(self) -> PaymentMethod:
        if isinstance(self.details, BankAccountDetails):
            return PaymentMethod.ACH
        return PaymentMethod.CARD


@dataclass(frozen=True)
class AgentUpdate:
    """What the agent may see of a step: status, a digit count, brand and last four (or a
    bank account's type and last two).

    ``brand``: the card's brand as soon as the leading digits tell it (the last four only
    come with ``masked_card``, once the number is complete). ``confirming``: the caller is
    hearing the entry (or the amount) read back and choosing to accept it or key it again.
    """

    step: Step
    status: StepStatus
    digits_entered: int = 0
    masked_card: MaskedCard | None = None
    detail: str = ""
    masked_bank_account: MaskedBankAccount | None = None
    brand: Brand | None = None
    confirming: bool = False


@dataclass(frozen=True)
class Reconnect:
    """Put the caller back with the agent (or, with no agent left, release the caller)."""

    agent_present: bool


@dataclass(frozen=True)
class Finish:
    """The payment ended. Always the last command; the flow holds no card digits after it."""

    outcome: Outcome
    reason: str
    reference: str | None = None
    masked_card: MaskedCard | None = None
    masked_bank_account: MaskedBankAccount | None = None


Command = (
    PlayPrompt
    | StopPrompt
    | StartTimer
    | CancelTimer
    | Authorize
    | AgentUpdate
    | Reconnect
    | Finish
)
