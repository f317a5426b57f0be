"""The console's batches: a step's digit counts superseded within a batch are left out."""

from __future__ import annotations

from payivr.calls.notifier import CallStarted, PaymentEvent, PaymentStepChanged
from payivr.console.app import latest_entries
from payivr.core.events import AgentUpdate, Step, StepStatus
from payivr.core.request import EntryKind


def step(payment: str, which: Step, status: StepStatus, digits: int = 0) -> PaymentStepChanged:
    return PaymentStepChanged(payment, "call", "agent", AgentUpdate(which, status, digits))


def test_only_the_last_entering_update_of_a_step_is_kept_and_every_other_event_stays() -> None:
    started = CallStarted("call", "agent", None, EntryKind.TAKEOVER)
    typing = [step("p1", Step.CARD_NUMBER, StepStatus.ENTERING, n) for n in range(1, 4)]
    other = step("p2", Step.CARD_NUMBER, StepStatus.ENTERING, 1)
    done = step("p1", Step.CARD_NUMBER, StepStatus.DONE, 16)
    expiry = [step("p1", Step.EXPIRY, StepStatus.ENTERING, n) for n in (1, 2)]
    batch: list[PaymentEvent] = [started, *typing, other, done, *expiry]

    assert latest_entries(batch) == [started, other, done, expiry[-1]]


def test_failed_and_done_updates_are_never_left_out() -> None:
    failed = step("p1", Step.EXPIRY, StepStatus.FAILED)
    again = step("p1", Step.EXPIRY, StepStatus.ENTERING, 1)
    done = step("p1", Step.EXPIRY, StepStatus.DONE, 4)

    assert latest_entries([failed, again, done]) == [failed, done]
