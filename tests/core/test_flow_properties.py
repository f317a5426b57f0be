"""Property tests: whatever the caller keys and whenever timers and prompts end, the flow
ends within a bound computed from its config, leaks no card or bank digit in any command
but Authorize, and holds none afterwards; for card and bank (ACH) payments alike.

The driver plays the edges: it only sends events the edges can really send (keys, the end
of the prompt now playing, a running timer, a stopped prompt's late end, a gateway answer
while charging, each leg hanging up once, the agent cancelling). When the drawn actions
run out it lets the call run its course (prompts end, timers fire, the gateway approves).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from payivr.core.cards import Brand, MaskedCard, SecretDigits
from payivr.core.events import (
    INTER_DIGIT_TIMER,
    NO_INPUT_TIMER,
    AgentCancellation,
    AgentHangup,
    AgentUpdate,
    Authorize,
    BankAccountDetails,
    CallerHangup,
    CancelTimer,
    Command,
    Finish,
    FlowStart,
    GatewayApproval,
    GatewayDecline,
    GatewayFailure,
    GatewayOutcomeUnknown,
    KeyPress,
    PaymentMethod,
    PlayPrompt,
    Prompt,
    PromptFinished,
    SayCharacters,
    SayDigits,
    SayNumber,
    StartTimer,
    Step,
    StepStatus,
    StopPrompt,
    TimerExpiry,
)
from payivr.core.flow import FlowConfig, FlowFinished, IllegalEvent, PaymentFlow
from payivr.core.prompts import CURRENCIES, PROMPT_IDS
from payivr.core.steps import SPECS
from payivr.core.transitions import State, Transition

from ._harness import DECLINE_CARDS, SUCCESS_CARDS, TODAY, VALID_ROUTING_NUMBERS, At

REFERENCE = "ch_TEST"
CARDS = tuple(number for number, _ in SUCCESS_CARDS) + DECLINE_CARDS
BANK_ACCOUNTS = ("000123456789", "000222222227", "4321", "98765432109876543")
ANSWERS = (
    GatewayApproval(REFERENCE),
    GatewayDecline("card_declined", "the card was declined"),
    GatewayFailure("the gateway is down"),
    GatewayOutcomeUnknown(),
)
CHARGING = (State.AUTHORIZING, State.AUTHORIZING_CALLER_GONE)

FAST = settings(
    max_examples=250,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class TracingFlow(PaymentFlow):
    """The real flow, noting the rows each event took."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.rows: list[Transition] = []

    def _find_row(self, event: object) -> Transition:
        row = super()._find_row(event)
        self.rows.append(row)
        return row


def max_effective_events(config: FlowConfig, method: PaymentMethod = PaymentMethod.CARD) -> int:
    """An upper bound on the events that change anything, from start to DONE.

    Per step, at most ``max_attempts`` entries end (valid or not). An entry costs at most
    its length limit in keys (or fewer keys and a '#' or the inter-digit timer), plus the
    end of the prompt before it; as many more are asked again after a pause between digits. A confirmation costs the end of the read-back and one key,
    and each invalid choice (at most ``max_attempts`` in the step) a key and a prompt's end.
    The card-on-file offer, when made, costs like a confirmation. Then: charging (prompt
    end, answer) once per try of a card (a decline allows ``decline_retries`` more), the
    announcement's end, and at most one each of no-input timer, agent
    hangup, caller hangup, cancellation.
    """
    attempts = config.max_attempts
    limits = {
        Step.CARD_NUMBER: 20,
        Step.EXPIRY: 4,
        Step.SECURITY_CODE: 4,
        Step.POSTAL_CODE: max(config.postal_code_lengths) + 1,
        Step.ROUTING_NUMBER: 9,
        Step.ACCOUNT_NUMBER: 18,
        Step.ACCOUNT_TYPE: 1,
    }
    confirming = attempts * 2 + attempts * 2
    keyed = 0
    for step in config.steps_for(method)[1:]:
        # Entries ended by a key or the length, and as many asked again after a pause.
        keyed += 2 * attempts * (limits[step] + 1) + confirming
    if config.offer_card_on_file and method is PaymentMethod.CARD:
        keyed += attempts * 2 + 2
    # A declined card sends the caller through the card's steps again, each try charged.
    tries = 1 + config.decline_retries if method is PaymentMethod.CARD else 1
    return 1 + confirming + tries * (keyed + 2) + 1 + 4


# --------------------------------------------------------------------------- the driver


class Actor(enum.Enum):
    KEY = "key"
    VALID_ENTRY = "valid_entry"
    PROMPT_ENDS = "prompt_ends"
    TIMER_FIRES = "timer_fires"
    STALE = "stale"
    GATEWAY = "gateway"
    CALLER_HANGUP = "caller_hangup"
    AGENT_HANGUP = "agent_hangup"
    AGENT_CANCELS = "agent_cancels"


KEYS = "0123456789#*"

actions = st.lists(
    st.one_of(
        st.tuples(st.just(Actor.KEY), st.integers(0, len(KEYS) - 1)),
        st.tuples(st.just(Actor.KEY), st.integers(0, len(KEYS) - 2)),  # no '*': go deeper
        *[st.tuples(st.just(Actor.VALID_ENTRY), st.integers(0, len(CARDS) - 1))] * 4,
        st.tuples(st.just(Actor.PROMPT_ENDS), st.just(0)),
        st.tuples(st.just(Actor.TIMER_FIRES), st.integers(0, 1)),
        st.tuples(st.just(Actor.STALE), st.integers(0, 1)),
        st.tuples(st.just(Actor.GATEWAY), st.integers(0, len(ANSWERS) - 1)),
        # Ends of the call are drawn rarely (argument 0 of 0..5) so most calls go deep.
        st.tuples(st.just(Actor.CALLER_HANGUP), st.integers(0, 5)),
        st.tuples(st.just(Actor.AGENT_HANGUP), st.integers(0, 5)),
        st.tuples(st.just(Actor.AGENT_CANCELS), st.integers(0, 5)),
    ),
    min_size=5,
    max_size=150,
)

configs = st.builds(
    FlowConfig,
    accepted_brands=st.frozensets(st.sampled_from(Brand), min_size=1),
    ask_security_code=st.booleans(),
    ask_postal_code=st.booleans(),
    max_attempts=st.integers(1, 4),
    postal_code_lengths=st.sampled_from([frozenset({5, 9}), frozenset({5}), frozenset({3, 10})]),
    offer_card_on_file=st.booleans(),
)
methods = st.sampled_from(PaymentMethod)
amounts = st.sampled_from([(13742, "USD"), (1, "GBP"), (100, "EUR"), (4500, "JPY")])


@dataclasses.dataclass
class Run:
    """One call driven to its end, with what went in and what came out."""

    flow: TracingFlow
    commands: list[Command] = dataclasses.field(default_factory=list)
    entries: dict[Step, list[str]] = dataclasses.field(
        default_factory=lambda: {step: [] for step in SPECS}
    )
    effective_events: int = 0
    secrets: list[SecretDigits] = dataclasses.field(default_factory=list)
    playing: int | None = None
    stopped: list[int] = dataclasses.field(default_factory=list)
    timers: dict[str, int] = dataclasses.field(default_factory=dict)
    retired_timers: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    caller_gone: bool = False
    agent_gone: bool = False

    def send(self, event: object) -> list[Command]:
        flow = self.flow
        before, rows_before = flow.state, len(flow.rows)
        keying = flow.step if before is State.ENTERING else None
        commands = flow.send(event)  # type: ignore[arg-type]
        first = flow.rows[rows_before]
        if first.action.__name__.startswith("ignore"):
            assert commands == [], (first, commands)
            assert flow.state is before
        else:
            self.effective_events += 1
        for command in commands:
            self._track(command)
        if isinstance(event, KeyPress) and keying is not None and event.digit in "0123456789":
            self._note_digit(keying, event.digit, commands)
        self.commands += commands
        self._collect_secrets()
        return commands

    def _note_digit(self, step: Step, digit: str, commands: list[Command]) -> None:
        counts = [
            c.digits_entered
            for c in commands
            if isinstance(c, AgentUpdate) and c.step is step and c.digits_entered
        ]
        assert counts, "every digit keyed is counted for the agent"
        if counts[0] == 1:
            self.entries[step].append(digit)
        else:
            self.entries[step][-1] += digit
        assert len(self.entries[step][-1]) == counts[0]

    def _track(self, command: Command) -> None:
        if isinstance(command, PlayPrompt):
            assert self.playing is None
            assert not self.caller_gone, "nothing is played to a caller who hung up"
            self.playing = command.sequence
        elif isinstance(command, StopPrompt):
            assert command.sequence == self.playing
            self.stopped.append(command.sequence)
            self.playing = None
        elif isinstance(command, StartTimer):
            if command.name in self.timers:
                self.retired_timers.append((command.name, self.timers[command.name]))
            self.timers[command.name] = command.token
        elif isinstance(command, CancelTimer):
            self.retired_timers.append((command.name, self.timers.pop(command.name)))
        elif isinstance(command, Authorize):
            details = command.details
            if isinstance(details, BankAccountDetails):
                self.secrets += [details.routing_number, details.account_number]
            else:
                self.secrets += [details.number, details.expiry]
                if details.security_code is not None:
                    self.secrets.append(details.security_code)

    def _collect_secrets(self) -> None:
        flow = self.flow
        for entry in flow.entries.values():
            if not any(entry.digits is seen for seen in self.secrets):
                self.secrets.append(entry.digits)

    # ------------------------------------------------------------- actions

    def act(self, actor: Actor, argument: int) -> None:
        flow = self.flow
        state = flow.state
        if state is State.DONE:
            return
        if actor is Actor.KEY and not self.caller_gone:
            self.send(KeyPress(KEYS[argument]))
        elif actor is Actor.VALID_ENTRY and not self.caller_gone:
            for key in self._valid_keys(argument):
                if flow.state is not State.DONE:
                    self.send(KeyPress(key))
        elif actor is Actor.PROMPT_ENDS and self.playing is not None:
            sequence, self.playing = self.playing, None
            self.send(PromptFinished(sequence))
        elif actor is Actor.TIMER_FIRES and self.timers:
            name = sorted(self.timers)[argument % len(self.timers)]
            self.send(TimerExpiry(name, self.timers.pop(name)))
        elif actor is Actor.STALE:
            if argument == 0 and self.stopped:
                self.send(PromptFinished(self.stopped.pop(0)))
            elif argument == 1 and self.retired_timers:
                self.send(TimerExpiry(*self.retired_timers.pop(0)))
        elif actor is Actor.GATEWAY and state in CHARGING:
            self.send(ANSWERS[argument])
        elif actor is Actor.CALLER_HANGUP and argument == 0 and not self.caller_gone:
            self.caller_gone = True
            self.playing = None  # the channel and its playback are gone
            self.send(CallerHangup())
        elif actor is Actor.AGENT_HANGUP and argument == 0 and not self.agent_gone:
            self.agent_gone = True
            self.send(AgentHangup())
        elif actor is Actor.AGENT_CANCELS and argument == 0:
            self.send(AgentCancellation())

    def _valid_keys(self, argument: int) -> str:
        state = At.of(self.flow)
        if state.name.startswith("CONFIRMING"):
            return "1"
        if state is At.OFFERING_CARD_ON_FILE:
            return "12"[argument % 2]
        if state is At.ENTERING_ROUTING_NUMBER:
            return VALID_ROUTING_NUMBERS[argument % len(VALID_ROUTING_NUMBERS)]
        if state is At.ENTERING_ACCOUNT_NUMBER:
            return BANK_ACCOUNTS[argument % len(BANK_ACCOUNTS)] + "#"
        if state is At.ENTERING_ACCOUNT_TYPE:
            return "12"[argument % 2]
        if state is At.ENTERING_CARD_NUMBER:
            accepted = self.flow.config.accepted_brands
            usable = [card for card in CARDS if brand_of(card) in accepted]
            return usable[argument % len(usable)] + "#"
        if state is At.ENTERING_EXPIRY:
            return "1230"
        if state is At.ENTERING_SECURITY_CODE:
            return "7373"[: 4 if self.flow.brand is Brand.AMEX else 3]
        if state is At.ENTERING_POSTAL_CODE:
            return "9410512340"[: min(self.flow.config.postal_code_lengths)] + "#"
        return ""

    def run_out(self, limit: int, *, caller_keys: bool, answer: int = 0) -> None:
        """Let the call end by itself: the gateway approves, the caller keys valid entries
        (``caller_keys``) or stays silent, prompts end and timers fire."""
        for _ in range(limit):
            state = self.flow.state
            if state is State.DONE:
                return
            if state in CHARGING:
                self.send(ANSWERS[answer])
            elif caller_keys and not self.caller_gone and self._valid_keys(0):
                self.act(Actor.VALID_ENTRY, 0)
            elif self.playing is not None:
                self.act(Actor.PROMPT_ENDS, 0)
            elif self.timers:
                self.act(Actor.TIMER_FIRES, 0)
            else:
                pytest.fail(f"stuck in {self.flow.state}: no prompt, no timer, no gateway")
        pytest.fail(f"not done after {limit} more events")


def drive(
    config: FlowConfig,
    amount: tuple[int, str],
    steps: list[tuple[Actor, int]],
    *,
    caller_keys_at_the_end: bool = True,
    gateway_answer: int = 0,
    method: PaymentMethod = PaymentMethod.CARD,
) -> Run:
    flow = TracingFlow("pay_prop", amount[0], amount[1], config, TODAY, method)
    run = Run(flow)
    run.send(FlowStart())
    for actor, argument in steps:
        run.act(actor, argument)
    run.run_out(
        max_effective_events(config, method),
        caller_keys=caller_keys_at_the_end,
        answer=gateway_answer,
    )
    return run


# --------------------------------------------------------------------------- checks


def _leaves(value: object, path: str = "") -> Iterator[tuple[str, object]]:
    """Every field value inside a command, with its path (``PlayPrompt.parts.SayDigits``)."""
    if isinstance(value, SecretDigits):
        raise AssertionError(f"card digits in {path}")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _leaves(
                getattr(value, field.name), f"{path}.{type(value).__name__}.{field.name}"
            )
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _leaves(item, path)
    elif isinstance(value, enum.Enum):
        return
    else:
        yield path, value


def _grams(text: str, size: int) -> set[str]:
    return {text[i : i + size] for i in range(len(text) - size + 1)}


def check_no_card_data_leaks(run: Run, amount: tuple[int, str]) -> None:
    cards = run.entries[Step.CARD_NUMBER]
    banks = run.entries[Step.ROUTING_NUMBER] + run.entries[Step.ACCOUNT_NUMBER]
    pan_grams = set().union(*(_grams(entry, 5) for entry in cards + banks))
    last_twos = {entry[-2:] for entry in banks}
    secret_codes = {e for e in run.entries[Step.SECURITY_CODE] if len(e) >= 3}
    expiries = {e for e in run.entries[Step.EXPIRY] if len(e) == 4}
    postal_codes = set(run.entries[Step.POSTAL_CODE])
    last_fours = {entry[-4:] for entry in cards}
    exponent = CURRENCIES[amount[1]].exponent
    spoken_numbers = {*divmod(amount[0], 10**exponent)} | {2000 + int(e[2:]) for e in expiries}

    for command in run.commands:
        if isinstance(command, Authorize):
            continue
        if not isinstance(command, PlayPrompt):
            text = repr(command)
            assert not any(gram in text for gram in pan_grams), command
        for path, value in _leaves(command):
            if path.endswith("Prompt.id"):
                assert value in PROMPT_IDS, value
                continue
            if path.endswith("SayDigits.digits"):
                assert value in last_fours | postal_codes | last_twos, value
                continue
            if path.endswith("SayNumber.value"):
                assert value in spoken_numbers, value
                continue
            if path.endswith("SayCharacters.text"):
                assert value == "chTEST", value
                continue
            if path.endswith("MaskedCard.last_four"):
                assert value in last_fours, value
                continue
            if path.endswith("MaskedBankAccount.last_two"):
                assert value in {entry[-2:] for entry in run.entries[Step.ACCOUNT_NUMBER]}
                continue
            if not isinstance(value, str):
                continue  # counters: sequence, token, digits_entered, seconds
            assert not any(gram in value for gram in pan_grams), (path, value)
            assert not any(code in value for code in secret_codes), (path, value)
            assert not any(mmyy in value for mmyy in expiries), (path, value)
        if isinstance(command, AgentUpdate) and command.masked_card is not None:
            # The agent sees brand and last four only once the number is validated: as the
            # caller hears them read back, and once accepted.
            assert command.step is Step.CARD_NUMBER
            assert command.status is StepStatus.DONE or command.confirming
        if isinstance(command, AgentUpdate) and command.masked_bank_account is not None:
            # ...and a bank account's type and last two once all of it is confirmed.
            assert (command.step, command.status) == (Step.ACCOUNT_TYPE, StepStatus.DONE)


def check_holds_nothing(run: Run) -> None:
    flow = run.flow
    assert flow.state is State.DONE
    assert not flow.holds_card_data()
    for secret in run.secrets:
        assert secret.wiped
        assert len(secret._buffer) == 0
    with pytest.raises(FlowFinished):
        flow.send(KeyPress("1"))


# --------------------------------------------------------------------------- properties


@FAST
@given(
    config=configs,
    amount=amounts,
    steps=actions,
    caller_keys_at_the_end=st.booleans(),
    gateway_answer=st.integers(0, len(ANSWERS) - 1),
    method=methods,
)
def test_any_call_ends_within_the_bound_leaks_nothing_and_holds_nothing(
    config: FlowConfig,
    amount: tuple[int, str],
    steps: list[tuple[Actor, int]],
    caller_keys_at_the_end: bool,
    gateway_answer: int,
    method: PaymentMethod,
) -> None:
    run = drive(
        config,
        amount,
        steps,
        caller_keys_at_the_end=caller_keys_at_the_end,
        gateway_answer=gateway_answer,
        method=method,
    )
    event(f"method={method.value}")
    event(f"outcome={run.flow.outcome.value if run.flow.outcome else None}")
    event(f"charged={any(isinstance(c, Authorize) for c in run.commands)}")
    assert run.effective_events <= max_effective_events(config, method)
    finishes = [c for c in run.commands if isinstance(c, Finish)]
    assert len(finishes) == 1 and run.commands[-1] is finishes[0]
    check_no_card_data_leaks(run, amount)
    check_holds_nothing(run)


@FAST
@given(config=configs, steps=actions, method=methods)
def test_a_caller_who_keys_valid_entries_always_reaches_the_gateway(
    config: FlowConfig, steps: list[tuple[Actor, int]], method: PaymentMethod
) -> None:
    """Without hangups, cancels or stray keys, every accepted card (or bank account) gets
    an Authorize, which asks to store the card only when the caller said so."""
    calm = [(a, n) for a, n in steps if a in (Actor.VALID_ENTRY, Actor.PROMPT_ENDS)]
    accepted = [i for i, card in enumerate(CARDS) if brand_of(card) in config.accepted_brands]
    if not accepted:
        return
    calm = [(a, accepted[n % len(accepted)]) for a, n in calm] + [
        (Actor.VALID_ENTRY, accepted[0])
    ] * 12
    run = drive(config, (13742, "USD"), calm, method=method)
    (authorize,) = [c for c in run.commands if isinstance(c, Authorize)]
    assert run.flow.outcome is not None and run.flow.outcome.value == "approved"
    assert authorize.method is method
    if not (config.offer_card_on_file and method is PaymentMethod.CARD):
        assert authorize.store_card is False
    check_holds_nothing(run)


@FAST
@given(config=configs, keys=st.text(alphabet=KEYS, min_size=1, max_size=40), method=methods)
def test_a_caller_who_never_stops_pressing_keys_still_ends_within_the_bound(
    config: FlowConfig, keys: str, method: PaymentMethod
) -> None:
    """The caller presses ``keys`` over and over, never letting a prompt finish; the gateway
    approves. No loop of keys can keep the call going past the bound."""
    flow = PaymentFlow("pay_keys", 13742, "USD", config, TODAY, method)
    flow.start()
    bound = max_effective_events(config, method)
    pressed, playing = 0, 0
    while flow.state is not State.DONE:
        assert pressed <= bound, f"still in {flow.state} after {pressed} keys"
        if flow.state is State.AUTHORIZING:
            commands = flow.send(ANSWERS[0])
        elif flow.state is State.ANNOUNCING_RESULT:
            commands = flow.send(PromptFinished(playing))
        else:
            commands = flow.send(KeyPress(keys[pressed % len(keys)]))
            pressed += 1
        plays = [c.sequence for c in commands if isinstance(c, PlayPrompt)]
        playing = plays[-1] if plays else playing


def brand_of(number: str) -> Brand:
    return Brand.VISA if number.startswith("4") else dict(SUCCESS_CARDS)[number]


any_event = st.one_of(
    st.builds(KeyPress, st.sampled_from(KEYS)),
    st.builds(PromptFinished, st.integers(0, 30)),
    st.builds(
        TimerExpiry,
        st.sampled_from([NO_INPUT_TIMER, INTER_DIGIT_TIMER, "other"]),
        st.integers(0, 60),
    ),
    st.sampled_from(ANSWERS),
    st.just(CallerHangup()),
    st.just(AgentHangup()),
    st.just(AgentCancellation()),
    st.just(FlowStart()),
)


@FAST
@given(config=configs, events=st.lists(any_event, max_size=120), method=methods)
def test_any_event_is_taken_or_refused_with_illegal_event(
    config: FlowConfig, events: list[object], method: PaymentMethod
) -> None:
    flow = PaymentFlow("pay_any", 13742, "USD", config, TODAY, method)
    for incoming in events:
        before = flow.state
        try:
            commands = flow.send(incoming)  # type: ignore[arg-type]
        except IllegalEvent as error:
            assert flow.state is before
            assert isinstance(error, FlowFinished) is (before is State.DONE)
            continue
        if commands and isinstance(commands[-1], Finish):
            assert flow.state is State.DONE
    if flow.state is State.DONE:
        assert not flow.holds_card_data()


def test_bound_grows_with_attempts_and_steps() -> None:
    small = FlowConfig(max_attempts=1, ask_security_code=False, ask_postal_code=False)
    assert max_effective_events(small) < max_effective_events(FlowConfig())
    assert max_effective_events(FlowConfig()) < max_effective_events(FlowConfig(max_attempts=4))


def test_driver_sees_masked_cards_only_as_brand_and_last_four() -> None:
    run = drive(FlowConfig(), (13742, "USD"), [(Actor.VALID_ENTRY, 0)] * 12)
    masked = {c.masked_card for c in run.commands if isinstance(c, Finish)}
    assert masked == {MaskedCard(Brand.VISA, "4242")}
    assert any(
        isinstance(p, SayDigits) for c in run.commands if isinstance(c, PlayPrompt) for p in c.parts
    )
    assert Prompt("payment-approved") in run.commands[-3].parts  # type: ignore[union-attr]
    assert SayCharacters("chTEST") in run.commands[-3].parts  # type: ignore[union-attr]
    assert SayNumber(2030) in {
        p for c in run.commands if isinstance(c, PlayPrompt) for p in c.parts
    }
    check_no_card_data_leaks(run, (13742, "USD"))
    check_holds_nothing(run)
