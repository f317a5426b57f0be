"""The guards of the transition table: each says whether a row takes an event.

A guard is a function ``(flow, event) -> bool``; the diagram prints its name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from payivr.core.events import (
    INTER_DIGIT_TIMER,
    NO_INPUT_TIMER,
    AgentReask,
    KeyPress,
    PaymentMethod,
    PromptFinished,
    TimerExpiry,
)
from payivr.core.steps import SPECS, Problem

if TYPE_CHECKING:
    from payivr.core.flow import PaymentFlow

CANCEL_KEY = "*"
END_KEY = "#"
YES_KEY = "1"
NO_KEY = "2"


def _key(event: object) -> str:
    return event.digit if isinstance(event, KeyPress) else ""


def always(flow: PaymentFlow, event: object) -> bool:
    return True


def cancel_key(flow: PaymentFlow, event: object) -> bool:
    return _key(event) == CANCEL_KEY


def end_key(flow: PaymentFlow, event: object) -> bool:
    return _key(event) == END_KEY


def accept_key(flow: PaymentFlow, event: object) -> bool:
    return _key(event) == YES_KEY


def reenter_key(flow: PaymentFlow, event: object) -> bool:
    return _key(event) == NO_KEY


def keep_card_key(flow: PaymentFlow, event: object) -> bool:
    return _key(event) == YES_KEY


def do_not_keep_card_key(flow: PaymentFlow, event: object) -> bool:
    return _key(event) == NO_KEY


def accept_key_and_step_left(flow: PaymentFlow, event: object) -> bool:
    return accept_key(flow, event) and flow.next_step() is not None


def accept_key_and_card_on_file_offered(flow: PaymentFlow, event: object) -> bool:
    return accept_key(flow, event) and card_on_file_offered(flow)


def reenter_key_and_retry_left(flow: PaymentFlow, event: object) -> bool:
    return reenter_key(flow, event) and flow.entry.attempts < flow.config.max_attempts


def retry_left_after_this(flow: PaymentFlow, event: object) -> bool:
    return flow.entry.attempts + 1 < flow.config.max_attempts


def choice_retry_left(flow: PaymentFlow, event: object) -> bool:
    return flow.entry.choice_errors + 1 < flow.config.max_attempts


def offer_choice_retry_left(flow: PaymentFlow, event: object) -> bool:
    return flow.offer_choice_errors + 1 < flow.config.max_attempts


def current_prompt(flow: PaymentFlow, event: object) -> bool:
    return isinstance(event, PromptFinished) and flow.is_playing(event.sequence)


def no_input_timer(flow: PaymentFlow, event: object) -> bool:
    return _running_timer(flow, event, NO_INPUT_TIMER)


def inter_digit_timer(flow: PaymentFlow, event: object) -> bool:
    return _running_timer(flow, event, INTER_DIGIT_TIMER)


def pause_with_reprompt_left(flow: PaymentFlow, event: object) -> bool:
    """The caller paused between digits, and may still be asked for them again rather than
    have the entry count as a failed attempt."""
    return inter_digit_timer(flow, event) and flow.entry.pauses < flow.config.max_attempts


def card_retry_left(flow: PaymentFlow, event: object) -> bool:
    """A declined card may be followed by another try."""
    return flow.method is PaymentMethod.CARD and flow.charges <= flow.config.decline_retries


def step_to_reask(flow: PaymentFlow, event: object) -> bool:
    """The agent's re-ask names a keyed step of this payment the caller has reached."""
    if not isinstance(event, AgentReask) or event.step not in SPECS:
        return False
    if event.step not in flow.steps:
        return False
    if not flow.on_a_step:
        return True  # the card-on-file offer, which comes after every step
    return flow.steps.index(event.step) <= flow.steps.index(flow.step)


def entry_valid(flow: PaymentFlow, event: object) -> bool:
    return problem_with_entry(flow) is None


def _running_timer(flow: PaymentFlow, event: object, name: str) -> bool:
    return (
        isinstance(event, TimerExpiry) and event.name == name and flow.is_running(name, event.token)
    )


def card_on_file_offered(flow: PaymentFlow) -> bool:
    return flow.config.offer_card_on_file and flow.method is PaymentMethod.CARD


def problem_with_entry(flow: PaymentFlow) -> Problem | None:
    """Why the current step's entry is refused (None: it is valid)."""
    spec, entry = flow.spec, flow.entry
    if entry.timed_out:
        return spec.incomplete
    return spec.check(entry.digits, flow.step_context)
