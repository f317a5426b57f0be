"""What an unanswered customer leg means: its Q.850 hangup cause first, then the Dial status."""

from __future__ import annotations

import pytest

from payivr.outbound.dialer import unanswered_outcome
from payivr.outbound.store import Outcome


@pytest.mark.parametrize(
    ("cause", "dial_status", "outcome"),
    [
        (17, "BUSY", Outcome.BUSY),
        (21, "NOANSWER", Outcome.BUSY),  # 603 Decline: Asterisk reports no Dial status for it
        (19, "NOANSWER", Outcome.NO_ANSWER),
        (18, "NOANSWER", Outcome.NO_ANSWER),
        (1, "NOANSWER", Outcome.UNREACHABLE),  # 404: the cause tells what the status cannot
        (3, "CHANUNAVAIL", Outcome.UNREACHABLE),
        (27, "NOANSWER", Outcome.UNREACHABLE),
        (34, "CONGESTION", Outcome.UNREACHABLE),
        (38, "NOANSWER", Outcome.UNREACHABLE),
        (16, "BUSY", Outcome.BUSY),  # a cause that says nothing: the Dial status decides
        (16, "CHANUNAVAIL", Outcome.UNREACHABLE),
        (None, None, Outcome.NO_ANSWER),
    ],
)
def test_the_cause_decides_then_the_dial_status(
    cause: int | None, dial_status: str | None, outcome: Outcome
) -> None:
    assert unanswered_outcome(cause, dial_status) is outcome
