"""The Mermaid state diagram is drawn from the same table that drives the flow."""

from __future__ import annotations

import re

import pytest

from payivr.core.flow import TRANSITIONS, State, Transition, mermaid_diagram

# Rows that change nothing anyone notices are left out of the drawing: stale prompts and
# timers, keys while charging or announcing, late cancels (ignore_*), and the agent hanging
# up (a self-loop in every state: the flow only notes it for the closing prompt).
LEFT_OUT = ("ignore", "note_agent_gone")

LINE = re.compile(
    r"^    (\[\*\]|[A-Z_]+) --> (\[\*\]|[A-Z_]+)(: [A-Za-z]+( \[[a-z_]+\])? / [a-z_]+)?$"
)


def _drawn(row: Transition) -> bool:
    return not row.action.startswith(LEFT_OUT)


def _line(row: Transition) -> str:
    guard = "" if row.guard == "always" else f" [{row.guard}]"
    return (
        f"    {row.source.name} --> {row.target.name}: {row.event.__name__}{guard} / {row.action}"
    )


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
    assert set(lines[2:-1]) == expected
    assert len(lines[2:-1]) == len(expected), "no line twice"


def test_left_out_rows_are_only_ignores_and_agent_hangups() -> None:
    left_out = [row for row in TRANSITIONS if not _drawn(row)]
    assert all(row.source is row.target for row in left_out), "only self-loops are left out"
    assert {row.event.__name__ for row in left_out if row.action == "note_agent_gone"} == {
        "AgentHangup"
    }


def test_every_line_is_mermaid_state_syntax() -> None:
    for line in mermaid_diagram().splitlines()[1:]:
        assert LINE.match(line), line


def test_cli_flow_diagram_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    from payivr.cli import main

    assert main(["flow-diagram"]) in (0, None)
    assert capsys.readouterr().out.strip() == mermaid_diagram()
