"""A hang-up at each step of a card payment, by the caller or by the agent: the outcome the
agent is told, what is stored and queued for the CRM, what is charged, what the caller hears
last and whether they are given back.

Below the ARI layer: the real :class:`PaymentFlow` run by the real :class:`FlowDriver`, its
progress written by :class:`PaymentProgress` to :class:`StoreRecords` on the test database,
the charge sent to the in-process gateway. The caller's side is :class:`CallerSide`, which
notes the prompts and ends them when the test says. How a hang-up meets the legs and
bridges in Asterisk is tests/e2e/test_hangups.py's part: the entry and the privacy mode
reach the flow only as whether the caller can be given back to an agent (``agent_present``,
False on the pay line).
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from payivr.ari.client import AriClient
from payivr.calls.charging import gateway_authorizer
from payivr.calls.driver import FlowDriver, GatewayAnswer
from payivr.calls.notifier import Notifier, PaymentEvent, PaymentFinished
from payivr.calls.payment import PaymentProgress
from payivr.calls.records import PaymentOpening, StoreRecords
from payivr.calls.requests import PaymentRequest
from payivr.calls.wiring import CallServices
from payivr.config import CallSettings
from payivr.core.cards import Brand, MaskedCard
from payivr.core.events import (
    AgentHangup,
    Authorize,
    CallerHangup,
    Event,
    Finish,
    KeyPress,
    Outcome,
    Prompt,
    PromptFinished,
    PromptPart,
    Step,
    StepStatus,
)
from payivr.core.flow import FlowConfig, PaymentFlow
from payivr.core.request import EntryKind, PrivacyMode
from payivr.gateway.inprocess import InProcessGateway
from payivr.store import Database, PaymentStore
from payivr.store import Payment as StoredPayment
from payivr.store.outbox import crm_list
from tests.e2e.harness import CARD_STEPS, HANGUP_POINTS, Arrivals

AMOUNT_MINOR = 13742
WAIT = 10.0  # seconds: nothing here waits on more than the event loop and the database

CARD_ORDER = (Step.AMOUNT, Step.CARD_NUMBER, Step.EXPIRY, Step.SECURITY_CODE, Step.POSTAL_CODE)
STEP_AT = {
    "amount": Step.AMOUNT,
    "card-number": Step.CARD_NUMBER,
    "expiry": Step.EXPIRY,
    "security-code": Step.SECURITY_CODE,
    "postal-code": Step.POSTAL_CODE,
}


@functools.cache
def gateway_key() -> rsa.RSAPrivateKey:
    """One key pair for the module's gateways (a new one per test costs more than the test)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def database(module_database_url: str) -> AsyncIterator[Database]:
    """The module's database: each test's rows are its payment's."""
    db = await Database.connect(module_database_url, max_size=4, migrate=False)
    try:
        yield db
    finally:
        await db.close()


class CallerSide:
    """The driver's :class:`~payivr.calls.driver.CallMedia` for a caller the test keys for:
    prompt ids are noted as they would start playing; a prompt ends when the test says."""

    def __init__(self) -> None:
        self.heard: Arrivals[str] = Arrivals()
        self.playing: int | None = None
        self.given_back: list[bool] = []  # each Reconnect's agent_present

    async def play(self, parts: tuple[PromptPart, ...], sequence: int) -> None:
        self.playing = sequence
        for part in parts:
            if isinstance(part, Prompt):
                self.heard.append(part.id)

    async def stop(self, sequence: int) -> None:
        if self.playing == sequence:
            self.playing = None

    async def reconnect(self, agent_present: bool) -> None:
        self.given_back.append(agent_present)

    async def playback_finished(self, playback_id: str) -> None:
        raise AssertionError("no playback is posted here")

    async def resync(self) -> None:
        raise AssertionError("no gap in the events here")


@dataclass
class Payment:
    """One payment being keyed, its charge held back until :meth:`release_charge`."""

    payment_id: str
    flow: PaymentFlow
    driver: FlowDriver
    caller: CallerSide
    gateway: InProcessGateway
    finished: list[Finish]
    charge_released: asyncio.Event

    def post(self, event: Event) -> None:
        self.driver.post(event)

    def press(self, keys: str) -> None:
        for key in keys:
            self.post(KeyPress(key))

    async def hears(self, prompt: str) -> None:
        await self.caller.heard.first(lambda heard: heard == prompt, WAIT)

    async def key(self, prompt: str, keys: str) -> None:
        await self.hears(prompt)
        self.press(keys)

    def release_charge(self) -> None:
        self.charge_released.set()

    def prompt_ends(self) -> None:
        assert self.caller.playing is not None, "nothing is playing"
        self.post(PromptFinished(self.caller.playing))


async def start_payment(database: Database, agent_present: bool) -> tuple[Payment, StoreRecords]:
    records = StoreRecords(PaymentStore(database, crm_endpoints=["crm"]))
    notifier = Notifier()
    gateway = InProcessGateway(private_key=gateway_key())
    charge = gateway_authorizer(gateway)
    charge_released = asyncio.Event()

    async def authorize(command: Authorize) -> GatewayAnswer:
        await charge_released.wait()
        return await charge(command)

    services = CallServices(
        ari=AriClient("http://127.0.0.1:9", "payivr", "never asked"),  # no request is made
        app="payivr",
        calls=CallSettings(),
        flow=FlowConfig(),
        authorize=authorize,
        records=records,
        notifier=notifier,
        today=lambda: date(2026, 12, 4),
    )
    finished: list[Finish] = []

    async def listen(event: PaymentEvent) -> None:
        if isinstance(event, PaymentFinished):
            finished.append(event.finish)

    notifier.subscribe(listen)
    request = PaymentRequest("Annual plan", AMOUNT_MINOR, "USD", "alice")
    payment_id = await records.open(
        PaymentOpening(
            call_key="call-1",
            agent="alice",
            agent_channel="PJSIP/1101-00000001" if agent_present else None,
            item=request.item,
            amount_minor=AMOUNT_MINOR,
            currency="USD",
            entry=EntryKind.TAKEOVER if agent_present else EntryKind.PAYLINE,
            privacy_mode=PrivacyMode.HOLD,
            caller_number=None,
            crm_record_id=None,
        )
    )
    flow = PaymentFlow(payment_id, AMOUNT_MINOR, "USD", services.flow, services.today())
    flow.agent_present = agent_present
    progress = PaymentProgress(services, "call-1", payment_id, request)
    caller = CallerSide()
    driver = FlowDriver(flow, caller, progress.authorize, progress)
    payment = Payment(payment_id, flow, driver, caller, gateway, finished, charge_released)
    return payment, records


async def key_until(payment: Payment, point: str) -> None:
    """Key the card up to ``point`` (part of that entry included), as in the e2e test."""
    where = HANGUP_POINTS[point]
    stop, partial = where if where is not None else (len(CARD_STEPS), 0)
    for prompt, keys in CARD_STEPS[:stop]:
        await payment.key(prompt, keys)
    if where is not None:
        await payment.key(CARD_STEPS[stop][0], CARD_STEPS[stop][1][:partial])
        await payment.driver.caught_up()
        return
    await payment.hears("processing")
    if point == "result":
        payment.release_charge()
        await payment.hears("payment-approved")


async def key_rest(payment: Payment, point: str) -> None:
    """Key the rest of the card after ``point``."""
    where = HANGUP_POINTS[point]
    if where is not None:
        start, partial = where
        payment.press(CARD_STEPS[start][1][partial:])
        for prompt, keys in CARD_STEPS[start + 1 :]:
            await payment.key(prompt, keys)
        await payment.hears("processing")
    payment.release_charge()
    await payment.hears("payment-approved")


async def check_stored(
    database: Database, records: StoreRecords, payment: Payment, finish: Finish
) -> StoredPayment:
    """The outcome as PostgreSQL has it, its CRM activity and the gateway's charges; returns
    the stored payment."""
    await records.drain()
    stored = await PaymentStore(database).get_payment(uuid.UUID(payment.payment_id))
    assert stored.outcome is finish.outcome
    assert stored.amount_minor == AMOUNT_MINOR
    card = finish.masked_card
    assert (stored.brand, stored.last_four) == (
        (card.brand.value, card.last_four) if card is not None else (None, None)
    )
    approved = finish.outcome is Outcome.APPROVED
    [entry] = [e for e in await crm_list(database, limit=1000) if e.payment_id == stored.id]
    assert entry.activity["Payment ID"] == payment.payment_id
    assert entry.activity["Payment Status"] == ("Success" if approved else "Failed")
    assert entry.activity["Amount Charged"] == ("$137.42" if approved else "$0.00")
    assert entry.activity["Amount Requested"] == "$137.42"
    assert entry.activity["Transaction ID"] == (finish.reference or "")
    assert payment.gateway.processor.ledger.charges(payment.payment_id) == (1 if approved else 0)
    if approved:
        assert set(stored.steps.values()) == {StepStatus.DONE}
    assert not payment.flow.holds_card_data()
    return stored


VISA_CARD = MaskedCard(Brand.VISA, "4242")


@pytest.mark.parametrize("agent_present", [True, False], ids=["agent-on-the-line", "pay-line"])
@pytest.mark.parametrize("point", list(HANGUP_POINTS))
async def test_the_caller_hangs_up(database: Database, point: str, agent_present: bool) -> None:
    """Before the charge the payment ends as the caller hung up (the steps they finished and
    the one they were on stored); a charge already sent, or being read out, is approved.
    Nobody is given back: the session hangs up the agent's leg, as Dial() would."""
    payment, records = await start_payment(database, agent_present)
    running = asyncio.create_task(payment.driver.run())
    await key_until(payment, point)
    payment.post(CallerHangup())
    if point == "authorizing":
        payment.release_charge()  # the answer comes after the caller left
    finish = await asyncio.wait_for(running, WAIT)

    assert payment.finished == [finish]  # the agent's screen is told
    stored = await check_stored(database, records, payment, finish)
    assert payment.caller.given_back == []
    if point in STEP_AT:
        position = CARD_ORDER.index(STEP_AT[point])
        card_known = position > CARD_ORDER.index(Step.CARD_NUMBER)
        assert finish == Finish(
            Outcome.CALLER_HUNG_UP,
            "the caller hung up",
            masked_card=VISA_CARD if card_known else None,
        )
        # The steps finished, the one the caller was on, those not reached.
        assert [stored.steps[step] for step in CARD_ORDER] == (
            [StepStatus.DONE] * position
            + [StepStatus.FAILED]
            + [StepStatus.WAITING] * (len(CARD_ORDER) - position - 1)
        )
    else:
        assert (finish.outcome, finish.reason) == (Outcome.APPROVED, "approved")
        assert finish.masked_card == VISA_CARD
        assert finish.reference is not None
    if point == "result":
        closing = "returning-to-agent" if agent_present else "goodbye"
        assert payment.caller.heard[-2:] == ["payment-approved", closing]


@pytest.mark.parametrize("point", list(HANGUP_POINTS))
async def test_the_agent_hangs_up(database: Database, point: str) -> None:
    """The payment goes on: the caller keys the rest and is charged, hears the outcome and
    "goodbye" (what was already said when the agent left during the result), and is not
    given back (the session hangs them up, ``calls.after_agent_hangup``)."""
    payment, records = await start_payment(database, agent_present=True)
    running = asyncio.create_task(payment.driver.run())
    await key_until(payment, point)
    payment.post(AgentHangup())
    if point != "result":
        await key_rest(payment, point)
    payment.prompt_ends()  # the result's announcement
    finish = await asyncio.wait_for(running, WAIT)

    assert finish.outcome is Outcome.APPROVED
    assert finish.masked_card == VISA_CARD
    assert payment.finished == [finish]
    await check_stored(database, records, payment, finish)
    closing = "returning-to-agent" if point == "result" else "goodbye"
    assert payment.caller.heard[-3:] == ["processing", "payment-approved", closing]
    assert payment.caller.given_back == [False]
