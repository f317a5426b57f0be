"""What each of the caller's steps is, in one record per step, and their order per method.

A :class:`StepSpec` says everything the flow needs to run a keyed step: the prompt that
asks for it, the one that refuses it, how many digits end it, the check of what was keyed,
what is read back, and the reason the payment ends with when the attempts run out. The
amount is a step too (the agent sees it) but is not keyed: the caller only accepts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from payivr.core.bank import (
    MAX_ACCOUNT_NUMBER_LENGTH,
    ROUTING_NUMBER_LENGTH,
    AccountType,
    BankProblem,
    check_account_number,
    check_routing_number,
    last_two,
)
from payivr.core.cards import (
    MAX_PAN_LENGTH,
    Brand,
    CardProblem,
    SecretDigits,
    check_card_number,
    check_expiry,
    check_postal_code,
    check_security_code,
    expiry_month_and_year,
)
from payivr.core.events import PaymentMethod, Prompt, PromptPart, SayDigits, SayNumber, Step
from payivr.core.prompts import brand_prompt, month_prompt

Problem = CardProblem | BankProblem

STEPS_OF_METHOD: dict[PaymentMethod, tuple[Step, ...]] = {
    PaymentMethod.CARD: (
        Step.AMOUNT,
        Step.CARD_NUMBER,
        Step.EXPIRY,
        Step.SECURITY_CODE,
        Step.POSTAL_CODE,
    ),
    PaymentMethod.ACH: (
        Step.AMOUNT,
        Step.ROUTING_NUMBER,
        Step.ACCOUNT_NUMBER,
        Step.ACCOUNT_TYPE,
    ),
}
"""Every step of a payment by each method, in the order the caller is asked (steps the
deployment does not ask are skipped, and the agent sees them as skipped)."""

AMOUNT_FAILURE_REASON = "the caller could not confirm the amount"


@dataclass(frozen=True)
class StepContext:
    """What a step's checks and read-back may depend on besides the digits."""

    today: date
    brand: Brand | None
    accepted_brands: frozenset[Brand]
    postal_code_lengths: frozenset[int]

    @property
    def known_brand(self) -> Brand:
        """The card's brand, for the steps that come after the card number."""
        assert self.brand is not None, "the card number step comes first"
        return self.brand


ReadBack = Callable[[SecretDigits, StepContext], tuple[PromptPart, ...]]
"""What the caller hears of a step's digits before confirming them."""


@dataclass(frozen=True)
class StepSpec:
    """One keyed step.

    ``max_digits``: the entry ends by itself at this many digits (a fixed length, or one
    more than the longest valid entry). ``single_key``: a choice of one key, which ends the
    entry, so no inter-digit timer runs. ``incomplete``: the problem of an entry cut short.
    ``after_decline``: what the caller hears when a declined card sends them back to this
    step (None: a decline never does).
    """

    step: Step
    ask: str
    invalid: str
    failure_reason: str
    max_digits: Callable[[StepContext], int]
    check: Callable[[SecretDigits, StepContext], Problem | None]
    read_back: ReadBack
    incomplete: Problem
    ask_amex: str | None = None
    single_key: bool = False
    after_decline: str | None = None

    def ask_prompt(self, brand: Brand | None) -> Prompt:
        if brand is Brand.AMEX and self.ask_amex is not None:
            return Prompt(self.ask_amex)
        return Prompt(self.ask)


def plain(digits: SecretDigits) -> str:
    """Digits that are not card data (the postal code, the account type key) as text."""
    return digits.reveal().decode("ascii")


def _card_number_problem(digits: SecretDigits, context: StepContext) -> CardProblem | None:
    result = check_card_number(digits, context.accepted_brands)
    return None if isinstance(result, Brand) else result


def _read_back_card_number(digits: SecretDigits, context: StepContext) -> tuple[PromptPart, ...]:
    return (
        Prompt("you-entered"),
        Prompt(brand_prompt(context.known_brand)),
        Prompt("card-ending-in"),
        SayDigits(digits.last_four()),
    )


def _read_back_expiry(digits: SecretDigits, _: StepContext) -> tuple[PromptPart, ...]:
    month, year = expiry_month_and_year(digits)
    return (Prompt("expiry-is"), Prompt(month_prompt(month)), SayNumber(year))


def _read_back_ending_in(prompt: str) -> ReadBack:
    """Bank numbers are read back by their last two digits only, after ``prompt``."""
    return lambda digits, _: (Prompt(prompt), SayDigits(last_two(digits)))


def _account_type_problem(digits: SecretDigits, _: StepContext) -> BankProblem | None:
    return None if AccountType.from_key(plain(digits)) is not None else BankProblem.ACCOUNT_TYPE


def _read_back_account_type(digits: SecretDigits, _: StepContext) -> tuple[PromptPart, ...]:
    account_type = AccountType.from_key(plain(digits))
    assert account_type is not None, "read back only after the check"
    return (Prompt(f"account-type-{account_type.value}"),)


SPECS: dict[Step, StepSpec] = {
    spec.step: spec
    for spec in (
        StepSpec(
            Step.CARD_NUMBER,
            ask="enter-card-number",
            invalid="invalid-card-number",
            failure_reason="too many invalid card numbers",
            max_digits=lambda _: MAX_PAN_LENGTH + 1,
            check=_card_number_problem,
            read_back=_read_back_card_number,
            incomplete=CardProblem.INCOMPLETE,
            after_decline="declined-try-another-card",
        ),
        StepSpec(
            Step.EXPIRY,
            ask="enter-expiry",
            invalid="invalid-expiry",
            failure_reason="too many invalid expiry dates",
            max_digits=lambda _: 4,
            check=lambda digits, context: check_expiry(digits, context.today),
            read_back=_read_back_expiry,
            incomplete=CardProblem.INCOMPLETE,
            after_decline="declined-check-expiry",
        ),
        StepSpec(
            Step.SECURITY_CODE,
            ask="enter-security-code",
            ask_amex="enter-security-code-amex",
            invalid="invalid-security-code",
            failure_reason="too many invalid security codes",
            max_digits=lambda context: context.known_brand.security_code_length,
            check=lambda digits, context: check_security_code(digits, context.known_brand),
            read_back=lambda _, __: (Prompt("security-code-entered"),),
            incomplete=CardProblem.INCOMPLETE,
            after_decline="declined-check-security-code",
        ),
        StepSpec(
            Step.POSTAL_CODE,
            ask="enter-postal-code",
            invalid="invalid-postal-code",
            failure_reason="too many invalid postal codes",
            max_digits=lambda context: max(context.postal_code_lengths) + 1,
            check=lambda digits, context: check_postal_code(
                plain(digits), context.postal_code_lengths
            ),
            read_back=lambda digits, _: (Prompt("postal-code-is"), SayDigits(plain(digits))),
            incomplete=CardProblem.INCOMPLETE,
            after_decline="declined-check-postal-code",
        ),
        StepSpec(
            Step.ROUTING_NUMBER,
            ask="enter-routing-number",
            invalid="invalid-routing-number",
            failure_reason="too many invalid routing numbers",
            max_digits=lambda _: ROUTING_NUMBER_LENGTH,
            check=lambda digits, _: check_routing_number(digits),
            read_back=_read_back_ending_in("routing-number-ending-in"),
            incomplete=BankProblem.INCOMPLETE,
        ),
        StepSpec(
            Step.ACCOUNT_NUMBER,
            ask="enter-account-number",
            invalid="invalid-account-number",
            failure_reason="too many invalid account numbers",
            max_digits=lambda _: MAX_ACCOUNT_NUMBER_LENGTH + 1,
            check=lambda digits, _: check_account_number(digits),
            read_back=_read_back_ending_in("account-number-ending-in"),
            incomplete=BankProblem.INCOMPLETE,
        ),
        StepSpec(
            Step.ACCOUNT_TYPE,
            ask="choose-account-type",
            invalid="invalid-account-type",
            failure_reason="too many invalid account type choices",
            max_digits=lambda _: 1,
            check=_account_type_problem,
            read_back=_read_back_account_type,
            incomplete=BankProblem.INCOMPLETE,
            single_key=True,
        ),
    )
}
"""The keyed steps (every step but the amount)."""

PROBLEM_PROMPTS: dict[Problem, str] = {
    CardProblem.BRAND_NOT_ACCEPTED: "brand-not-accepted",
    CardProblem.EXPIRED: "card-expired",
}
"""Problems told in their own words rather than the step's ``invalid`` prompt."""

FIELD_A_DECLINE_NAMES: dict[str, Step] = {
    "incorrect_cvc": Step.SECURITY_CODE,
    "invalid_cvc": Step.SECURITY_CODE,
    "expired_card": Step.EXPIRY,
    "invalid_expiry_month": Step.EXPIRY,
    "invalid_expiry_year": Step.EXPIRY,
    "incorrect_zip": Step.POSTAL_CODE,
}
"""Decline codes (Stripe's names, which the sandbox and the HTTP gateway use) that name the
field the processor refused: the caller keys that field again. Any other decline asks for
another card."""
