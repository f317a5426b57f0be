"""The flow's state diagram (Mermaid), drawn from the table that drives it."""

from __future__ import annotations

from payivr.core.events import PaymentMethod
from payivr.core.steps import STEPS_OF_METHOD
from payivr.core.transitions import TRANSITIONS, State, Transition

# Rows that change nothing anyone notices are left out of the drawing: stale prompts and
# timers, keys while charging or announcing, late cancels (ignore_*), and the agent hanging
# up (a self-loop in every state: the flow only notes it for the closing prompt).
_LEFT_OUT_ACTIONS = ("ignore_", "note_agent_gone")


def drawn(row: Transition) -> bool:
    return not row.action.__name__.startswith(_LEFT_OUT_ACTIONS)


def label(row: Transition) -> str:
    """``Event [guard] / action``, the guard left out when it always holds."""
    guard = "" if row.guard.__name__ == "always" else f" [{row.guard.__name__}]"
    return f"{row.event.__name__}{guard} / {row.action.__name__}"


def mermaid_diagram() -> str:
    """The state diagram of :data:`~payivr.core.transitions.TRANSITIONS`, with the steps
    the caller keys in ENTERING and CONFIRMING, in order, per payment method."""
    lines = ["stateDiagram-v2", f"    [*] --> {State.NEW.name}"]
    seen: set[str] = set()
    for row in TRANSITIONS:
        line = f"    {row.source.name} --> {row.target.name}: {label(row)}"
        if drawn(row) and line not in seen:
            seen.add(line)
            lines.append(line)
    for method in PaymentMethod:
        steps = ", ".join(step.value for step in STEPS_OF_METHOD[method][1:])
        lines.append(f"    note right of {State.ENTERING.name}: {method.value}: {steps}")
    lines.append(f"    {State.DONE.name} --> [*]")
    return "\n".join(lines)
