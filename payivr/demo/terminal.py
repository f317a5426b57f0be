"""``payivr demo --terminal``: rehearse the caller's side of a payment in a terminal.

The real flow runs on the real driver; the caller's ears are the terminal (each prompt is
printed as the words the caller would hear) and the keypad is the keyboard (type digits,
``*`` and ``#``, then Enter). The agent's view of each step is printed beside it, exactly as
much as the agent would see: step status, a digit count, brand and last four.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any, TextIO

from payivr.calls.driver import Authorizer, FlowDriver
from payivr.core.events import (
    AgentUpdate,
    CallerHangup,
    Finish,
    KeyPress,
    Prompt,
    PromptFinished,
    PromptPart,
    SayCharacters,
    SayDigits,
    SayNumber,
    Step,
    StepStatus,
)
from payivr.core.flow import FlowConfig, PaymentFlow
from payivr.core.prompts import PROMPT_TEXTS
from payivr.store.activity import format_amount

STEP_NAMES = {
    Step.AMOUNT: "Amount confirmed",
    Step.CARD_NUMBER: "Card number",
    Step.EXPIRY: "Expiry date",
    Step.SECURITY_CODE: "Security code",
    Step.POSTAL_CODE: "Postal code",
}
HELP = (
    "Type keys as the caller would press them (0-9, * to cancel, # to end an entry) and press\n"
    "Enter. Type 'h' to hang up, 'q' or Ctrl-D to quit. Test cards: 4242424242424242 approves,\n"
    "4000000000000002 is declined, 4000000000009995 has insufficient funds."
)


def speak(parts: tuple[PromptPart, ...], language: str = "en") -> str:
    """The words a caller hears for a prompt, as text."""
    texts = PROMPT_TEXTS[language]
    words = []
    for part in parts:
        if isinstance(part, Prompt):
            words.append(texts[part.id])
        elif isinstance(part, SayNumber):
            words.append(str(part.value))
        elif isinstance(part, SayDigits):
            words.append(" ".join(part.digits))
        elif isinstance(part, SayCharacters):
            words.append(" ".join(part.text))
    return " ".join(words)


def describe(update: AgentUpdate, digits_entered: int = 0) -> str:
    """One line of the agent's view of a step; ``digits_entered`` stands in when the update
    itself carries no count (a finished entry)."""
    status = update.status.value
    digits = update.digits_entered or digits_entered
    if digits:
        status += f" ({digits} digit{'' if digits == 1 else 's'})"
    if update.masked_card is not None:
        status += f" - {update.masked_card}"
    if update.detail:
        status += f" - {update.detail}"
    return f"{STEP_NAMES[update.step]}: {status}"


class TerminalCall:
    """The caller's ears and the agent's screen, both as lines of text.

    The agent's screen shows one line per entry, not per digit: the updates of a step still
    being keyed (and the opening "waiting" of every step) are folded into the line that ends
    the entry, which carries the digit count.
    """

    def __init__(self, output: TextIO, amount: str) -> None:
        self._output = output
        self._amount = amount
        self._digits_keyed: dict[Step, int] = {}
        self.driver: FlowDriver | None = None

    def _say(self, line: str) -> None:
        self._output.write(line + "\n")
        self._output.flush()

    async def play(self, parts: tuple[PromptPart, ...], sequence: int) -> None:
        self._say(f"  caller hears | {speak(parts)}")
        assert self.driver is not None
        # A terminal "plays" a prompt instantly; the no-input timer starts from here.
        asyncio.get_running_loop().call_soon(self.driver.post, PromptFinished(sequence))

    async def stop(self, sequence: int) -> None:
        """Printed prompts cannot be interrupted."""

    async def playback_finished(self, playback_id: str) -> None:
        """A terminal has no playbacks: its prompts end as they are printed."""

    async def resync(self) -> None:
        """A terminal loses no events."""

    async def reconnect(self, agent_present: bool) -> None:
        who = "back with the agent" if agent_present else "released (the agent has left)"
        self._say(f"  call         | caller {who}")

    async def step_changed(self, update: AgentUpdate) -> None:
        if update.status is StepStatus.WAITING:
            return
        if update.status is StepStatus.ENTERING and not update.detail:
            self._digits_keyed[update.step] = update.digits_entered
            return
        keyed = self._digits_keyed.pop(update.step, 0)
        self._say(f"  agent sees   | {describe(update, keyed)}")

    async def finished(self, finish: Finish) -> None:
        if finish.outcome.succeeded:
            line = f"Payment approved: {self._amount}, transaction {finish.reference}"
        else:
            line = f"Payment not taken: {finish.reason}"
        self._say(f"  agent sees   | {line}")


async def run_terminal_rehearsal(
    lines: Callable[[], asyncio.Future[str]],
    output: TextIO,
    authorize: Authorizer,
    config: FlowConfig,
    amount_minor: int,
    currency: str,
    item: str,
    today: date,
) -> list[Finish]:
    """Run payments one after another until the input ends; returns their results.

    ``lines`` returns a future of the next line of input ("" at the end of input). Quitting
    (``q`` or the end of input) mid-payment ends the rehearsal without a result for that
    payment: nobody hung up, so no failure is made up.
    """
    results: list[Finish] = []
    amount = format_amount(amount_minor, currency)
    output.write(HELP + "\n")
    while True:
        output.write(f"\n=== Payment request: {item}, {amount} ===\n")
        call = TerminalCall(output, amount)
        flow = PaymentFlow(str(uuid.uuid4()), amount_minor, currency, config, today)
        driver = FlowDriver(flow, call, authorize, call)
        call.driver = driver
        running = asyncio.create_task(driver.run())
        quit_requested = False
        while not running.done():
            reading = asyncio.ensure_future(lines())
            waiting: set[asyncio.Future[Any]] = {reading, running}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if not reading.done():
                reading.cancel()
                break
            line = reading.result()
            if line == "" or line.strip().lower() == "q":
                quit_requested = True
                break
            if line.strip().lower() == "h":
                driver.post(CallerHangup())
                continue
            for character in line.strip():
                if character in "0123456789*#":
                    driver.post(KeyPress(character))
        if quit_requested:
            # The keys typed before quitting are the caller's; once the flow has taken them,
            # a charge already sent is waited for (money may move), anything else just ends.
            caught_up = asyncio.ensure_future(driver.caught_up())
            await asyncio.wait({caught_up, running}, return_when=asyncio.FIRST_COMPLETED)
            caught_up.cancel()
            if driver.authorization_sent or running.done():
                results.append(await running)
            else:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
            output.write("\n=== Rehearsal ended ===\n")
            return results
        results.append(await running)
