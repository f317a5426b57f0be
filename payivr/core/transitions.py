"""The payment flow's states and its transition table, written out as data (as h11's
``_state.py``): the table drives :class:`~payivr.core.flow.PaymentFlow` and draws its
diagram (:mod:`payivr.core.diagram`).

A row reads: in ``source``, on an event of type ``event`` for which ``guard`` holds, run
``action`` and go to ``target``. Rows are tried in order; the first whose guard holds wins.
An event no row takes is an error of the code driving the flow.

The caller's steps share three states: ``ENTERING`` and ``CONFIRMING`` (the step is the
flow's ``step``; what each step is lives in :mod:`payivr.core.steps`), and
``CONFIRMING_AMOUNT``, the first step, which is accepted or refused but never keyed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from payivr.core import actions as do
from payivr.core import guards as when
from payivr.core.events import (
    AgentCancellation,
    AgentHangup,
    AgentReask,
    CallerHangup,
    EntryEnded,
    FlowStart,
    GatewayApproval,
    GatewayDecline,
    GatewayFailure,
    GatewayOutcomeUnknown,
    KeyPress,
    PromptFinished,
    TimerExpiry,
)

if TYPE_CHECKING:
    from payivr.core.flow import PaymentFlow


class State(enum.Enum):
    NEW = "new"
    CONFIRMING_AMOUNT = "confirming_amount"
    ENTERING = "entering"
    CONFIRMING = "confirming"
    OFFERING_CARD_ON_FILE = "offering_card_on_file"
    AUTHORIZING = "authorizing"
    AUTHORIZING_CALLER_GONE = "authorizing_caller_gone"
    ANNOUNCING_RESULT = "announcing_result"
    DONE = "done"


Guard = Callable[["PaymentFlow", object], bool]
Action = Callable[["PaymentFlow", object], None]


@dataclass(frozen=True)
class Transition:
    source: State
    event: type[object]
    guard: Guard
    target: State
    action: Action


NEW = State.NEW
AMOUNT = State.CONFIRMING_AMOUNT
ENTERING = State.ENTERING
CONFIRMING = State.CONFIRMING
OFFERING = State.OFFERING_CARD_ON_FILE
AUTHORIZING = State.AUTHORIZING
CALLER_GONE = State.AUTHORIZING_CALLER_GONE
ANNOUNCING = State.ANNOUNCING_RESULT
DONE = State.DONE

T = Transition

TRANSITIONS: tuple[Transition, ...] = (
    T(NEW, FlowStart, when.always, AMOUNT, do.start),
    T(NEW, CallerHangup, when.always, DONE, do.finish_caller_gone),
    T(NEW, AgentCancellation, when.always, DONE, do.finish_cancelled_before_start),
    # The amount: 1 accepts it, 2 refuses it.
    T(AMOUNT, KeyPress, when.cancel_key, ANNOUNCING, do.cancel_by_caller),
    T(AMOUNT, TimerExpiry, when.no_input_timer, ANNOUNCING, do.fail_no_input),
    T(AMOUNT, PromptFinished, when.current_prompt, AMOUNT, do.await_input),
    T(AMOUNT, PromptFinished, when.always, AMOUNT, do.ignore_stale),
    T(AMOUNT, CallerHangup, when.always, DONE, do.finish_caller_gone),
    T(AMOUNT, AgentHangup, when.always, AMOUNT, do.note_agent_gone),
    T(AMOUNT, AgentCancellation, when.always, ANNOUNCING, do.cancel_by_agent),
    T(AMOUNT, KeyPress, when.accept_key, ENTERING, do.accept_and_ask_next),
    T(AMOUNT, KeyPress, when.reenter_key, ANNOUNCING, do.reject_amount),
    T(AMOUNT, KeyPress, when.choice_retry_left, AMOUNT, do.invalid_amount_choice),
    T(AMOUNT, KeyPress, when.always, ANNOUNCING, do.fail_attempts),
    T(AMOUNT, TimerExpiry, when.always, AMOUNT, do.ignore_stale),
    T(AMOUNT, AgentReask, when.always, AMOUNT, do.ignore_reask),
    # Keying a step: digits until '#', the step's length, or a pause between digits.
    T(ENTERING, KeyPress, when.cancel_key, ANNOUNCING, do.cancel_by_caller),
    T(ENTERING, TimerExpiry, when.no_input_timer, ANNOUNCING, do.fail_no_input),
    T(ENTERING, PromptFinished, when.current_prompt, ENTERING, do.await_input),
    T(ENTERING, PromptFinished, when.always, ENTERING, do.ignore_stale),
    T(ENTERING, CallerHangup, when.always, DONE, do.finish_caller_gone),
    T(ENTERING, AgentHangup, when.always, ENTERING, do.note_agent_gone),
    T(ENTERING, AgentCancellation, when.always, ANNOUNCING, do.cancel_by_agent),
    T(ENTERING, KeyPress, when.end_key, ENTERING, do.end_entry),
    T(ENTERING, KeyPress, when.always, ENTERING, do.collect_digit),
    T(ENTERING, TimerExpiry, when.pause_with_reprompt_left, ENTERING, do.reprompt_after_pause),
    T(ENTERING, TimerExpiry, when.inter_digit_timer, ENTERING, do.end_entry_timed_out),
    T(ENTERING, TimerExpiry, when.always, ENTERING, do.ignore_stale),
    T(ENTERING, EntryEnded, when.entry_valid, CONFIRMING, do.read_back),
    T(ENTERING, EntryEnded, when.retry_left_after_this, ENTERING, do.reject_entry),
    T(ENTERING, EntryEnded, when.always, ANNOUNCING, do.fail_attempts),
    T(ENTERING, AgentReask, when.step_to_reask, ENTERING, do.reask_step),
    T(ENTERING, AgentReask, when.always, ENTERING, do.ignore_reask),
    # Confirming a step's read-back: 1 goes on, 2 keys it again.
    T(CONFIRMING, KeyPress, when.cancel_key, ANNOUNCING, do.cancel_by_caller),
    T(CONFIRMING, TimerExpiry, when.no_input_timer, ANNOUNCING, do.fail_no_input),
    T(CONFIRMING, PromptFinished, when.current_prompt, CONFIRMING, do.await_input),
    T(CONFIRMING, PromptFinished, when.always, CONFIRMING, do.ignore_stale),
    T(CONFIRMING, CallerHangup, when.always, DONE, do.finish_caller_gone),
    T(CONFIRMING, AgentHangup, when.always, CONFIRMING, do.note_agent_gone),
    T(CONFIRMING, AgentCancellation, when.always, ANNOUNCING, do.cancel_by_agent),
    T(CONFIRMING, KeyPress, when.accept_key_and_step_left, ENTERING, do.accept_and_ask_next),
    T(
        CONFIRMING,
        KeyPress,
        when.accept_key_and_card_on_file_offered,
        OFFERING,
        do.accept_and_offer_card_on_file,
    ),
    T(CONFIRMING, KeyPress, when.accept_key, AUTHORIZING, do.accept_and_authorize),
    T(CONFIRMING, KeyPress, when.reenter_key_and_retry_left, ENTERING, do.reenter),
    T(CONFIRMING, KeyPress, when.reenter_key, ANNOUNCING, do.fail_attempts),
    T(CONFIRMING, KeyPress, when.choice_retry_left, CONFIRMING, do.invalid_choice),
    T(CONFIRMING, KeyPress, when.always, ANNOUNCING, do.fail_attempts),
    T(CONFIRMING, TimerExpiry, when.always, CONFIRMING, do.ignore_stale),
    T(CONFIRMING, AgentReask, when.step_to_reask, ENTERING, do.reask_step),
    T(CONFIRMING, AgentReask, when.always, CONFIRMING, do.ignore_reask),
    # Keeping the card on file is asked before the charge, so one sale both charges the card
    # and returns its token. A caller who cannot answer is charged without storing.
    T(OFFERING, KeyPress, when.cancel_key, ANNOUNCING, do.cancel_by_caller),
    T(OFFERING, TimerExpiry, when.no_input_timer, ANNOUNCING, do.fail_no_input),
    T(OFFERING, PromptFinished, when.current_prompt, OFFERING, do.await_input),
    T(OFFERING, PromptFinished, when.always, OFFERING, do.ignore_stale),
    T(OFFERING, CallerHangup, when.always, DONE, do.finish_caller_gone),
    T(OFFERING, AgentHangup, when.always, OFFERING, do.note_agent_gone),
    T(OFFERING, AgentCancellation, when.always, ANNOUNCING, do.cancel_by_agent),
    T(OFFERING, KeyPress, when.keep_card_key, AUTHORIZING, do.authorize_keeping_card),
    T(OFFERING, KeyPress, when.do_not_keep_card_key, AUTHORIZING, do.authorize_without_keeping),
    T(OFFERING, KeyPress, when.offer_choice_retry_left, OFFERING, do.invalid_offer_choice),
    T(OFFERING, KeyPress, when.always, AUTHORIZING, do.authorize_without_keeping),
    T(OFFERING, TimerExpiry, when.always, OFFERING, do.ignore_stale),
    T(OFFERING, AgentReask, when.step_to_reask, ENTERING, do.reask_step),
    T(OFFERING, AgentReask, when.always, OFFERING, do.ignore_reask),
    # The gateway has the card: nothing the caller or the agent does can stop the charge. A
    # declined card may be followed by another try (another card, or the refused field).
    T(AUTHORIZING, GatewayApproval, when.always, ANNOUNCING, do.announce_approval),
    T(AUTHORIZING, GatewayDecline, when.card_retry_left, ENTERING, do.ask_again_after_decline),
    T(AUTHORIZING, GatewayDecline, when.always, ANNOUNCING, do.announce_decline),
    T(AUTHORIZING, GatewayFailure, when.always, ANNOUNCING, do.announce_failure),
    T(AUTHORIZING, GatewayOutcomeUnknown, when.always, ANNOUNCING, do.announce_unknown),
    T(AUTHORIZING, KeyPress, when.always, AUTHORIZING, do.ignore_key_while_charging),
    T(AUTHORIZING, PromptFinished, when.current_prompt, AUTHORIZING, do.note_prompt_done),
    T(AUTHORIZING, PromptFinished, when.always, AUTHORIZING, do.ignore_stale),
    T(AUTHORIZING, TimerExpiry, when.always, AUTHORIZING, do.ignore_stale),
    T(AUTHORIZING, CallerHangup, when.always, CALLER_GONE, do.note_caller_gone),
    T(AUTHORIZING, AgentHangup, when.always, AUTHORIZING, do.note_agent_gone),
    T(AUTHORIZING, AgentCancellation, when.always, AUTHORIZING, do.ignore_cancel_while_charging),
    T(AUTHORIZING, AgentReask, when.always, AUTHORIZING, do.ignore_reask),
    T(CALLER_GONE, GatewayApproval, when.always, DONE, do.finish_without_caller),
    T(CALLER_GONE, GatewayDecline, when.always, DONE, do.finish_without_caller),
    T(CALLER_GONE, GatewayFailure, when.always, DONE, do.finish_without_caller),
    T(CALLER_GONE, GatewayOutcomeUnknown, when.always, DONE, do.finish_without_caller),
    T(CALLER_GONE, PromptFinished, when.always, CALLER_GONE, do.ignore_stale),
    T(CALLER_GONE, TimerExpiry, when.always, CALLER_GONE, do.ignore_stale),
    T(CALLER_GONE, AgentHangup, when.always, CALLER_GONE, do.note_agent_gone),
    T(CALLER_GONE, AgentCancellation, when.always, CALLER_GONE, do.ignore_cancel_while_charging),
    T(CALLER_GONE, AgentReask, when.always, CALLER_GONE, do.ignore_reask),
    # The result is read out, then the caller goes back to the agent.
    T(ANNOUNCING, PromptFinished, when.current_prompt, DONE, do.reconnect_and_finish),
    T(ANNOUNCING, PromptFinished, when.always, ANNOUNCING, do.ignore_stale),
    T(ANNOUNCING, KeyPress, when.always, ANNOUNCING, do.ignore_key_while_announcing),
    T(ANNOUNCING, TimerExpiry, when.always, ANNOUNCING, do.ignore_stale),
    T(ANNOUNCING, CallerHangup, when.always, DONE, do.finish_caller_gone),
    T(ANNOUNCING, AgentHangup, when.always, ANNOUNCING, do.note_agent_gone),
    T(ANNOUNCING, AgentCancellation, when.always, ANNOUNCING, do.ignore_late_cancel),
    T(ANNOUNCING, AgentReask, when.always, ANNOUNCING, do.ignore_reask),
)

ROWS_BY_STATE: dict[State, tuple[Transition, ...]] = {
    state: tuple(row for row in TRANSITIONS if row.source is state) for state in State
}

STEP_STATES = frozenset({AMOUNT, ENTERING, CONFIRMING})
"""The states in which the caller is on one of the steps (the flow's ``step``)."""
