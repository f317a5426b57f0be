"""The actions of the transition table: what the flow does when a row is taken.

An action is a function ``(flow, event) -> None`` that emits commands through the flow's
primitives (:meth:`~payivr.core.flow.PaymentFlow.play`, ``emit``, timers) and changes its
memory; the table then moves the flow to the row's target state. The diagram prints the
action's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from payivr.core.bank import AccountType, MaskedBankAccount, last_two
from payivr.core.cards import Brand, MaskedCard, check_card_number, identify_brand
from payivr.core.events import (
    INTER_DIGIT_TIMER,
    NO_INPUT_TIMER,
    AgentReask,
    AgentUpdate,
    Authorize,
    BankAccountDetails,
    CardDetails,
    EntryEnded,
    Finish,
    GatewayApproval,
    GatewayDecline,
    GatewayFailure,
    GatewayOutcomeUnknown,
    KeyPress,
    Outcome,
    PaymentDetails,
    PaymentMethod,
    Prompt,
    PromptPart,
    Reconnect,
    SayCharacters,
    SayNumber,
    Step,
    StepStatus,
)
from payivr.core.guards import problem_with_entry
from payivr.core.steps import (
    AMOUNT_FAILURE_REASON,
    FIELD_A_DECLINE_NAMES,
    PROBLEM_PROMPTS,
    SPECS,
    STEPS_OF_METHOD,
    plain,
)

if TYPE_CHECKING:
    from payivr.core.flow import PaymentFlow

# ----------------------------------------------------------------- prompts and timers


def start(flow: PaymentFlow, _: object) -> None:
    for step in STEPS_OF_METHOD[flow.method]:
        status = StepStatus.WAITING if step in flow.steps else StepStatus.SKIPPED
        flow.emit(AgentUpdate(step, status))
    flow.emit(AgentUpdate(Step.AMOUNT, StepStatus.ENTERING, confirming=True))
    flow.play(Prompt("intro"), *_amount_parts(flow), Prompt("confirm-amount"))


def await_input(flow: PaymentFlow, _: object) -> None:
    flow.prompt_ended()
    flow.start_timer(NO_INPUT_TIMER, flow.config.no_input_timeout)


def note_prompt_done(flow: PaymentFlow, _: object) -> None:
    flow.prompt_ended()


def ignore_stale(flow: PaymentFlow, _: object) -> None:
    """A prompt or timer that was already replaced: nothing to do."""


def ignore_key_while_charging(flow: PaymentFlow, _: object) -> None:
    """The card is with the gateway; keys can no longer change anything."""


def ignore_key_while_announcing(flow: PaymentFlow, _: object) -> None:
    """The result is being read out; it is not cut short by a key."""


def ignore_late_cancel(flow: PaymentFlow, _: object) -> None:
    """The payment is already ending."""


def ignore_cancel_while_charging(flow: PaymentFlow, _: object) -> None:
    """The card is already with the gateway: a cancel cannot stop the charge."""


def ignore_reask(flow: PaymentFlow, _: object) -> None:
    """The caller is not where the agent can send them back (the amount, a step not yet
    reached, the charge, the result)."""


# ----------------------------------------------------------------- keying a step


def collect_digit(flow: PaymentFlow, event: object) -> None:
    assert isinstance(event, KeyPress)
    entry = flow.entry
    flow.barge_in()
    flow.cancel_timer(NO_INPUT_TIMER)
    entry.digits.append(event.digit)
    iin = identify_brand(entry.digits) if flow.step is Step.CARD_NUMBER else None
    flow.emit(
        AgentUpdate(
            flow.step,
            StepStatus.ENTERING,
            digits_entered=len(entry.digits),
            brand=iin.brand if iin is not None else None,
        )
    )
    if len(entry.digits) >= flow.spec.max_digits(flow.step_context):
        flow.cancel_timer(INTER_DIGIT_TIMER)
        flow.then(EntryEnded())
    else:
        flow.start_timer(INTER_DIGIT_TIMER, flow.config.inter_digit_timeout)


def end_entry(flow: PaymentFlow, _: object) -> None:
    flow.barge_in()
    flow.cancel_timer(NO_INPUT_TIMER)
    flow.cancel_timer(INTER_DIGIT_TIMER)
    flow.then(EntryEnded())


def end_entry_timed_out(flow: PaymentFlow, _: object) -> None:
    flow.timer_fired(INTER_DIGIT_TIMER)
    flow.entry.timed_out = True
    flow.then(EntryEnded(timed_out=True))


def reprompt_after_pause(flow: PaymentFlow, _: object) -> None:
    """A pause between digits: the caller is asked for the whole entry again, which does
    not count as an attempt (the no-input timer starts again after the prompt)."""
    flow.timer_fired(INTER_DIGIT_TIMER)
    entry = flow.entry
    entry.pauses += 1
    entry.reset()
    detail = "the caller paused between digits and is asked for them again"
    flow.emit(AgentUpdate(flow.step, StepStatus.ENTERING, detail=detail))
    flow.play(Prompt("incomplete-entry"), flow.spec.ask_prompt(flow.brand))


def read_back(flow: PaymentFlow, _: object) -> None:
    entry = flow.entry
    entry.attempts += 1
    masked_card = None
    if flow.step is Step.CARD_NUMBER:
        brand = check_card_number(entry.digits, flow.config.accepted_brands)
        assert isinstance(brand, Brand), "read back only after the check"
        flow.brand = brand
        masked_card = MaskedCard(brand, entry.digits.last_four())
    flow.emit(
        AgentUpdate(
            flow.step,
            StepStatus.ENTERING,
            digits_entered=len(entry.digits),
            masked_card=masked_card,
            brand=flow.brand if masked_card else None,
            confirming=True,
        )
    )
    flow.play(*flow.spec.read_back(entry.digits, flow.step_context), Prompt("confirm-entry"))


def reject_entry(flow: PaymentFlow, _: object) -> None:
    problem = problem_with_entry(flow)
    assert problem is not None
    flow.entry.attempts += 1
    flow.entry.reset()
    prompt = PROBLEM_PROMPTS.get(problem, flow.spec.invalid)
    detail = f"invalid entry ({problem.value}); the caller is trying again"
    flow.emit(AgentUpdate(flow.step, StepStatus.ENTERING, detail=detail))
    flow.play(Prompt(prompt), flow.spec.ask_prompt(flow.brand))


# ----------------------------------------------------------------- confirming a step


def reenter(flow: PaymentFlow, _: object) -> None:
    flow.barge_in()
    flow.cancel_timer(NO_INPUT_TIMER)
    flow.entry.reset()
    if flow.step is Step.CARD_NUMBER:
        flow.brand = None
    flow.emit(AgentUpdate(flow.step, StepStatus.ENTERING, detail="the caller is entering it again"))
    flow.play(flow.spec.ask_prompt(flow.brand))


def invalid_choice(flow: PaymentFlow, _: object) -> None:
    flow.cancel_timer(NO_INPUT_TIMER)
    flow.entry.choice_errors += 1
    flow.play(Prompt("invalid-choice"), Prompt("confirm-entry"))


def invalid_amount_choice(flow: PaymentFlow, _: object) -> None:
    flow.cancel_timer(NO_INPUT_TIMER)
    flow.entry.choice_errors += 1
    flow.play(Prompt("invalid-choice"), *_amount_parts(flow), Prompt("confirm-amount"))


def accept_and_ask_next(flow: PaymentFlow, _: object) -> None:
    _accept(flow)
    following = flow.next_step()
    assert following is not None, "the guard checked that a step is left"
    flow.step = following
    flow.emit(AgentUpdate(following, StepStatus.ENTERING))
    flow.play(flow.spec.ask_prompt(flow.brand))


def accept_and_offer_card_on_file(flow: PaymentFlow, _: object) -> None:
    _accept(flow)
    flow.play(Prompt("offer-card-on-file"))


def accept_and_authorize(flow: PaymentFlow, _: object) -> None:
    _accept(flow)
    _authorize(flow, store_card=False)


def _accept(flow: PaymentFlow) -> None:
    """The caller accepted the current step: keep its entry, show the agent it is done."""
    step = flow.step
    flow.barge_in()
    flow.cancel_timer(NO_INPUT_TIMER)
    if step is not Step.AMOUNT:
        flow.confirmed[step] = flow.entry.digits
    if step is Step.CARD_NUMBER:
        assert flow.brand is not None
        flow.masked_card = MaskedCard(flow.brand, flow.entry.digits.last_four())
    if step is Step.ACCOUNT_TYPE:
        flow.masked_bank_account = MaskedBankAccount(
            _account_type(flow), last_two(flow.confirmed[Step.ACCOUNT_NUMBER])
        )
    flow.emit(
        AgentUpdate(
            step,
            StepStatus.DONE,
            masked_card=flow.masked_card if step is Step.CARD_NUMBER else None,
            masked_bank_account=flow.masked_bank_account if step is Step.ACCOUNT_TYPE else None,
        )
    )


# ----------------------------------------------------------------- going back


def reask_step(flow: PaymentFlow, event: object) -> None:
    """The agent sends the caller back to a step: it and those after it are keyed again."""
    assert isinstance(event, AgentReask)
    flow.barge_in()
    flow.cancel_timer(NO_INPUT_TIMER)
    flow.cancel_timer(INTER_DIGIT_TIMER)
    first = flow.steps.index(event.step)
    last = flow.steps.index(flow.step) if flow.on_a_step else len(flow.steps) - 1
    _go_back(flow, flow.steps[first : last + 1], "the agent asked for it again")
    flow.play(Prompt("agent-asks-again"), flow.spec.ask_prompt(flow.brand))


def ask_again_after_decline(flow: PaymentFlow, event: object) -> None:
    """The card was declined and a try is left: the caller keys the field the processor
    refused again, or another card."""
    assert isinstance(event, GatewayDecline)
    if flow.details is not None:  # the gateway edge wiped its buffers; so does the flow
        flow.details.wipe()
        flow.details = None
    field = FIELD_A_DECLINE_NAMES.get(event.code, Step.CARD_NUMBER)
    if field not in flow.steps:
        field = Step.CARD_NUMBER
    forgotten = (field,) if field is not Step.CARD_NUMBER else flow.steps[1:]
    _go_back(flow, forgotten, f"declined ({event.reason}); the caller tries again")
    flow.fixing_one_field = field is not Step.CARD_NUMBER
    after_decline = SPECS[field].after_decline
    assert after_decline is not None, "a decline only sends the caller back to a card step"
    flow.play(Prompt("payment-declined"), Prompt(after_decline), flow.spec.ask_prompt(flow.brand))


def _go_back(flow: PaymentFlow, steps: Sequence[Step], detail: str) -> None:
    """Forget what was keyed for ``steps`` (wiped) and ask for the first of them again;
    the agent sees the others waiting."""
    for step in steps:
        flow.forget(step)
    if Step.CARD_NUMBER in steps:
        flow.brand = None
        flow.masked_card = None
    flow.fixing_one_field = False
    flow.step = steps[0]
    for step in steps[1:]:
        flow.emit(AgentUpdate(step, StepStatus.WAITING))
    flow.emit(AgentUpdate(steps[0], StepStatus.ENTERING, detail=detail))


# ----------------------------------------------------------------- the card-on-file offer


def invalid_offer_choice(flow: PaymentFlow, _: object) -> None:
    flow.cancel_timer(NO_INPUT_TIMER)
    flow.offer_choice_errors += 1
    flow.play(Prompt("invalid-choice"), Prompt("offer-card-on-file"))


def authorize_keeping_card(flow: PaymentFlow, _: object) -> None:
    flow.barge_in()
    flow.cancel_timer(NO_INPUT_TIMER)
    _authorize(flow, store_card=True)


def authorize_without_keeping(flow: PaymentFlow, _: object) -> None:
    flow.barge_in()
    flow.cancel_timer(NO_INPUT_TIMER)
    _authorize(flow, store_card=False)


def _authorize(flow: PaymentFlow, *, store_card: bool) -> None:
    """Hand the gateway its own buffers (it wipes them): a card declined may be followed by
    a fix of one field, which needs the others again."""
    confirmed = flow.confirmed
    details: PaymentDetails
    if flow.method is PaymentMethod.ACH:
        details = BankAccountDetails(
            routing_number=confirmed[Step.ROUTING_NUMBER].duplicate(),
            account_number=confirmed[Step.ACCOUNT_NUMBER].duplicate(),
            account_type=_account_type(flow),
        )
    else:
        assert flow.brand is not None
        postal_code = confirmed.get(Step.POSTAL_CODE)
        security_code = confirmed.get(Step.SECURITY_CODE)
        details = CardDetails(
            number=confirmed[Step.CARD_NUMBER].duplicate(),
            expiry=confirmed[Step.EXPIRY].duplicate(),
            security_code=None if security_code is None else security_code.duplicate(),
            postal_code=None if postal_code is None else plain(postal_code),
            brand=flow.brand,
        )
    flow.details = details
    flow.charges += 1
    flow.play(Prompt("processing"))
    flow.emit(
        Authorize(
            details,
            flow.amount_minor,
            flow.currency.code,
            flow.payment_id,
            store_card=store_card,
            attempt=flow.charges,
        )
    )


def _account_type(flow: PaymentFlow) -> AccountType:
    account_type = AccountType.from_key(plain(flow.confirmed[Step.ACCOUNT_TYPE]))
    assert account_type is not None, "the step's check refused any other key"
    return account_type


# ----------------------------------------------------------------- endings


def reject_amount(flow: PaymentFlow, _: object) -> None:
    flow.barge_in()
    flow.emit(
        AgentUpdate(Step.AMOUNT, StepStatus.FAILED, detail="the caller did not accept the amount")
    )
    _conclude(
        flow,
        Outcome.DECLINED_BY_CALLER,
        "the caller did not accept the amount",
        "amount-rejected",
    )


def cancel_by_caller(flow: PaymentFlow, _: object) -> None:
    flow.barge_in()
    _fail_current_step(flow, "cancelled by the caller")
    _conclude(flow, Outcome.CANCELLED, "the caller cancelled the payment", "payment-cancelled")


def cancel_by_agent(flow: PaymentFlow, _: object) -> None:
    _fail_current_step(flow, "cancelled by the agent")
    _conclude(flow, Outcome.AGENT_CANCELLED, "the agent cancelled the payment", "payment-cancelled")


def fail_no_input(flow: PaymentFlow, _: object) -> None:
    flow.timer_fired(NO_INPUT_TIMER)
    _fail_current_step(flow, "no key pressed in time")
    _conclude(flow, Outcome.TIMED_OUT, "the caller did not press a key in time", "no-input")


def fail_attempts(flow: PaymentFlow, _: object) -> None:
    reason = AMOUNT_FAILURE_REASON if flow.step is Step.AMOUNT else flow.spec.failure_reason
    flow.barge_in()
    _fail_current_step(flow, "too many invalid entries")
    _conclude(flow, Outcome.ATTEMPTS_EXHAUSTED, reason, "too-many-attempts")


def announce_approval(flow: PaymentFlow, event: object) -> None:
    assert isinstance(event, GatewayApproval)
    flow.reference = event.reference
    saved = (Prompt("card-kept-on-file"),) if event.card_stored else ()
    _conclude(
        flow,
        Outcome.APPROVED,
        "approved",
        "payment-approved",
        SayCharacters(spoken_reference(event.reference)),
        *saved,
    )


def announce_decline(flow: PaymentFlow, event: object) -> None:
    assert isinstance(event, GatewayDecline)
    _conclude(flow, Outcome.DECLINED, event.reason, "payment-declined")


def announce_failure(flow: PaymentFlow, event: object) -> None:
    assert isinstance(event, GatewayFailure)
    _conclude(flow, Outcome.GATEWAY_ERROR, event.reason, "payment-error")


def announce_unknown(flow: PaymentFlow, event: object) -> None:
    assert isinstance(event, GatewayOutcomeUnknown)
    _conclude(flow, Outcome.PENDING, event.reason, "payment-pending")


def note_caller_gone(flow: PaymentFlow, _: object) -> None:
    flow.prompt_ended()  # it ended with the caller's channel: nothing to stop
    flow.cancel_all_timers()


def note_agent_gone(flow: PaymentFlow, _: object) -> None:
    flow.agent_present = False


def finish_without_caller(flow: PaymentFlow, event: object) -> None:
    outcome, reason, reference = _gateway_result(event)
    flow.reference = reference
    _finish(flow, outcome, reason)


def finish_caller_gone(flow: PaymentFlow, _: object) -> None:
    flow.prompt_ended()  # it ended with the caller's channel: nothing to stop
    if flow.outcome is None:
        _fail_current_step(flow, "the caller hung up")
        _finish(flow, Outcome.CALLER_HUNG_UP, "the caller hung up")
    else:
        _finish(flow, flow.outcome, flow.reason)


def finish_cancelled_before_start(flow: PaymentFlow, _: object) -> None:
    _finish(flow, Outcome.AGENT_CANCELLED, "the agent cancelled the payment before it started")


def reconnect_and_finish(flow: PaymentFlow, _: object) -> None:
    flow.prompt_ended()
    assert flow.outcome is not None
    flow.cancel_all_timers()
    flow.emit(Reconnect(agent_present=flow.agent_present))
    flow.emit(_finish_command(flow, flow.outcome, flow.reason))


# ----------------------------------------------------------------- helpers


def spoken_reference(reference: str) -> str:
    """What the caller hears of a gateway reference: its last 8 letters and digits."""
    return "".join(character for character in reference if character.isalnum())[-8:]


def _amount_parts(flow: PaymentFlow) -> list[PromptPart]:
    currency = flow.currency
    major, minor = divmod(flow.amount_minor, 10**currency.exponent)
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


def _fail_current_step(flow: PaymentFlow, detail: str) -> None:
    """Show the agent the step the caller was on as failed (when the caller was on one)."""
    if flow.on_a_step:
        flow.emit(AgentUpdate(flow.step, StepStatus.FAILED, detail=detail))


def _conclude(
    flow: PaymentFlow, outcome: Outcome, reason: str, prompt: str, *details: PromptPart
) -> None:
    """Decide the outcome and tell the caller; the reconnect follows the announcement."""
    flow.outcome = outcome
    flow.reason = reason
    flow.cancel_all_timers()
    flow.wipe()
    closing = "returning-to-agent" if flow.agent_present else "goodbye"
    flow.play(Prompt(prompt), *details, Prompt(closing))


def _finish(flow: PaymentFlow, outcome: Outcome, reason: str) -> None:
    flow.outcome = outcome
    flow.reason = reason
    flow.barge_in()
    flow.cancel_all_timers()
    flow.emit(_finish_command(flow, outcome, reason))


def _finish_command(flow: PaymentFlow, outcome: Outcome, reason: str) -> Finish:
    return Finish(
        outcome,
        reason,
        reference=flow.reference,
        masked_card=flow.masked_card,
        masked_bank_account=flow.masked_bank_account,
    )


def _gateway_result(event: object) -> tuple[Outcome, str, str | None]:
    if isinstance(event, GatewayApproval):
        return Outcome.APPROVED, "approved", event.reference
    if isinstance(event, GatewayDecline):
        return Outcome.DECLINED, event.reason, None
    if isinstance(event, GatewayFailure):
        return Outcome.GATEWAY_ERROR, event.reason, None
    assert isinstance(event, GatewayOutcomeUnknown)
    return Outcome.PENDING, event.reason, None
