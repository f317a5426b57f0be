"""The Mermaid state diagram is drawn from the same table that drives the flow."""

from __future__ import annotations

import re

import pytest

from payivr.core import actions, guards
from payivr.core.diagram import mermaid_diagram
from payivr.core.transitions import TRANSITIONS, State, Transition

# Rows that change nothing anyone notices are left out of the drawing: stale prompts and
# timers, keys while charging or announcing, late cancels (ignore_*), and the agent hanging
# up (a self-loop in every state: the flow only notes it for the closing prompt).
LEFT_OUT = ("ignore", "note_agent_gone")

LINE = re.compile(
    r"^    (\[\*\]|[A-Z_]+) --> (\[\*\]|[A-Z_]+)(: [A-Za-z]+( \[[a-z_]+\])? / [a-z_]+)?$"
)
NOTE = re.compile(r"^    note right of ENTERING: [a-z]+: [a-z_, ]+$")


def _drawn(row: Transition) -> bool:
    return not row.action.__name__.startswith(LEFT_OUT)


def _line(row: Transition) -> str:
    guard = "" if row.guard is guards.always else f" [{row.guard.__name__}]"
    return (
        f"    {row.source.name} --> {row.target.name}: "
        f"{row.event.__name__}{guard} / {row.action.__name__}"
    )


def _transition_lines() -> list[str]:
    return [line for line in mermaid_diagram().splitlines()[2:-1] if "-->" in line]


def test_every_state_appears() -> None:
    diagram = mermaid_diagram()
    for state in State:
        assert re.search(rf"\b{state.name}\b", diagram), state


def test_every_drawn_row_appears() -> None:
    lines = set(mermaid_diagram().splitlines())
    for row in TRANSITIONS:
        if _drawn(row):
            assert _line(row) in lines, row


def test_only_rows_of_the_table_are_drawn() -> None:
    lines = mermaid_diagram().splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert lines[1] == "    [*] --> NEW"
    assert lines[-1] == "    DONE --> [*]"
    expected = {_line(row) for row in TRANSITIONS if _drawn(row)}
    assert set(_transition_lines()) == expected
    assert len(_transition_lines()) == len(expected), "no line twice"


def test_the_steps_of_each_method_are_noted_in_order() -> None:
    notes = [line for line in mermaid_diagram().splitlines() if " note " in line]
    assert notes == [
        "    note right of ENTERING: card: card_number, expiry, security_code, postal_code",
        "    note right of ENTERING: ach: routing_number, account_number, account_type",
    ]


def test_left_out_rows_are_only_ignores_and_agent_hangups() -> None:
    left_out = [row for row in TRANSITIONS if not _drawn(row)]
    assert all(row.source is row.target for row in left_out), "only self-loops are left out"
    assert {row.event.__name__ for row in left_out if row.action is actions.note_agent_gone} == {
        "AgentHangup"
    }


def test_guards_and_actions_are_the_functions_of_their_modules() -> None:
    for row in TRANSITIONS:
        assert getattr(guards, row.guard.__name__) is row.guard, row
        assert getattr(actions, row.action.__name__) is row.action, row


def test_every_line_is_mermaid_state_syntax() -> None:
    for line in mermaid_diagram().splitlines()[1:]:
        assert LINE.match(line) or NOTE.match(line), line


def test_cli_flow_diagram_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    from payivr.cli import main

    assert main(["flow-diagram"]) in (0, None)
    assert capsys.readouterr().out.strip() == mermaid_diagram()
