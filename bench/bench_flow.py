"""Events per second through the payment flow, for complete successful payments.

Each payment is a fresh :class:`PaymentFlow` fed the whole exchange of an approved Visa
payment (amount, card, expiry, security code, postal code, gateway approval, the closing
prompt's end), for two callers:

- patient: waits for every prompt to end before keying (so no-input timers start and stop);
- barge-in: keys over every prompt (fewer events, a StopPrompt each time).

The event scripts are recorded once from a real flow, then replayed on fresh flows; the
time covers building each flow and every ``send``. No I/O, one thread.

    .venv/bin/python bench/bench_flow.py [--payments 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from datetime import date

from payivr.core.events import (
    Event,
    Finish,
    FlowStart,
    GatewayApproval,
    KeyPress,
    Outcome,
    PlayPrompt,
    PromptFinished,
    StopPrompt,
)
from payivr.core.flow import FlowConfig, PaymentFlow

TODAY = date(2025, 6, 15)
CONFIG = FlowConfig()
KEYS = ("1", "4242424242424242#", "1", "1230", "1", "737", "1", "94105#", "1")


def new_flow() -> PaymentFlow:
    return PaymentFlow("pay_bench", 13742, "USD", CONFIG, TODAY)


def record(patient: bool) -> list[Event | FlowStart]:
    """The events of one approved payment, as the edges would send them."""
    flow = new_flow()
    script: list[Event | FlowStart] = []
    playing: int | None = None

    def send(event: Event | FlowStart) -> list[object]:
        nonlocal playing
        script.append(event)
        commands = flow.send(event)
        for command in commands:
            if isinstance(command, PlayPrompt):
                playing = command.sequence
            elif isinstance(command, StopPrompt):
                playing = None
        return list(commands)

    def prompt_ends() -> list[object]:
        nonlocal playing
        assert playing is not None
        sequence, playing = playing, None
        return send(PromptFinished(sequence))

    send(FlowStart())
    for chunk in KEYS:
        if patient and playing is not None:
            prompt_ends()
        for key in chunk:
            send(KeyPress(key))
    if patient:
        prompt_ends()  # "please wait while we process your payment"
    send(GatewayApproval("ch_BENCH"))
    last = prompt_ends()
    finish = last[-1]
    assert isinstance(finish, Finish) and finish.outcome is Outcome.APPROVED, last
    return script


def replay(script: list[Event | FlowStart], payments: int) -> float:
    """Seconds to run ``payments`` fresh flows through ``script``."""
    started = time.perf_counter()
    for _ in range(payments):
        flow = new_flow()
        for event in script:
            flow.send(event)
    elapsed = time.perf_counter() - started
    assert flow.outcome is Outcome.APPROVED and not flow.holds_card_data()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=2000, help="payments per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is kept")
    args = parser.parse_args()

    rows = []
    for name, patient in (("patient", True), ("barge-in", False)):
        script = record(patient)
        replay(script, min(200, args.payments))  # warm up
        best = min(replay(script, args.payments) for _ in range(args.rounds))
        events = len(script) * args.payments
        rows.append((name, len(script), events / best, args.payments / best, best / events * 1e6))

    name, per_payment, events_per_s, payments_per_s, micros = rows[0]
    print(
        f"payment flow: {events_per_s:,.0f} events/s ({payments_per_s:,.0f} complete "
        f"successful payments/s, {micros:.1f} µs/event, {name} caller, "
        f"{per_payment} events/payment)"
    )
    print()
    print(
        f"{'caller':<10} {'events/payment':>14} {'events/s':>12} {'payments/s':>11} {'µs/event':>9}"
    )
    for name, per_payment, events_per_s, payments_per_s, micros in rows:
        print(
            f"{name:<10} {per_payment:>14} {events_per_s:>12,.0f} "
            f"{payments_per_s:>11,.0f} {micros:>9.2f}"
        )
    print(f"\n{args.payments} payments per round, best of {args.rounds} rounds, one thread")


if __name__ == "__main__":
    main()
