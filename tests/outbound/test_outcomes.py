"""What an unanswered customer leg means: its Q.850 hangup cause first, then the Dial status."""

from __future__ import annotations

import pytest

from payivr.outbound.dialer import unanswered_outcome
from payivr.outbound.store import CallOutcome


@pytest.mark.parametrize(
    ("cause", "dial_status", "outcome"),
    [
        (17, "BUSY", CallOutcome.BUSY),
        (21, "NOANSWER", CallOutcome.BUSY),  # 603 Decline: Asterisk reports no Dial status for it
        (19, "NOANSWER", CallOutcome.NO_ANSWER),
        (18, "NOANSWER", CallOutcome.NO_ANSWER),
        (1, "NOANSWER", CallOutcome.UNREACHABLE),  # 404: the cause tells what the status cannot
        (3, "CHANUNAVAIL", CallOutcome.UNREACHABLE),
        (27, "NOANSWER", CallOutcome.UNREACHABLE),
        (34, "CONGESTION", CallOutcome.UNREACHABLE),
        (38, "NOANSWER", CallOutcome.UNREACHABLE),
        (16, "BUSY", CallOutcome.BUSY),  # a cause that says nothing: the Dial status decides
        (16, "CHANUNAVAIL", CallOutcome.UNREACHABLE),
        (None, None, CallOutcome.NO_ANSWER),
    ],
)
def test_the_cause_decides_then_the_dial_status(
    cause: int | None, dial_status: str | None, outcome: CallOutcome
) -> None:
    assert unanswered_outcome(cause, dial_status) is outcome
