"""One test per branch of the payment flow: events in, commands out.

Each branch is registered in :data:`BRANCHES` (with its table of cases, when it has one) and
run as its own test by :func:`test_branch`. :func:`test_every_transition_row_is_taken` runs
them all again and proves that together they take every row of ``TRANSITIONS``: a row no
branch reaches is either a missing test or a row that cannot fire.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import pytest

from payivr.core.bank import AccountType, MaskedBankAccount
from payivr.core.cards import Brand, MaskedCard
from payivr.core.events import (
    INTER_DIGIT_TIMER,
    NO_INPUT_TIMER,
    AgentCancellation,
    AgentHangup,
    AgentReask,
    AgentUpdate,
    Authorize,
    BankAccountDetails,
    CallerHangup,
    CancelTimer,
    Event,
    Finish,
    FlowStart,
    GatewayApproval,
    GatewayDecline,
    GatewayFailure,
    GatewayOutcomeUnknown,
    KeyPress,
    Outcome,
    PaymentMethod,
    PlayPrompt,
    Prompt,
    PromptFinished,
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
from payivr.core.flow import FlowConfig, FlowFinished, IllegalEvent, PaymentFlow
from payivr.core.transitions import TRANSITIONS, State

from . import _harness
from ._harness import (
    ACCOUNT_NUMBER,
    AMEX,
    AMEX_SECURITY_CODE,
    BAD_CHECKSUM_ROUTING_NUMBER,
    CONFIRMING_STATES,
    DECLINE_CARDS,
    ENTERING_STATES,
    EXPIRY,
    LISTENING_STATES,
    PAYMENT_ID,
    POSTAL_CODE,
    ROUTING_NUMBER,
    SECURITY_CODE,
    SUCCESS_CARDS,
    TODAY,
    VALID_ROUTING_NUMBERS,
    VISA,
    At,
    Call,
    at,
    luhn_complete,
    of_type,
    prompt_ids,
    reach,
)

BRANCHES: dict[str, Callable[[], None]] = {}


def branch(
    cases: Sequence[Any] | None = None, ids: Callable[[Any], str] = str
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a branch test, once per case of its table (a case is one argument)."""

    def register(test: Callable[..., None]) -> Callable[..., None]:
        if cases is None:
            BRANCHES[test.__name__] = test
        else:
            for case in cases:
                BRANCHES[f"{test.__name__}[{ids(case)}]"] = functools.partial(test, case)
        return test

    return register


def _name(state: At) -> str:
    return state.name.lower()


STEP_OF = {
    At.CONFIRMING_AMOUNT: Step.AMOUNT,
    At.ENTERING_CARD_NUMBER: Step.CARD_NUMBER,
    At.CONFIRMING_CARD_NUMBER: Step.CARD_NUMBER,
    At.ENTERING_EXPIRY: Step.EXPIRY,
    At.CONFIRMING_EXPIRY: Step.EXPIRY,
    At.ENTERING_SECURITY_CODE: Step.SECURITY_CODE,
    At.CONFIRMING_SECURITY_CODE: Step.SECURITY_CODE,
    At.ENTERING_POSTAL_CODE: Step.POSTAL_CODE,
    At.CONFIRMING_POSTAL_CODE: Step.POSTAL_CODE,
    At.ENTERING_ROUTING_NUMBER: Step.ROUTING_NUMBER,
    At.CONFIRMING_ROUTING_NUMBER: Step.ROUTING_NUMBER,
    At.ENTERING_ACCOUNT_NUMBER: Step.ACCOUNT_NUMBER,
    At.CONFIRMING_ACCOUNT_NUMBER: Step.ACCOUNT_NUMBER,
    At.ENTERING_ACCOUNT_TYPE: Step.ACCOUNT_TYPE,
    At.CONFIRMING_ACCOUNT_TYPE: Step.ACCOUNT_TYPE,
}
ENTRY_PROMPT = {
    At.ENTERING_CARD_NUMBER: "enter-card-number",
    At.ENTERING_EXPIRY: "enter-expiry",
    At.ENTERING_SECURITY_CODE: "enter-security-code",
    At.ENTERING_POSTAL_CODE: "enter-postal-code",
    At.ENTERING_ROUTING_NUMBER: "enter-routing-number",
    At.ENTERING_ACCOUNT_NUMBER: "enter-account-number",
    At.ENTERING_ACCOUNT_TYPE: "choose-account-type",
}
INVALID_PROMPT = {
    At.ENTERING_CARD_NUMBER: "invalid-card-number",
    At.ENTERING_EXPIRY: "invalid-expiry",
    At.ENTERING_SECURITY_CODE: "invalid-security-code",
    At.ENTERING_POSTAL_CODE: "invalid-postal-code",
    At.ENTERING_ROUTING_NUMBER: "invalid-routing-number",
    At.ENTERING_ACCOUNT_NUMBER: "invalid-account-number",
    At.ENTERING_ACCOUNT_TYPE: "invalid-account-type",
}
# An invalid entry of each step, and the reason the flow gives.
INVALID_ENTRY = {
    At.ENTERING_CARD_NUMBER: ("4242424242424241#", "the card number is not valid (check digit)"),
    At.ENTERING_EXPIRY: ("1330", "the expiry month must be 01 to 12"),
    At.ENTERING_SECURITY_CODE: ("73#", "the security code has the wrong number of digits"),
    At.ENTERING_POSTAL_CODE: ("941#", "the postal code has the wrong number of digits"),
    At.ENTERING_ROUTING_NUMBER: (
        BAD_CHECKSUM_ROUTING_NUMBER,
        "the routing number is not valid (check digit)",
    ),
    At.ENTERING_ACCOUNT_NUMBER: ("123#", "the account number must be four to seventeen digits"),
    At.ENTERING_ACCOUNT_TYPE: ("3", "the account type must be 1 (checking) or 2 (savings)"),
}
VALID_ENTRY = {
    At.ENTERING_CARD_NUMBER: VISA + "#",
    At.ENTERING_EXPIRY: EXPIRY,
    At.ENTERING_SECURITY_CODE: SECURITY_CODE,
    At.ENTERING_POSTAL_CODE: POSTAL_CODE + "#",
    At.ENTERING_ROUTING_NUMBER: ROUTING_NUMBER,
    At.ENTERING_ACCOUNT_NUMBER: ACCOUNT_NUMBER + "#",
    At.ENTERING_ACCOUNT_TYPE: "2",
}
CONFIRMING_OF = {
    At.ENTERING_CARD_NUMBER: At.CONFIRMING_CARD_NUMBER,
    At.ENTERING_EXPIRY: At.CONFIRMING_EXPIRY,
    At.ENTERING_SECURITY_CODE: At.CONFIRMING_SECURITY_CODE,
    At.ENTERING_POSTAL_CODE: At.CONFIRMING_POSTAL_CODE,
    At.ENTERING_ROUTING_NUMBER: At.CONFIRMING_ROUTING_NUMBER,
    At.ENTERING_ACCOUNT_NUMBER: At.CONFIRMING_ACCOUNT_NUMBER,
    At.ENTERING_ACCOUNT_TYPE: At.CONFIRMING_ACCOUNT_TYPE,
}
ENTERING_OF = {confirming: entering for entering, confirming in CONFIRMING_OF.items()}
FAILURE_REASON = {
    Step.AMOUNT: "the caller could not confirm the amount",
    Step.CARD_NUMBER: "too many invalid card numbers",
    Step.EXPIRY: "too many invalid expiry dates",
    Step.SECURITY_CODE: "too many invalid security codes",
    Step.POSTAL_CODE: "too many invalid postal codes",
    Step.ROUTING_NUMBER: "too many invalid routing numbers",
    Step.ACCOUNT_NUMBER: "too many invalid account numbers",
    Step.ACCOUNT_TYPE: "too many invalid account type choices",
}
AMOUNT_PARTS = (
    Prompt("amount-is"),
    SayNumber(137),
    Prompt("major-dollars"),
    Prompt("and"),
    SayNumber(42),
    Prompt("minor-cents"),
)
VISA_CARD = MaskedCard(Brand.VISA, "4242")


def _invalid(detail: str) -> str:
    return f"invalid entry ({detail}); the caller is trying again"


def _ends(call: Call, outcome: Outcome, *, agent_present: bool = True) -> Finish:
    """The announcement ends: the caller goes back to the agent and the payment finishes."""
    assert call.state is At.ANNOUNCING_RESULT
    commands = call.prompt_done()
    assert commands[0] == Reconnect(agent_present=agent_present)
    assert isinstance(commands[1], Finish)
    assert len(commands) == 2
    assert commands[1].outcome is outcome
    assert call.state is At.DONE
    assert not call.flow.holds_card_data()
    return commands[1]


# --------------------------------------------------------------------------- happy paths


@branch(SUCCESS_CARDS, ids=lambda case: f"{case[1].value}-{case[0][-4:]}")
def happy_path_per_test_card(case: tuple[str, Brand]) -> None:
    number, brand = case
    security_code = AMEX_SECURITY_CODE if brand is Brand.AMEX else SECURITY_CODE
    call = Call()
    call.prompt_done()
    call.press("1")
    assert call.state is At.ENTERING_CARD_NUMBER
    call.press(number + "#")
    assert call.state is At.CONFIRMING_CARD_NUMBER
    assert call.played()[-1].parts == (
        Prompt("you-entered"),
        Prompt(f"brand-{brand.value}"),
        Prompt("card-ending-in"),
        SayDigits(number[-4:]),
        Prompt("confirm-entry"),
    )
    masked = MaskedCard(brand, number[-4:])
    assert AgentUpdate(Step.CARD_NUMBER, StepStatus.DONE, masked_card=masked) in call.press("1")
    call.press(EXPIRY)
    assert call.last_prompt_ids() == ["expiry-is", "month-12", "confirm-entry"]
    assert SayNumber(2030) in call.played()[-1].parts
    call.press("1")
    expected_prompt = "enter-security-code-amex" if brand is Brand.AMEX else "enter-security-code"
    assert call.last_prompt_ids() == [expected_prompt]
    call.press(security_code)  # completes on its own at the brand's length
    assert call.state is At.CONFIRMING_SECURITY_CODE
    assert call.last_prompt_ids() == ["security-code-entered", "confirm-entry"]
    call.press("1")
    call.press(POSTAL_CODE + "#")
    assert call.played()[-1].parts == (
        Prompt("postal-code-is"),
        SayDigits(POSTAL_CODE),
        Prompt("confirm-entry"),
    )
    commands = call.press("1")
    assert call.state is At.AUTHORIZING
    (authorize,) = of_type(commands, Authorize)
    assert isinstance(authorize, Authorize)
    card = authorize.details
    assert card.number.reveal() == number.encode()
    assert card.expiry.reveal() == EXPIRY.encode()
    assert card.security_code is not None
    assert card.security_code.reveal() == security_code.encode()
    assert card.postal_code == POSTAL_CODE
    assert card.brand is brand
    assert (authorize.amount_minor, authorize.currency, authorize.idempotency_key) == (
        13742,
        "USD",
        PAYMENT_ID,
    )
    assert call.last_prompt_ids() == ["processing"]
    assert call.send(GatewayApproval("ch_TEST")) == [
        StopPrompt(call.played()[-2].sequence),
        PlayPrompt(
            (Prompt("payment-approved"), SayCharacters("chTEST"), Prompt("returning-to-agent")),
            call.played()[-1].sequence,
        ),
    ]
    assert card.number.wiped and card.expiry.wiped and card.security_code.wiped
    finish = _ends(call, Outcome.APPROVED)
    assert finish == Finish(Outcome.APPROVED, "approved", reference="ch_TEST", masked_card=masked)


@branch()
def golden_visa_payment_command_by_command() -> None:
    """The whole exchange of one payment, every command spelled out."""
    flow = _harness.RecordingFlow(PAYMENT_ID, 13742, "USD", FlowConfig(), TODAY)

    def keys(digits: str) -> list[object]:
        out: list[object] = []
        for digit in digits:
            out += flow.send(KeyPress(digit))
        return out

    def entering(step: Step, count: int) -> AgentUpdate:
        brand = Brand.VISA if step is Step.CARD_NUMBER else None
        return AgentUpdate(step, StepStatus.ENTERING, digits_entered=count, brand=brand)

    def confirming(step: Step, count: int, card: MaskedCard | None = None) -> AgentUpdate:
        return AgentUpdate(
            step,
            StepStatus.ENTERING,
            digits_entered=count,
            masked_card=card,
            brand=card.brand if card else None,
            confirming=True,
        )

    assert flow.start() == [
        AgentUpdate(Step.AMOUNT, StepStatus.WAITING),
        AgentUpdate(Step.CARD_NUMBER, StepStatus.WAITING),
        AgentUpdate(Step.EXPIRY, StepStatus.WAITING),
        AgentUpdate(Step.SECURITY_CODE, StepStatus.WAITING),
        AgentUpdate(Step.POSTAL_CODE, StepStatus.WAITING),
        AgentUpdate(Step.AMOUNT, StepStatus.ENTERING, confirming=True),
        PlayPrompt((Prompt("intro"), *AMOUNT_PARTS, Prompt("confirm-amount")), 1),
    ]
    assert flow.send(PromptFinished(1)) == [StartTimer(NO_INPUT_TIMER, 60.0, 1)]
    assert keys("1") == [
        CancelTimer(NO_INPUT_TIMER),
        AgentUpdate(Step.AMOUNT, StepStatus.DONE),
        AgentUpdate(Step.CARD_NUMBER, StepStatus.ENTERING),
        PlayPrompt((Prompt("enter-card-number"),), 2),
    ]
    assert flow.send(PromptFinished(2)) == [StartTimer(NO_INPUT_TIMER, 60.0, 2)]
    assert keys("4") == [
        CancelTimer(NO_INPUT_TIMER),
        entering(Step.CARD_NUMBER, 1),
        StartTimer(INTER_DIGIT_TIMER, 5.0, 3),
    ]
    assert keys("242424242424242") == [
        command
        for count in range(2, 17)
        for command in (
            entering(Step.CARD_NUMBER, count),
            StartTimer(INTER_DIGIT_TIMER, 5.0, count + 2),
        )
    ]
    read_back = (
        Prompt("you-entered"),
        Prompt("brand-visa"),
        Prompt("card-ending-in"),
        SayDigits("4242"),
        Prompt("confirm-entry"),
    )
    assert keys("#") == [
        CancelTimer(INTER_DIGIT_TIMER),
        confirming(Step.CARD_NUMBER, 16, VISA_CARD),  # the caller heard brand and last four
        PlayPrompt(read_back, 3),
    ]
    assert keys("1") == [
        StopPrompt(3),
        AgentUpdate(Step.CARD_NUMBER, StepStatus.DONE, masked_card=VISA_CARD),
        AgentUpdate(Step.EXPIRY, StepStatus.ENTERING),
        PlayPrompt((Prompt("enter-expiry"),), 4),
    ]
    assert keys("123") == [
        StopPrompt(4),
        entering(Step.EXPIRY, 1),
        StartTimer(INTER_DIGIT_TIMER, 5.0, 19),
        entering(Step.EXPIRY, 2),
        StartTimer(INTER_DIGIT_TIMER, 5.0, 20),
        entering(Step.EXPIRY, 3),
        StartTimer(INTER_DIGIT_TIMER, 5.0, 21),
    ]
    assert keys("0") == [
        entering(Step.EXPIRY, 4),
        CancelTimer(INTER_DIGIT_TIMER),
        confirming(Step.EXPIRY, 4),
        PlayPrompt(
            (Prompt("expiry-is"), Prompt("month-12"), SayNumber(2030), Prompt("confirm-entry")), 5
        ),
    ]
    assert keys("1") == [
        StopPrompt(5),
        AgentUpdate(Step.EXPIRY, StepStatus.DONE),
        AgentUpdate(Step.SECURITY_CODE, StepStatus.ENTERING),
        PlayPrompt((Prompt("enter-security-code"),), 6),
    ]
    assert keys("737")[-3:] == [
        CancelTimer(INTER_DIGIT_TIMER),
        confirming(Step.SECURITY_CODE, 3),
        PlayPrompt((Prompt("security-code-entered"), Prompt("confirm-entry")), 7),
    ]
    assert keys("1") == [
        StopPrompt(7),
        AgentUpdate(Step.SECURITY_CODE, StepStatus.DONE),
        AgentUpdate(Step.POSTAL_CODE, StepStatus.ENTERING),
        PlayPrompt((Prompt("enter-postal-code"),), 8),
    ]
    assert keys("94105#")[-3:] == [
        CancelTimer(INTER_DIGIT_TIMER),
        confirming(Step.POSTAL_CODE, 5),
        PlayPrompt((Prompt("postal-code-is"), SayDigits("94105"), Prompt("confirm-entry")), 9),
    ]
    commands = keys("1")
    assert commands[:3] == [
        StopPrompt(9),
        AgentUpdate(Step.POSTAL_CODE, StepStatus.DONE),
        PlayPrompt((Prompt("processing"),), 10),
    ]
    assert len(commands) == 4 and isinstance(commands[3], Authorize)
    assert flow.send(PromptFinished(10)) == []
    assert flow.send(GatewayApproval("ch_TEST")) == [
        PlayPrompt(
            (Prompt("payment-approved"), SayCharacters("chTEST"), Prompt("returning-to-agent")),
            11,
        )
    ]
    assert flow.send(PromptFinished(11)) == [
        Reconnect(agent_present=True),
        Finish(Outcome.APPROVED, "approved", reference="ch_TEST", masked_card=VISA_CARD),
    ]
    assert flow.state is State.DONE


# --------------------------------------------------------------------------- the amount


@branch([True, False], ids=lambda during: "during-prompt" if during else "after-prompt")
def amount_rejected_with_2(during_prompt: bool) -> None:
    call = Call()
    if not during_prompt:
        call.prompt_done()
    commands = call.press("2")
    failed = AgentUpdate(
        Step.AMOUNT, StepStatus.FAILED, detail="the caller did not accept the amount"
    )
    closing = PlayPrompt((Prompt("amount-rejected"), Prompt("returning-to-agent")), 2)
    if during_prompt:
        assert commands == [StopPrompt(1), failed, closing]
    else:
        assert commands == [failed, CancelTimer(NO_INPUT_TIMER), closing]
    finish = _ends(call, Outcome.DECLINED_BY_CALLER)
    assert finish.reason == "the caller did not accept the amount"
    assert finish.masked_card is None


CURRENCY_CASES = (
    (
        13742,
        "USD",
        (
            SayNumber(137),
            Prompt("major-dollars"),
            Prompt("and"),
            SayNumber(42),
            Prompt("minor-cents"),
        ),
    ),
    (100, "USD", (SayNumber(1), Prompt("major-dollar"))),
    (5, "USD", (SayNumber(5), Prompt("minor-cents"))),
    (1, "USD", (SayNumber(1), Prompt("minor-cent"))),
    (
        101,
        "USD",
        (SayNumber(1), Prompt("major-dollar"), Prompt("and"), SayNumber(1), Prompt("minor-cent")),
    ),
    (250000, "EUR", (SayNumber(2500), Prompt("major-euros"))),
    (
        199,
        "GBP",
        (SayNumber(1), Prompt("major-pound"), Prompt("and"), SayNumber(99), Prompt("minor-pence")),
    ),
    (1, "GBP", (SayNumber(1), Prompt("minor-penny"))),
    (4500, "JPY", (SayNumber(4500), Prompt("major-yen"))),
    (1, "JPY", (SayNumber(1), Prompt("major-yen"))),
)


@branch(CURRENCY_CASES, ids=lambda case: f"{case[0]}-{case[1]}")
def amount_read_back_per_currency(case: tuple[int, str, tuple[object, ...]]) -> None:
    amount_minor, currency, spoken = case
    call = Call(amount_minor=amount_minor, currency=currency)
    assert call.played()[0].parts == (
        Prompt("intro"),
        Prompt("amount-is"),
        *spoken,
        Prompt("confirm-amount"),
    )
    reach(call, At.AUTHORIZING)
    (authorize,) = of_type(call.commands, Authorize)
    assert isinstance(authorize, Authorize)
    assert (authorize.amount_minor, authorize.currency) == (amount_minor, currency)


# --------------------------------------------------------------------------- cancel, time out


@branch(LISTENING_STATES, ids=_name)
def star_cancels_in_every_listening_state(state: At) -> None:
    call = at(state)
    call.press(PARTIAL_ENTRY.get(state, ""))  # an entry in progress is abandoned too
    playing = call.playing
    commands = call.press("*")
    if playing is not None:  # barge-in: the prompt stops first
        assert commands.pop(0) == StopPrompt(playing)
    assert commands[0] == AgentUpdate(
        STEP_OF[state], StepStatus.FAILED, detail="cancelled by the caller"
    )
    assert prompt_ids(commands[-1]) == ["payment-cancelled", "returning-to-agent"]
    assert not of_type(commands, StartTimer)
    assert not call.timers, "every timer is cancelled"
    assert not call.flow.holds_card_data()
    finish = _ends(call, Outcome.CANCELLED)
    assert finish.reason == "the caller cancelled the payment"


@branch([At.AUTHORIZING, At.ANNOUNCING_RESULT], ids=_name)
def keys_are_ignored_while_charging_and_announcing(state: At) -> None:
    call = at(At.AUTHORIZING)
    if state is At.ANNOUNCING_RESULT:
        call.send(GatewayApproval("ch_TEST"))
    for key in "*#0123456789":
        assert call.press(key) == []
        assert call.state is state
    if state is At.AUTHORIZING:
        call.send(GatewayApproval("ch_TEST"))
    _ends(call, Outcome.APPROVED)


@branch(LISTENING_STATES, ids=_name)
def no_key_after_a_prompt_times_out(state: At) -> None:
    call = at(state, no_input_timeout=30.0)
    started = call.prompt_done()
    assert started == [StartTimer(NO_INPUT_TIMER, 30.0, call.timers[NO_INPUT_TIMER])]
    commands = call.fire(NO_INPUT_TIMER)
    assert commands == [
        AgentUpdate(STEP_OF[state], StepStatus.FAILED, detail="no key pressed in time"),
        PlayPrompt((Prompt("no-input"), Prompt("returning-to-agent")), call.playing or 0),
    ]
    finish = _ends(call, Outcome.TIMED_OUT)
    assert finish.reason == "the caller did not press a key in time"


# Entries of more than one key (a one-key choice has no inter-digit timer).
PARTIAL_ENTRY = {
    At.ENTERING_CARD_NUMBER: "4242",
    At.ENTERING_EXPIRY: "12",
    At.ENTERING_SECURITY_CODE: "7",
    At.ENTERING_POSTAL_CODE: "941",
    At.ENTERING_ROUTING_NUMBER: "11000",
    At.ENTERING_ACCOUNT_NUMBER: "0001",
}


@branch(list(PARTIAL_ENTRY), ids=_name)
def a_pause_between_digits_asks_for_the_entry_again(state: At) -> None:
    """Not an attempt: after max_attempts pauses (3), the next one counts as one."""
    call = at(state, inter_digit_timeout=3.5)
    for _ in range(3):
        commands = call.press(PARTIAL_ENTRY[state])
        assert commands[-1] == StartTimer(INTER_DIGIT_TIMER, 3.5, call.timers[INTER_DIGIT_TIMER])
        assert call.fire(INTER_DIGIT_TIMER) == [
            AgentUpdate(
                STEP_OF[state],
                StepStatus.ENTERING,
                detail="the caller paused between digits and is asked for them again",
            ),
            PlayPrompt(
                (Prompt("incomplete-entry"), Prompt(ENTRY_PROMPT[state])), call.playing or 0
            ),
        ]
        assert call.state is state
        assert call.flow.entry.attempts == 0
    call.prompt_done()
    assert call.timers[NO_INPUT_TIMER], "silence after the prompt still ends the payment"
    call.press(PARTIAL_ENTRY[state])
    assert call.fire(INTER_DIGIT_TIMER) == [
        AgentUpdate(
            STEP_OF[state],
            StepStatus.ENTERING,
            detail=_invalid("the entry was not finished in time"),
        ),
        PlayPrompt((Prompt(INVALID_PROMPT[state]), Prompt(ENTRY_PROMPT[state])), call.playing or 0),
    ]
    assert call.state is state
    # The next entry starts from nothing.
    assert call.press("1")[1] == AgentUpdate(STEP_OF[state], StepStatus.ENTERING, digits_entered=1)
    call.fire(INTER_DIGIT_TIMER)
    call.press(VALID_ENTRY[state])
    assert call.state is CONFIRMING_OF[state]


@branch()
def complete_card_number_without_hash_is_asked_again() -> None:
    call = at(At.ENTERING_CARD_NUMBER)
    call.press(VISA)
    commands = call.fire(INTER_DIGIT_TIMER)
    assert call.state is At.ENTERING_CARD_NUMBER
    assert prompt_ids(commands[-1]) == ["incomplete-entry", "enter-card-number"]


# --------------------------------------------------------------------------- attempts


ATTEMPT_CASES = [(state, attempts) for state in ENTERING_STATES for attempts in (1, 2, 3, 5)]


@branch(ATTEMPT_CASES, ids=lambda case: f"{_name(case[0])}-max{case[1]}")
def max_attempts_invalid_entries_fail_the_step(case: tuple[At, int]) -> None:
    state, max_attempts = case
    keys, detail = INVALID_ENTRY[state]
    # max_attempts - 1 invalid entries: the caller may try again, and a valid one goes on.
    call = at(state, max_attempts=max_attempts)
    for _ in range(max_attempts - 1):
        commands = call.press(keys)
        assert AgentUpdate(STEP_OF[state], StepStatus.ENTERING, detail=_invalid(detail)) in commands
        assert call.last_prompt_ids() == [INVALID_PROMPT[state], ENTRY_PROMPT[state]]
        assert call.state is state
    call.press(VALID_ENTRY[state])
    assert call.state is CONFIRMING_OF[state]
    # max_attempts invalid entries: the payment fails.
    call = at(state, max_attempts=max_attempts)
    for _ in range(max_attempts - 1):
        call.press(keys)
    commands = call.press(keys)
    assert commands[-2:] == [
        AgentUpdate(STEP_OF[state], StepStatus.FAILED, detail="too many invalid entries"),
        PlayPrompt((Prompt("too-many-attempts"), Prompt("returning-to-agent")), call.playing or 0),
    ]
    finish = _ends(call, Outcome.ATTEMPTS_EXHAUSTED)
    assert finish.reason == FAILURE_REASON[STEP_OF[state]]


@branch()
def default_is_three_invalid_entries() -> None:
    call = at(At.ENTERING_CARD_NUMBER)
    call.press("4242424242424241#" * 2)
    assert call.state is At.ENTERING_CARD_NUMBER
    call.press("4242424242424241#")
    assert call.state is At.ANNOUNCING_RESULT
    assert _ends(call, Outcome.ATTEMPTS_EXHAUSTED).reason == "too many invalid card numbers"


@branch(CONFIRMING_STATES, ids=_name)
def invalid_choice_while_confirming(state: At) -> None:
    call = at(state)
    read_back = call.playing
    commands = call.press("9")
    if state is At.CONFIRMING_AMOUNT:
        again = (Prompt("invalid-choice"), *AMOUNT_PARTS, Prompt("confirm-amount"))
    else:
        again = (Prompt("invalid-choice"), Prompt("confirm-entry"))
    assert commands == [StopPrompt(read_back or 0), PlayPrompt(again, call.playing or 0)]
    call.prompt_done()
    assert call.press("0") == [
        CancelTimer(NO_INPUT_TIMER),
        PlayPrompt(again, call.playing or 0),
    ]
    assert call.state is state
    call.press("1")  # two wrong keys of three: the caller can still accept
    assert call.state is not state and call.state is not At.ANNOUNCING_RESULT

    call = at(state)
    commands = call.press("#3")
    assert call.state is state
    commands = call.press("5")
    assert commands[-2:] == [
        AgentUpdate(STEP_OF[state], StepStatus.FAILED, detail="too many invalid entries"),
        PlayPrompt((Prompt("too-many-attempts"), Prompt("returning-to-agent")), call.playing or 0),
    ]
    assert _ends(call, Outcome.ATTEMPTS_EXHAUSTED).reason == FAILURE_REASON[STEP_OF[state]]


NEW_ENTRY = {
    At.CONFIRMING_CARD_NUMBER: (
        AMEX + "#",
        (
            Prompt("you-entered"),
            Prompt("brand-amex"),
            Prompt("card-ending-in"),
            SayDigits("0005"),
            Prompt("confirm-entry"),
        ),
    ),
    At.CONFIRMING_EXPIRY: (
        "0131",
        (Prompt("expiry-is"), Prompt("month-01"), SayNumber(2031), Prompt("confirm-entry")),
    ),
    At.CONFIRMING_SECURITY_CODE: (
        "123",
        (Prompt("security-code-entered"), Prompt("confirm-entry")),
    ),
    At.CONFIRMING_POSTAL_CODE: (
        "941051234#",
        (Prompt("postal-code-is"), SayDigits("941051234"), Prompt("confirm-entry")),
    ),
    At.CONFIRMING_ROUTING_NUMBER: (
        "021000021",
        (Prompt("routing-number-ending-in"), SayDigits("21"), Prompt("confirm-entry")),
    ),
    At.CONFIRMING_ACCOUNT_NUMBER: (
        "98765432101234567#",
        (Prompt("account-number-ending-in"), SayDigits("67"), Prompt("confirm-entry")),
    ),
    At.CONFIRMING_ACCOUNT_TYPE: (
        "2",
        (Prompt("account-type-savings"), Prompt("confirm-entry")),
    ),
}


@branch([s for s in CONFIRMING_STATES if s is not At.CONFIRMING_AMOUNT], ids=_name)
def two_enters_the_step_again(state: At) -> None:
    entering = ENTERING_OF[state]
    step = STEP_OF[state]
    call = at(state)
    read_back = call.playing
    assert call.press("2") == [
        StopPrompt(read_back or 0),
        AgentUpdate(step, StepStatus.ENTERING, detail="the caller is entering it again"),
        PlayPrompt((Prompt(ENTRY_PROMPT[entering]),), call.playing or 0),
    ]
    assert call.state is entering
    keys, parts = NEW_ENTRY[state]
    call.press(keys)
    assert call.state is state
    assert call.played()[-1].parts == parts
    # Each entry counts as an attempt: the third "2" (after three entries) fails the step.
    call.press("2")
    call.press(keys)
    commands = call.press("2")
    assert commands[-1] == PlayPrompt(
        (Prompt("too-many-attempts"), Prompt("returning-to-agent")), call.playing or 0
    )
    assert _ends(call, Outcome.ATTEMPTS_EXHAUSTED).reason == FAILURE_REASON[step]


@branch()
def reentered_card_number_is_the_one_authorized() -> None:
    call = at(At.CONFIRMING_CARD_NUMBER)
    call.press("2" + AMEX + "#1" + EXPIRY + "1")
    assert call.last_prompt_ids() == ["enter-security-code-amex"]
    call.press(AMEX_SECURITY_CODE + "1" + POSTAL_CODE + "#1")
    (authorize,) = of_type(call.commands, Authorize)
    assert isinstance(authorize, Authorize)
    assert authorize.details.number.reveal() == AMEX.encode()
    assert authorize.details.masked == MaskedCard(Brand.AMEX, "0005")


# --------------------------------------------------------------------------- barge-in, stale


@branch()
def key_during_a_prompt_stops_it_and_counts() -> None:
    call = at(At.ENTERING_CARD_NUMBER)
    prompt = call.playing
    assert call.press("4") == [
        StopPrompt(prompt or 0),
        AgentUpdate(Step.CARD_NUMBER, StepStatus.ENTERING, digits_entered=1, brand=Brand.VISA),
        StartTimer(INTER_DIGIT_TIMER, 5.0, call.timers[INTER_DIGIT_TIMER]),
    ]
    # The same key after the prompt ended: no StopPrompt, the no-input timer is cancelled.
    call = at(At.ENTERING_CARD_NUMBER)
    call.prompt_done()
    assert call.press("4") == [
        CancelTimer(NO_INPUT_TIMER),
        AgentUpdate(Step.CARD_NUMBER, StepStatus.ENTERING, digits_entered=1, brand=Brand.VISA),
        StartTimer(INTER_DIGIT_TIMER, 5.0, call.timers[INTER_DIGIT_TIMER]),
    ]


@branch()
def hash_during_the_entry_prompt_is_an_empty_entry() -> None:
    call = at(At.ENTERING_CARD_NUMBER)
    prompt = call.playing
    assert call.press("#") == [
        StopPrompt(prompt or 0),
        AgentUpdate(
            Step.CARD_NUMBER, StepStatus.ENTERING, detail=_invalid("the card number is too short")
        ),
        PlayPrompt((Prompt("invalid-card-number"), Prompt("enter-card-number")), call.playing or 0),
    ]


def _with_stale_events(state: At) -> Call:
    """A call in ``state`` with a stopped prompt and a cancelled timer behind it."""
    if state is At.CONFIRMING_AMOUNT:
        call = Call()
        call.prompt_done()
        call.press("9")  # cancels the no-input timer; plays "invalid choice"
        call.press("9")  # stops that prompt
        return call
    if state in (At.AUTHORIZING, At.AUTHORIZING_CALLER_GONE, At.ANNOUNCING_RESULT):
        call = at(At.AUTHORIZING)
        if state is At.AUTHORIZING_CALLER_GONE:
            call.send(CallerHangup())
        if state is At.ANNOUNCING_RESULT:
            call.send(GatewayApproval("ch_TEST"))
        return call
    call = at(state)
    call.prompt_done()  # the no-input timer starts...
    # ...and a key cancels it (a one-key choice would end with "1": "#" is an empty entry)
    call.press(
        "9" if state in CONFIRMING_STATES else "#" if state is At.ENTERING_ACCOUNT_TYPE else "1"
    )
    if not call.stopped:
        call.press("9")
    assert call.state is state
    return call


STALE_STATES = (
    *LISTENING_STATES,
    At.AUTHORIZING,
    At.AUTHORIZING_CALLER_GONE,
    At.ANNOUNCING_RESULT,
)


@branch(STALE_STATES, ids=_name)
def stale_prompt_finished_and_timer_are_ignored(state: At) -> None:
    call = _with_stale_events(state)
    assert call.stopped and call.retired_timers
    assert call.stale_prompt_done() == []
    assert call.state is state
    assert call.fire_stale() == []
    assert call.state is state


# --------------------------------------------------------------------------- the gateway


GATEWAY_CASES = (
    (
        GatewayApproval("ch_TEST"),
        Outcome.APPROVED,
        "approved",
        ("payment-approved", "returning-to-agent"),
    ),
    (
        GatewayDecline("insufficient_funds", "the card has insufficient funds"),
        Outcome.DECLINED,
        "the card has insufficient funds",
        ("payment-declined", "returning-to-agent"),
    ),
    (
        GatewayFailure("the gateway refused our key"),
        Outcome.GATEWAY_ERROR,
        "the gateway refused our key",
        ("payment-error", "returning-to-agent"),
    ),
    (
        GatewayOutcomeUnknown(),
        Outcome.PENDING,
        "the gateway did not answer",
        ("payment-pending", "returning-to-agent"),
    ),
)


@branch(
    [(case, early) for case in GATEWAY_CASES for early in (False, True)],
    ids=lambda case: (
        f"{type(case[0][0]).__name__}-{'prompt-done' if case[1] else 'prompt-playing'}"
    ),
)
def gateway_answer_is_announced_then_reconnect_and_finish(
    case: tuple[tuple[Event, Outcome, str, tuple[str, ...]], bool],
) -> None:
    (answer, outcome, reason, prompts), processing_done = case
    call = at(At.AUTHORIZING, decline_retries=0)
    if processing_done:
        assert call.prompt_done() == []
    commands = call.send(answer)
    assert call.state is At.ANNOUNCING_RESULT
    assert (of_type(commands, StopPrompt) != []) is not processing_done
    assert prompt_ids(commands[-1]) == list(prompts)
    if isinstance(answer, GatewayApproval):
        assert SayCharacters("chTEST") in commands[-1].parts
    finish = _ends(call, outcome)
    assert finish.reason == reason
    assert finish.masked_card == VISA_CARD
    assert finish.reference == ("ch_TEST" if outcome is Outcome.APPROVED else None)


@branch(DECLINE_CARDS, ids=lambda card: str(card)[-4:])
def decline_test_cards_reach_the_gateway(card: str) -> None:
    call = reach(Call(decline_retries=0), At.AUTHORIZING, card=card)
    (authorize,) = of_type(call.commands, Authorize)
    assert isinstance(authorize, Authorize)
    assert authorize.details.number.reveal() == card.encode()
    call.send(GatewayDecline("card_declined", "the card was declined"))
    assert _ends(call, Outcome.DECLINED).masked_card == MaskedCard(Brand.VISA, card[-4:])


# --------------------------------------------------------------------------- after a decline

# A decline code that names a field, the step the caller keys again, and what they hear.
DECLINE_FIXES = {
    "incorrect_cvc": (At.ENTERING_SECURITY_CODE, "declined-check-security-code"),
    "expired_card": (At.ENTERING_EXPIRY, "declined-check-expiry"),
    "incorrect_zip": (At.ENTERING_POSTAL_CODE, "declined-check-postal-code"),
}


@branch()
def a_declined_card_is_followed_by_another_card() -> None:
    call = at(At.AUTHORIZING)
    commands = call.send(GatewayDecline("card_declined", "the card was declined"))
    assert call.state is At.ENTERING_CARD_NUMBER
    assert call.flow.brand is None and call.flow.masked_card is None
    assert not call.flow.confirmed, "the declined card's digits are gone"
    assert AgentUpdate(Step.EXPIRY, StepStatus.WAITING) in commands
    assert AgentUpdate(Step.POSTAL_CODE, StepStatus.WAITING) in commands
    assert (
        AgentUpdate(
            Step.CARD_NUMBER,
            StepStatus.ENTERING,
            detail="declined (the card was declined); the caller tries again",
        )
        in commands
    )
    assert prompt_ids(commands[-1]) == [
        "payment-declined",
        "declined-try-another-card",
        "enter-card-number",
    ]
    reach(call, At.AUTHORIZING, card="5555555555554444")
    second = of_type(call.commands, Authorize)[-1]
    assert isinstance(second, Authorize)
    assert second.attempt == 2 and second.idempotency_key == f"{PAYMENT_ID}-try-2"
    assert second.details.number.reveal() == b"5555555555554444"
    call.send(GatewayApproval("ch_TEST"))
    assert _ends(call, Outcome.APPROVED).masked_card == MaskedCard(Brand.MASTERCARD, "4444")


@branch(list(DECLINE_FIXES))
def a_decline_that_names_a_field_asks_for_that_field_only(code: str) -> None:
    state, prompt = DECLINE_FIXES[code]
    call = at(At.AUTHORIZING)
    commands = call.send(GatewayDecline(code, "refused"))
    assert call.state is state
    assert prompt_ids(commands[-1]) == ["payment-declined", prompt, ENTRY_PROMPT[state]]
    call.press(VALID_ENTRY[state])
    call.press("1")
    assert call.state is At.AUTHORIZING, "the card's other fields were kept"
    first, second = of_type(call.commands, Authorize)
    assert isinstance(first, Authorize) and isinstance(second, Authorize)
    assert second.details.number.reveal() == VISA.encode()
    assert first.idempotency_key == PAYMENT_ID and second.attempt == 2


@branch()
def a_field_the_payment_does_not_ask_means_another_card() -> None:
    call = at(At.AUTHORIZING, ask_security_code=False)
    call.send(GatewayDecline("incorrect_cvc", "the security code is incorrect"))
    assert call.state is At.ENTERING_CARD_NUMBER


@branch()
def declines_end_the_payment_once_the_retries_are_used() -> None:
    call = at(At.AUTHORIZING, decline_retries=2)
    for _ in range(2):
        call.send(GatewayDecline("card_declined", "the card was declined"))
        reach(call, At.AUTHORIZING)
    commands = call.send(GatewayDecline("card_declined", "the card was declined"))
    assert call.state is At.ANNOUNCING_RESULT
    assert prompt_ids(commands[-1]) == ["payment-declined", "returning-to-agent"]
    assert len(of_type(call.commands, Authorize)) == 3
    assert _ends(call, Outcome.DECLINED).reason == "the card was declined"


@branch()
def a_declined_bank_account_ends_the_payment() -> None:
    call = at(At.CONFIRMING_ACCOUNT_TYPE)
    call.press("1")
    call.send(GatewayDecline("account_closed", "the bank account is closed"))
    assert call.state is At.ANNOUNCING_RESULT


# --------------------------------------------------------------------------- the agent re-asks


@branch()
def the_agent_sends_the_caller_back_to_an_earlier_step() -> None:
    call = at(At.CONFIRMING_SECURITY_CODE)
    assert call.flow.would_act_on(AgentReask(Step.CARD_NUMBER))
    commands = call.send(AgentReask(Step.CARD_NUMBER))
    assert call.state is At.ENTERING_CARD_NUMBER
    assert StopPrompt(call.stopped[-1]) in commands
    assert AgentUpdate(Step.EXPIRY, StepStatus.WAITING) in commands
    assert AgentUpdate(Step.SECURITY_CODE, StepStatus.WAITING) in commands
    assert (
        AgentUpdate(Step.CARD_NUMBER, StepStatus.ENTERING, detail="the agent asked for it again")
        in commands
    )
    assert prompt_ids(commands[-1]) == ["agent-asks-again", "enter-card-number"]
    assert not call.flow.holds_card_data(), "what was keyed from there on is wiped"
    reach(call, At.AUTHORIZING)


@branch()
def the_agent_restarts_the_step_being_keyed() -> None:
    call = at(At.ENTERING_EXPIRY)
    call.press("1")
    commands = call.send(AgentReask(Step.EXPIRY))
    assert call.state is At.ENTERING_EXPIRY
    assert CancelTimer(INTER_DIGIT_TIMER) in commands
    assert call.flow.entry.digits.reveal() == b""


@branch()
def the_agent_sends_the_caller_back_from_the_card_on_file_offer() -> None:
    call = at(At.OFFERING_CARD_ON_FILE)
    call.send(AgentReask(Step.POSTAL_CODE))
    assert call.state is At.ENTERING_POSTAL_CODE


@branch((At.ENTERING_EXPIRY, At.CONFIRMING_EXPIRY, At.OFFERING_CARD_ON_FILE), ids=_name)
def a_reask_of_a_step_not_reached_or_not_asked_is_ignored(state: At) -> None:
    call = at(state, ask_postal_code=False, offer_card_on_file=True)
    step = Step.ROUTING_NUMBER if state is At.OFFERING_CARD_ON_FILE else Step.SECURITY_CODE
    assert not call.flow.would_act_on(AgentReask(step))
    assert call.send(AgentReask(step)) == []
    assert call.state is state


@branch((At.CONFIRMING_AMOUNT, At.AUTHORIZING, At.ANNOUNCING_RESULT), ids=_name)
def a_reask_is_ignored_before_the_steps_and_once_charging(state: At) -> None:
    call = at(At.AUTHORIZING) if state is not At.CONFIRMING_AMOUNT else Call()
    if state is At.ANNOUNCING_RESULT:
        call.send(GatewayApproval("ch_TEST"))
    assert call.send(AgentReask(Step.CARD_NUMBER)) == []
    assert call.state is state
    if state is At.AUTHORIZING:
        call.send(CallerHangup())
        assert call.send(AgentReask(Step.CARD_NUMBER)) == []
        assert call.state is At.AUTHORIZING_CALLER_GONE


# --------------------------------------------------------------------------- the legs


@branch((At.NEW, *LISTENING_STATES, At.AUTHORIZING, At.ANNOUNCING_RESULT), ids=_name)
def caller_hangup_in_every_state(state: At) -> None:
    if state is At.NEW:
        call = Call(start=False)
        assert call.send(CallerHangup()) == [Finish(Outcome.CALLER_HUNG_UP, "the caller hung up")]
        return
    if state is At.AUTHORIZING:
        call = at(At.AUTHORIZING)
        assert call.send(CallerHangup()) == []
        assert call.state is At.AUTHORIZING_CALLER_GONE
        return  # what follows is in caller_hangup_while_charging
    if state is At.ANNOUNCING_RESULT:
        call = at(At.AUTHORIZING)
        call.send(GatewayApproval("ch_TEST"))
        assert call.send(CallerHangup()) == [
            Finish(Outcome.APPROVED, "approved", reference="ch_TEST", masked_card=VISA_CARD)
        ]
        assert call.state is At.DONE
        return
    call = at(state)
    call.press(PARTIAL_ENTRY.get(state, ""))  # an entry in progress, its inter-digit timer on
    commands = call.send(CallerHangup())
    assert commands[0] == AgentUpdate(
        STEP_OF[state], StepStatus.FAILED, detail="the caller hung up"
    )
    card_known = STEP_OF[state] in (Step.EXPIRY, Step.SECURITY_CODE, Step.POSTAL_CODE)
    assert commands[-1] == Finish(
        Outcome.CALLER_HUNG_UP,
        "the caller hung up",
        masked_card=VISA_CARD if card_known else None,
    )
    # Nothing is played or stopped to a caller who is gone, nobody is reconnected.
    assert all(isinstance(c, (AgentUpdate, CancelTimer, Finish)) for c in commands), commands
    assert not call.timers
    assert call.state is At.DONE
    assert not call.flow.holds_card_data()


@branch(GATEWAY_CASES, ids=lambda case: type(case[0]).__name__)
def caller_hangup_while_charging_waits_for_the_gateway(
    case: tuple[Event, Outcome, str, tuple[str, ...]],
) -> None:
    answer, outcome, reason, _ = case
    call = at(At.AUTHORIZING)
    (authorize,) = of_type(call.commands, Authorize)
    assert isinstance(authorize, Authorize)
    assert call.send(CallerHangup()) == []
    assert call.state is At.AUTHORIZING_CALLER_GONE
    assert not authorize.details.number.wiped, "the gateway still has the card to send"
    assert call.send(answer) == [
        Finish(
            outcome,
            reason,
            reference="ch_TEST" if outcome is Outcome.APPROVED else None,
            masked_card=VISA_CARD,
        )
    ]
    assert call.state is At.DONE
    assert authorize.details.number.wiped and authorize.details.expiry.wiped
    assert not call.flow.holds_card_data()


@branch(
    (*LISTENING_STATES, At.AUTHORIZING, At.AUTHORIZING_CALLER_GONE, At.ANNOUNCING_RESULT),
    ids=_name,
)
def agent_hangup_lets_the_caller_finish(state: At) -> None:
    if state is At.AUTHORIZING_CALLER_GONE:
        call = at(At.AUTHORIZING)
        call.send(CallerHangup())
        assert call.send(AgentHangup()) == []
        assert call.send(GatewayApproval("ch_TEST"))[-1].outcome is Outcome.APPROVED
        return
    if state is At.ANNOUNCING_RESULT:
        call = at(At.AUTHORIZING)
        call.send(GatewayApproval("ch_TEST"))
        assert call.send(AgentHangup()) == []
        _ends(call, Outcome.APPROVED, agent_present=False)
        return
    call = at(state)
    assert call.send(AgentHangup()) == []
    assert call.state is state
    reach(call, At.AUTHORIZING)
    call.send(GatewayApproval("ch_TEST"))
    assert call.last_prompt_ids() == ["payment-approved", "goodbye"]
    _ends(call, Outcome.APPROVED, agent_present=False)


@branch()
def agent_hangup_then_star_says_goodbye() -> None:
    call = at(At.ENTERING_EXPIRY)
    call.send(AgentHangup())
    call.press("*")
    assert call.last_prompt_ids() == ["payment-cancelled", "goodbye"]
    _ends(call, Outcome.CANCELLED, agent_present=False)


@branch(
    (
        At.NEW,
        *LISTENING_STATES,
        At.AUTHORIZING,
        At.AUTHORIZING_CALLER_GONE,
        At.ANNOUNCING_RESULT,
    ),
    ids=_name,
)
def agent_cancellation(state: At) -> None:
    if state is At.NEW:
        call = Call(start=False)
        assert call.send(AgentCancellation()) == [
            Finish(Outcome.AGENT_CANCELLED, "the agent cancelled the payment before it started")
        ]
        return
    if state in (At.AUTHORIZING, At.AUTHORIZING_CALLER_GONE, At.ANNOUNCING_RESULT):
        # Too late: the card is with the gateway, or the result is being read out.
        call = _with_stale_events(state)
        assert call.send(AgentCancellation()) == []
        assert call.state is state
        return
    call = at(state)
    commands = call.send(AgentCancellation())
    assert commands[0] == AgentUpdate(
        STEP_OF[state], StepStatus.FAILED, detail="cancelled by the agent"
    )
    assert prompt_ids(commands[-1]) == ["payment-cancelled", "returning-to-agent"]
    assert not call.flow.holds_card_data()
    assert _ends(call, Outcome.AGENT_CANCELLED).reason == "the agent cancelled the payment"


# --------------------------------------------------------------------------- configuration


@branch()
def brand_not_in_accepted_brands_is_refused() -> None:
    call = at(At.ENTERING_CARD_NUMBER, accepted_brands=frozenset({Brand.VISA, Brand.MASTERCARD}))
    commands = call.press(AMEX + "#")
    assert (
        AgentUpdate(
            Step.CARD_NUMBER, StepStatus.ENTERING, detail=_invalid("this card type is not accepted")
        )
        in commands
    )
    assert call.last_prompt_ids() == ["brand-not-accepted", "enter-card-number"]
    call.press("5555555555554444#")
    assert call.state is At.CONFIRMING_CARD_NUMBER
    assert call.last_prompt_ids()[1] == "brand-mastercard"


@branch()
def unknown_brand_and_bad_luhn_are_invalid_numbers() -> None:
    call = at(At.ENTERING_CARD_NUMBER)
    call.press("1234567812345670#")  # passes Luhn, no brand starts with 1
    assert call.last_prompt_ids() == ["invalid-card-number", "enter-card-number"]
    assert call.commands[-2] == AgentUpdate(
        Step.CARD_NUMBER, StepStatus.ENTERING, detail=_invalid("the card type is not recognised")
    )


OPTIONAL_STEP_CASES = (
    (True, True, At.ENTERING_SECURITY_CODE),
    (False, True, At.ENTERING_POSTAL_CODE),
    (True, False, At.ENTERING_SECURITY_CODE),
    (False, False, At.AUTHORIZING),
)


@branch(
    OPTIONAL_STEP_CASES,
    ids=lambda c: f"security-{'on' if c[0] else 'off'}-postal-{'on' if c[1] else 'off'}",
)
def optional_steps(case: tuple[bool, bool, At]) -> None:
    ask_security, ask_postal, after_expiry = case
    call = at(At.CONFIRMING_EXPIRY, ask_security_code=ask_security, ask_postal_code=ask_postal)
    starts = call.commands[:5]
    assert starts[3] == AgentUpdate(
        Step.SECURITY_CODE, StepStatus.WAITING if ask_security else StepStatus.SKIPPED
    )
    assert starts[4] == AgentUpdate(
        Step.POSTAL_CODE, StepStatus.WAITING if ask_postal else StepStatus.SKIPPED
    )
    call.press("1")
    assert call.state is after_expiry
    if ask_security:
        call.press(SECURITY_CODE + "1")
        assert call.state is (At.ENTERING_POSTAL_CODE if ask_postal else At.AUTHORIZING)
    reach(call, At.AUTHORIZING)
    (authorize,) = of_type(call.commands, Authorize)
    assert isinstance(authorize, Authorize)
    assert (authorize.details.security_code is not None) is ask_security
    assert (authorize.details.postal_code is not None) is ask_postal
    call.send(GatewayApproval("ch_TEST"))
    _ends(call, Outcome.APPROVED)


@branch()
def amex_asks_for_a_four_digit_code() -> None:
    call = reach(Call(), At.ENTERING_SECURITY_CODE, card=AMEX)
    assert call.last_prompt_ids() == ["enter-security-code-amex"]
    call.press("737#")
    assert call.last_prompt_ids() == ["invalid-security-code", "enter-security-code-amex"]
    call.press("7373")
    assert call.state is At.CONFIRMING_SECURITY_CODE


EXPIRY_CASES = (
    ("0525", "card-expired", "the card has expired"),
    ("1224", "card-expired", "the card has expired"),
    ("0745", "invalid-expiry", "the expiry date is too far in the future"),
    ("1330", "invalid-expiry", "the expiry month must be 01 to 12"),
    ("0030", "invalid-expiry", "the expiry month must be 01 to 12"),
    ("12#", "invalid-expiry", "the expiry date must be four digits, MMYY"),
    ("#", "invalid-expiry", "the expiry date must be four digits, MMYY"),
)


@branch(EXPIRY_CASES, ids=lambda case: str(case[0]).replace("#", "H"))
def expiry_is_checked_against_today(case: tuple[str, str, str]) -> None:
    keys, prompt, detail = case
    call = at(At.ENTERING_EXPIRY)
    call.press(keys)
    assert call.state is At.ENTERING_EXPIRY
    assert call.last_prompt_ids() == [prompt, "enter-expiry"]
    assert call.commands[-2] == AgentUpdate(
        Step.EXPIRY, StepStatus.ENTERING, detail=_invalid(detail)
    )


@branch([("0625", "month-06", 2025), ("0645", "month-06", 2045)], ids=lambda case: str(case[0]))
def expiry_this_month_and_twenty_years_ahead_are_valid(case: tuple[str, str, int]) -> None:
    keys, month, year = case
    call = at(At.ENTERING_EXPIRY)
    call.press(keys)
    assert call.state is At.CONFIRMING_EXPIRY
    assert call.played()[-1].parts == (
        Prompt("expiry-is"),
        Prompt(month),
        SayNumber(year),
        Prompt("confirm-entry"),
    )


@branch()
def twentieth_card_digit_ends_the_entry_as_invalid() -> None:
    call = at(At.ENTERING_CARD_NUMBER)
    commands = call.press("4" * 19)
    assert call.state is At.ENTERING_CARD_NUMBER
    assert not of_type(commands, PlayPrompt)
    commands = call.press("4")
    assert commands[0] == AgentUpdate(
        Step.CARD_NUMBER, StepStatus.ENTERING, digits_entered=20, brand=Brand.VISA
    )
    assert CancelTimer(INTER_DIGIT_TIMER) in commands
    assert commands[-2] == AgentUpdate(
        Step.CARD_NUMBER, StepStatus.ENTERING, detail=_invalid("the card number is too long")
    )
    assert call.last_prompt_ids() == ["invalid-card-number", "enter-card-number"]
    assert call.press("4")[-1] == StartTimer(INTER_DIGIT_TIMER, 5.0, call.timers[INTER_DIGIT_TIMER])
    assert call.commands[-2] == AgentUpdate(
        Step.CARD_NUMBER, StepStatus.ENTERING, digits_entered=1, brand=Brand.VISA
    )


@branch()
def nineteen_digit_visa_is_accepted() -> None:
    number = luhn_complete("424242424242424242")
    call = at(At.ENTERING_CARD_NUMBER)
    call.press(number + "#")
    assert call.state is At.CONFIRMING_CARD_NUMBER
    assert call.played()[-1].parts[3] == SayDigits(number[-4:])


# --------------------------------------------------------------------------- card on file


def _offer_answer(case: tuple[str, bool]) -> str:
    return f"key-{case[0]}"


@branch([("1", True), ("2", False)], ids=_offer_answer)
def card_on_file_offer_answer_becomes_store_card(case: tuple[str, bool]) -> None:
    key, keep = case
    call = at(At.CONFIRMING_POSTAL_CODE, offer_card_on_file=True)
    confirm = call.playing
    assert call.press("1") == [
        StopPrompt(confirm or 0),
        AgentUpdate(Step.POSTAL_CODE, StepStatus.DONE),
        PlayPrompt((Prompt("offer-card-on-file"),), call.playing or 0),
    ]
    assert call.state is At.OFFERING_CARD_ON_FILE
    assert call.flow.holds_card_data(), "the card waits for the answer"
    offer = call.playing
    commands = call.press(key)
    assert commands[:2] == [
        StopPrompt(offer or 0),
        PlayPrompt((Prompt("processing"),), call.playing or 0),
    ]
    (authorize,) = of_type(commands, Authorize)
    assert isinstance(authorize, Authorize)
    assert authorize.store_card is keep
    assert authorize.details.number.reveal() == VISA.encode()
    assert call.state is At.AUTHORIZING
    commands = call.send(GatewayApproval("ch_TEST", card_stored=keep))
    kept = (Prompt("card-kept-on-file"),) if keep else ()
    assert commands[-1] == PlayPrompt(
        (
            Prompt("payment-approved"),
            SayCharacters("chTEST"),
            *kept,
            Prompt("returning-to-agent"),
        ),
        call.playing or 0,
    )
    assert _ends(call, Outcome.APPROVED).masked_card == VISA_CARD


@branch([1, 2, 3], ids=lambda attempts: f"max{attempts}")
def card_on_file_offer_without_a_valid_answer_charges_without_keeping(max_attempts: int) -> None:
    call = at(At.OFFERING_CARD_ON_FILE, max_attempts=max_attempts)
    call.prompt_done()
    again = (Prompt("invalid-choice"), Prompt("offer-card-on-file"))
    for number in range(max_attempts - 1):
        commands = call.press("9")
        if number == 0:
            assert commands == [CancelTimer(NO_INPUT_TIMER), PlayPrompt(again, call.playing or 0)]
        else:
            assert commands == [
                StopPrompt(call.played()[-2].sequence),
                PlayPrompt(again, call.playing or 0),
            ]
        assert call.state is At.OFFERING_CARD_ON_FILE
    commands = call.press("#")
    assert call.state is At.AUTHORIZING
    (authorize,) = of_type(commands, Authorize)
    assert isinstance(authorize, Authorize) and authorize.store_card is False
    call.send(GatewayApproval("ch_TEST"))
    _ends(call, Outcome.APPROVED)


OFFER_AFTER_CASES = (
    (True, True, At.CONFIRMING_POSTAL_CODE),
    (False, True, At.CONFIRMING_POSTAL_CODE),
    (True, False, At.CONFIRMING_SECURITY_CODE),
    (False, False, At.CONFIRMING_EXPIRY),
)


@branch(
    OFFER_AFTER_CASES,
    ids=lambda c: f"security-{'on' if c[0] else 'off'}-postal-{'on' if c[1] else 'off'}",
)
def card_on_file_offer_follows_the_last_card_step(case: tuple[bool, bool, At]) -> None:
    ask_security, ask_postal, last = case
    call = at(
        last,
        offer_card_on_file=True,
        ask_security_code=ask_security,
        ask_postal_code=ask_postal,
    )
    call.press("1")
    assert call.state is At.OFFERING_CARD_ON_FILE
    assert call.last_prompt_ids() == ["offer-card-on-file"]


OFFER_ENDINGS = ("star", "no-input", "agent-cancels", "caller-hangs-up", "agent-hangs-up", "stale")


@branch(OFFER_ENDINGS)
def card_on_file_offer_listens_like_every_step(ending: str) -> None:
    call = at(At.OFFERING_CARD_ON_FILE)
    if ending == "star":
        call.press("*")
        assert call.last_prompt_ids() == ["payment-cancelled", "returning-to-agent"]
        assert not call.flow.holds_card_data()
        _ends(call, Outcome.CANCELLED)
    elif ending == "no-input":
        call.prompt_done()
        assert call.fire(NO_INPUT_TIMER)[-1] == PlayPrompt(
            (Prompt("no-input"), Prompt("returning-to-agent")), call.playing or 0
        )
        _ends(call, Outcome.TIMED_OUT)
    elif ending == "agent-cancels":
        commands = call.send(AgentCancellation())
        assert not of_type(commands, AgentUpdate), "the offer is not a step"
        _ends(call, Outcome.AGENT_CANCELLED)
    elif ending == "caller-hangs-up":
        assert call.send(CallerHangup()) == [
            Finish(Outcome.CALLER_HUNG_UP, "the caller hung up", masked_card=VISA_CARD)
        ]
        assert not call.flow.holds_card_data()
    elif ending == "agent-hangs-up":
        assert call.send(AgentHangup()) == []
        call.press("1")
        call.send(GatewayApproval("ch_TEST", card_stored=True))
        assert call.last_prompt_ids() == ["payment-approved", "card-kept-on-file", "goodbye"]
        _ends(call, Outcome.APPROVED, agent_present=False)
    else:
        call.prompt_done()
        call.press("9")  # cancels the no-input timer, plays "invalid choice"
        call.press("9")  # stops that prompt
        assert call.stale_prompt_done() == []
        assert call.fire_stale() == []
        assert call.state is At.OFFERING_CARD_ON_FILE


@branch()
def card_on_file_is_not_offered_when_switched_off_or_paying_by_bank() -> None:
    call = at(At.CONFIRMING_POSTAL_CODE)
    call.press("1")
    assert call.state is At.AUTHORIZING
    call = at(At.CONFIRMING_ACCOUNT_TYPE, offer_card_on_file=True)
    commands = call.press("1")
    assert call.state is At.AUTHORIZING
    (authorize,) = of_type(commands, Authorize)
    assert isinstance(authorize, Authorize) and authorize.store_card is False


# --------------------------------------------------------------------------- bank (ACH)


@branch([AccountType.CHECKING, AccountType.SAVINGS], ids=lambda kind: kind.value)
def bank_payment_command_by_command(account_type: AccountType) -> None:
    call = Call(method=PaymentMethod.ACH)
    assert call.commands[:5] == [
        AgentUpdate(Step.AMOUNT, StepStatus.WAITING),
        AgentUpdate(Step.ROUTING_NUMBER, StepStatus.WAITING),
        AgentUpdate(Step.ACCOUNT_NUMBER, StepStatus.WAITING),
        AgentUpdate(Step.ACCOUNT_TYPE, StepStatus.WAITING),
        AgentUpdate(Step.AMOUNT, StepStatus.ENTERING, confirming=True),
    ]
    call.prompt_done()
    assert call.press("1") == [
        CancelTimer(NO_INPUT_TIMER),
        AgentUpdate(Step.AMOUNT, StepStatus.DONE),
        AgentUpdate(Step.ROUTING_NUMBER, StepStatus.ENTERING),
        PlayPrompt((Prompt("enter-routing-number"),), call.playing or 0),
    ]
    call.press(ROUTING_NUMBER)  # ends by itself at nine digits
    assert call.state is At.CONFIRMING_ROUTING_NUMBER
    assert call.played()[-1].parts == (
        Prompt("routing-number-ending-in"),
        SayDigits("00"),
        Prompt("confirm-entry"),
    )
    assert call.press("1")[-1] == PlayPrompt((Prompt("enter-account-number"),), call.playing or 0)
    call.press(ACCOUNT_NUMBER + "#")
    assert call.played()[-1].parts == (
        Prompt("account-number-ending-in"),
        SayDigits("89"),
        Prompt("confirm-entry"),
    )
    assert call.press("1")[-1] == PlayPrompt((Prompt("choose-account-type"),), call.playing or 0)
    commands = call.press(account_type.key)
    assert commands[-1] == PlayPrompt(
        (Prompt(f"account-type-{account_type.value}"), Prompt("confirm-entry")),
        call.playing or 0,
    )
    masked = MaskedBankAccount(account_type, "89")
    commands = call.press("1")
    assert commands[1:3] == [
        AgentUpdate(Step.ACCOUNT_TYPE, StepStatus.DONE, masked_bank_account=masked),
        PlayPrompt((Prompt("processing"),), call.playing or 0),
    ]
    (authorize,) = of_type(commands, Authorize)
    assert isinstance(authorize, Authorize)
    assert authorize.method is PaymentMethod.ACH and authorize.store_card is False
    account = authorize.details
    assert isinstance(account, BankAccountDetails)
    assert account.routing_number.reveal() == ROUTING_NUMBER.encode()
    assert account.account_number.reveal() == ACCOUNT_NUMBER.encode()
    assert account.account_type is account_type
    assert account.masked == masked
    call.send(GatewayApproval("ch_TEST"))
    assert account.routing_number.wiped and account.account_number.wiped
    finish = _ends(call, Outcome.APPROVED)
    assert finish == Finish(
        Outcome.APPROVED, "approved", reference="ch_TEST", masked_bank_account=masked
    )
    # Nobody but the gateway saw more than the last two digits of either number.
    for command in call.commands:
        if not isinstance(command, Authorize):
            assert "000123456789"[-4:] not in repr(command)
            assert ROUTING_NUMBER[:5] not in repr(command)


@branch(VALID_ROUTING_NUMBERS)
def routing_numbers_with_a_valid_checksum_are_accepted(routing: str) -> None:
    call = at(At.ENTERING_ROUTING_NUMBER)
    call.press(routing)
    assert call.state is At.CONFIRMING_ROUTING_NUMBER
    assert call.played()[-1].parts[1] == SayDigits(routing[-2:])


ROUTING_CASES = (
    ("12345678#", "the routing number must be nine digits"),
    ("#", "the routing number must be nine digits"),
    ("110000001", "the routing number is not valid (check digit)"),
    ("021000012", "the routing number is not valid (check digit)"),
)


@branch(ROUTING_CASES, ids=lambda case: str(case[0]).replace("#", "H"))
def routing_number_length_and_checksum_are_checked(case: tuple[str, str]) -> None:
    keys, detail = case
    call = at(At.ENTERING_ROUTING_NUMBER)
    call.press(keys)
    assert call.state is At.ENTERING_ROUTING_NUMBER
    assert call.last_prompt_ids() == ["invalid-routing-number", "enter-routing-number"]
    assert call.commands[-2] == AgentUpdate(
        Step.ROUTING_NUMBER, StepStatus.ENTERING, detail=_invalid(detail)
    )


ACCOUNT_CASES = (
    ("1234#", True),
    ("12345678901234567#", True),
    ("123#", False),
    ("#", False),
    ("123456789012345678", False),  # the eighteenth digit ends the entry: too long
)


@branch(ACCOUNT_CASES, ids=lambda case: f"{len(str(case[0]).rstrip('#'))}-digits")
def account_number_is_four_to_seventeen_digits(case: tuple[str, bool]) -> None:
    keys, valid = case
    call = at(At.ENTERING_ACCOUNT_NUMBER)
    call.press(keys)
    if valid:
        assert call.state is At.CONFIRMING_ACCOUNT_NUMBER
        assert call.played()[-1].parts[1] == SayDigits(keys.rstrip("#")[-2:])
    else:
        assert call.state is At.ENTERING_ACCOUNT_NUMBER
        assert call.last_prompt_ids() == ["invalid-account-number", "enter-account-number"]


@branch()
def reentered_account_number_is_the_one_debited() -> None:
    call = at(At.CONFIRMING_ACCOUNT_NUMBER)
    call.press("2" + "55556666#" + "1" + "2" + "1")
    (authorize,) = of_type(call.commands, Authorize)
    assert isinstance(authorize, Authorize)
    assert isinstance(authorize.details, BankAccountDetails)
    assert authorize.details.account_number.reveal() == b"55556666"
    assert authorize.details.masked == MaskedBankAccount(AccountType.SAVINGS, "66")


# --------------------------------------------------------------------------- wrong use


@branch()
def events_after_done_raise_flow_finished() -> None:
    call = Call()
    call.press("*")
    call.prompt_done()
    assert call.state is At.DONE
    for event in (
        KeyPress("1"),
        PromptFinished(1),
        TimerExpiry(NO_INPUT_TIMER, 1),
        GatewayApproval("ch_TEST"),
        CallerHangup(),
        AgentHangup(),
        AgentCancellation(),
    ):
        with pytest.raises(FlowFinished):
            call.flow.send(event)
    assert issubclass(FlowFinished, IllegalEvent)


ILLEGAL_CASES = (
    (At.NEW, KeyPress("1")),
    (At.NEW, PromptFinished(1)),
    (At.NEW, AgentHangup()),
    (At.ENTERING_CARD_NUMBER, GatewayApproval("ch_TEST")),
    (At.CONFIRMING_AMOUNT, GatewayDecline("x", "y")),
    (At.CONFIRMING_EXPIRY, FlowStart()),
    (At.AUTHORIZING, FlowStart()),
    (At.AUTHORIZING_CALLER_GONE, KeyPress("1")),
    (At.AUTHORIZING_CALLER_GONE, CallerHangup()),
    (At.ANNOUNCING_RESULT, GatewayApproval("ch_TEST")),
)


@branch(ILLEGAL_CASES, ids=lambda case: f"{_name(case[0])}-{type(case[1]).__name__}")
def illegal_event_raises_and_changes_nothing(case: tuple[At, object]) -> None:
    state, event = case
    if state is At.NEW:
        call = Call(start=False)
    elif state in (At.AUTHORIZING_CALLER_GONE, At.ANNOUNCING_RESULT):
        call = _with_stale_events(state)
    else:
        call = at(state)
    with pytest.raises(IllegalEvent) as raised:
        call.flow.send(event)
    assert not isinstance(raised.value, FlowFinished)
    assert call.state is state
    assert not any(ch.isdigit() for ch in str(raised.value))


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", list(BRANCHES))
def test_branch(name: str) -> None:
    BRANCHES[name]()


def test_every_transition_row_is_taken() -> None:
    _harness.FIRED.clear()
    for run in BRANCHES.values():
        run()
    missing = [row for row in TRANSITIONS if row not in _harness.FIRED]
    assert missing == [], "rows no branch takes:\n" + "\n".join(map(str, missing))


def test_transition_rows_are_unique_and_reachable_from_new() -> None:
    assert len(set(TRANSITIONS)) == len(TRANSITIONS)
    reachable, frontier = {State.NEW}, [State.NEW]
    while frontier:
        source = frontier.pop()
        for row in TRANSITIONS:
            if row.source is source and row.target not in reachable:
                reachable.add(row.target)
                frontier.append(row.target)
    assert reachable == set(State)


# --------------------------------------------------------------------------- construction


@pytest.mark.parametrize("amount", [0, -1, 1.5, "100", True])
def test_amount_must_be_a_positive_whole_number(amount: object) -> None:
    with pytest.raises(ValueError, match="amount_minor"):
        PaymentFlow(PAYMENT_ID, amount, "USD", FlowConfig(), TODAY)


@pytest.mark.parametrize("currency", ["XXX", "usd", ""])
def test_unknown_currency_is_refused(currency: str) -> None:
    with pytest.raises(ValueError, match="currency"):
        PaymentFlow(PAYMENT_ID, 100, currency, FlowConfig(), TODAY)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"accepted_brands": frozenset()}, "accepted_brands"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"no_input_timeout": 0}, "timeouts"),
        ({"inter_digit_timeout": -1}, "timeouts"),
        ({"no_input_timeout": float("nan")}, "timeouts"),
        ({"inter_digit_timeout": float("inf")}, "timeouts"),
        ({"postal_code_lengths": frozenset()}, "postal_code_lengths"),
        ({"postal_code_lengths": frozenset({0, 5})}, "postal_code_lengths"),
        ({"postal_code_lengths": frozenset({11})}, "postal_code_lengths"),
    ],
)
def test_flow_config_is_validated(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FlowConfig(**options)


def test_flow_config_steps() -> None:
    card_steps = (Step.AMOUNT, Step.CARD_NUMBER, Step.EXPIRY, Step.SECURITY_CODE, Step.POSTAL_CODE)
    assert FlowConfig().steps == card_steps == FlowConfig().steps_for(PaymentMethod.CARD)
    assert FlowConfig(ask_security_code=False, ask_postal_code=False).steps == (
        Step.AMOUNT,
        Step.CARD_NUMBER,
        Step.EXPIRY,
    )
    bank_steps = (Step.AMOUNT, Step.ROUTING_NUMBER, Step.ACCOUNT_NUMBER, Step.ACCOUNT_TYPE)
    assert FlowConfig(ask_security_code=False).steps_for(PaymentMethod.ACH) == bank_steps
    assert set(card_steps) | set(bank_steps) == set(Step)


def test_payment_method_must_be_accepted() -> None:
    card_only = FlowConfig(accepted_methods=frozenset({PaymentMethod.CARD}))
    with pytest.raises(ValueError, match="'ach' is not accepted"):
        PaymentFlow(PAYMENT_ID, 100, "USD", card_only, TODAY, PaymentMethod.ACH)
    with pytest.raises(ValueError, match="accepted_methods"):
        FlowConfig(accepted_methods=frozenset())
    flow = PaymentFlow(PAYMENT_ID, 100, "USD", FlowConfig(), TODAY, PaymentMethod.ACH)
    assert flow.method is PaymentMethod.ACH and flow.steps[1] is Step.ROUTING_NUMBER


def test_flow_repr_shows_no_card_data() -> None:
    call = at(At.CONFIRMING_CARD_NUMBER)
    assert repr(call.flow) == f"<PaymentFlow {PAYMENT_ID} confirming card_number>"
    assert "4242" not in repr(KeyPress("4"))


def test_today_is_injected() -> None:
    call = at(At.ENTERING_EXPIRY, today=date(2031, 1, 1))
    call.press(EXPIRY)
    assert call.last_prompt_ids() == ["card-expired", "enter-expiry"]
