"""``payivr demo --terminal``: rehearse the caller's side of a payment in a terminal.

The real flow runs on the real driver; the caller's ears are the terminal (each prompt is
printed as the words the caller would hear) and the keypad is the keyboard (type digits,
``*`` and ``#``, then Enter). The agent's view of each step is printed beside it, exactly as
much as the agent would see: step status, a digit count, brand and last four.
"""

from __future__ import annotations

import asyncio
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
)
from payivr.core.flow import FlowConfig, PaymentFlow
from payivr.core.prompts import PROMPT_TEXTS

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


def describe(update: AgentUpdate) -> str:
    status = update.status.value
    if update.digits_entered:
        status += f" ({update.digits_entered} digits)"
    if update.masked_card is not None:
        status += f" - {update.masked_card}"
    if update.detail:
        status += f" - {update.detail}"
    return f"{STEP_NAMES[update.step]}: {status}"


class TerminalCall:
    """The caller's ears and the agent's screen, both as lines of text."""

    def __init__(self, output: TextIO) -> None:
        self._output = output
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

    async def reconnect(self, agent_present: bool) -> None:
        who = "back with the agent" if agent_present else "released (the agent has left)"
        self._say(f"  call         | caller {who}")

    async def step_changed(self, update: AgentUpdate) -> None:
        self._say(f"  agent sees   | {describe(update)}")

    async def finished(self, finish: Finish) -> None:
        result = "SUCCESS" if finish.outcome.succeeded else "FAILED"
        details = f"transaction {finish.reference}" if finish.reference else finish.reason
        self._say(f"  agent sees   | Payment {result}: {finish.outcome.value} - {details}")


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

    ``lines`` returns a future of the next line of input ("" at the end of input).
    """
    results: list[Finish] = []
    output.write(HELP + "\n")
    while True:
        output.write(
            f"\n=== Payment request: {item}, {amount_minor} minor units of {currency} ===\n"
        )
        call = TerminalCall(output)
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
                driver.post(CallerHangup())
                break
            if line.strip().lower() == "h":
                driver.post(CallerHangup())
                continue
            for character in line.strip():
                if character in "0123456789*#":
                    driver.post(KeyPress(character))
        results.append(await running)
        if quit_requested:
            return results
