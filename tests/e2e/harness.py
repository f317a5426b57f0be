"""payivr end to end: the real wiring (``running_payivr``) against an Asterisk (the ARI and AMI
simulators by default, see :mod:`tests.e2e.targets`), the TLS sandbox gateway, a PostgreSQL
database and a CRM receiver, all on 127.0.0.1.

Scenario vocabulary:

- :meth:`System.start_payment` brings a call to the start of a payment through one of the
  entries (:data:`ENTRY_MODES`), as a person would: ``*7`` then the console, the console alone,
  a call routed through payivr, the pay line, a warm transfer.
- :func:`answer_prompt` waits for a prompt then keys; :func:`key_card` keys a whole card.
- :meth:`System.check_after_payment` checks what must hold after every payment: stored
  outcome, CRM activity, at most one charge, no digit at the agent's phone, the bridges.
- :meth:`System.check_nothing_left` checks that no channel or bridge outlives the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from psycopg.conninfo import make_conninfo

from payivr.calls.notifier import PaymentEvent, event_json
from payivr.calls.requests import PaymentRequest
from payivr.cli import Running, running_payivr
from payivr.config import Config, load_config
from payivr.console.passwords import hash_password
from payivr.core.events import Outcome
from payivr.core.request import PrivacyMode
from payivr.gateway.sandbox import KeyFiles, RunningSandbox, read_secret, start_sandbox
from payivr.standard_webhooks import new_secret
from payivr.store.embedded import RUNTIME_ROLE
from tests.e2e.phones import Phone, prompts, real_seconds
from tests.e2e.targets import BRIDGE_PREFIX, ROOT, PbxAccess, Target

__all__ = ["ROOT"]

VISA = "4242424242424242"
DECLINED_CARD = "4000000000000002"
LUHN_FAILURE = "4242424242424241"
AMOUNT_MINOR = 13742
ITEM = "Annual plan"

CARD_STEPS = (
    ("confirm-amount", "1"),
    ("enter-card-number", VISA + "#"),
    ("card-ending-in", "1"),
    ("enter-expiry", "1230"),
    ("expiry-is", "1"),
    ("enter-security-code", "123"),
    ("security-code-entered", "1"),
    ("enter-postal-code", "90210#"),
    ("postal-code-is", "1"),
)
"""A card payment as the caller keys it: the prompt that asks, then the keys that answer."""

HANGUP_POINTS: dict[str, tuple[int, int] | None] = {
    "amount": (0, 0),
    "card-number": (1, 4),
    "expiry": (3, 2),
    "security-code": (5, 1),
    "postal-code": (7, 3),
    "authorizing": None,
    "result": None,
}
"""Where a hang-up comes: on a step (its index in CARD_STEPS, keys of that entry already
pressed), or (None) after the card: while it is charged, or while the result is read out."""

ENTRY_MODES = {
    # name: (entry, privacy mode)
    "star7-hold": ("takeover", "hold"),
    "star7-talk-through": ("takeover", "talk-through"),
    "console-hold": ("takeover", "hold"),
    "console-talk-through": ("takeover", "talk-through"),
    "inbound-hold": ("inbound", "hold"),
    "inbound-talk-through": ("inbound", "talk-through"),
    "payline": ("payline", "hold"),
    "transfer": ("transfer", "hold"),
}
"""Every way a payment starts, with the privacy mode while the caller keys. The pay line and
the transfer have no agent on the line during the payment."""


T = TypeVar("T")


class Arrivals(list[T]):
    """A list that grows as things arrive (payivr's events, a console's WebSocket messages,
    CRM activities): :meth:`first` waits for the one it wants without polling."""

    def __init__(self) -> None:
        super().__init__()
        self._grown = asyncio.Event()

    def append(self, item: T) -> None:
        super().append(item)
        grown, self._grown = self._grown, asyncio.Event()
        grown.set()

    async def first(self, predicate: Callable[[T], bool], within: float) -> T:
        """The first item ``predicate`` accepts, within ``within`` real seconds (already
        scaled: see :meth:`System.seconds`)."""
        async with asyncio.timeout(within):
            while True:
                grown = self._grown
                for item in self:
                    if predicate(item):
                        return item
                await grown.wait()


def payment_events(running: Running) -> Arrivals[dict[str, Any]]:
    """payivr's events from now on, as JSON (as the console's live feed sends them)."""
    events: Arrivals[dict[str, Any]] = Arrivals()

    async def record(event: PaymentEvent) -> None:
        events.append(event_json(event))

    running.notifier.subscribe(record)
    return events


@dataclasses.dataclass
class CrmInbox:
    """A CRM that records every activity posted to it."""

    url: str
    received: Arrivals[dict[str, Any]]
    headers: list[dict[str, str]]


@dataclasses.dataclass
class Call:
    """A call under test: its phones, how it started, and its payment once started."""

    mode: str
    caller: Phone
    agent: Phone | None
    payment_id: str = ""

    @property
    def entry(self) -> str:
        return ENTRY_MODES[self.mode][0]

    @property
    def privacy(self) -> str:
        return ENTRY_MODES[self.mode][1]

    @property
    def agent_on_line(self) -> bool:
        """Whether an agent is in the call while the caller keys."""
        return self.entry in ("takeover", "inbound")


@dataclasses.dataclass
class System:
    target: Target
    running: Running
    sandbox: RunningSandbox
    crm: CrmInbox
    config: Config
    events: Arrivals[dict[str, Any]]

    # ------------------------------------------------------------- phones and calls

    def phones(self, index: int = 0) -> tuple[Phone, Phone]:
        """A customer's phone (``1102``, ``1202``...) and an agent's (``1101``, ``1201``...)."""
        base = 1000 + 100 * (index + 1)
        suffix = f"-{index}" if index else ""
        return (
            self.target.caller_phone(f"caller{suffix}", str(base + 2)),
            self.target.agent_phone(f"agent{suffix}", str(base + 1)),
        )

    async def agent_account(self, agent: Phone) -> str:
        """The console account on ``agent``'s phone, as the operator adds it (``payivr agent
        add``; inserted with one hash made once, to keep the suite fast): ``*7`` is taken only
        from a console account's softphone. Returns its name (password AGENT_PASSWORD)."""
        name = agent_account_name(agent.endpoint)
        async with self.running.database.pool.connection() as conn:
            await conn.execute(
                "INSERT INTO console_accounts (name, endpoint, role, password_hash, created_at,"
                " password_set_at) VALUES (%s, %s, 'agent', %s, now(), now())"
                " ON CONFLICT DO NOTHING",
                (name, agent.endpoint, _agent_password_hash()),
            )
        return name

    async def feature_code(self, caller: Phone, agent: Phone) -> None:
        """The agent keys ``*7`` on a call bridged by Dial(): AMI UserEvent, Redirect, Stasis."""
        name = await self.agent_account(agent)
        await self.target.connect(caller, agent)
        await agent.press("*7")
        # The call is the account's: payivr names the agent by the account on the endpoint.
        await self.wait_event(lambda e: e["type"] == "call_started" and e["agent"] == name)

    async def takeover(self, caller: Phone, agent: Phone, request: PaymentRequest) -> str:
        """``*7``, then the agent's *Request payment* (console/API); returns the payment id."""
        await self.feature_code(caller, agent)
        return await self.running.takeovers.request_for_agent(agent.endpoint, request)

    async def start_payment(self, mode: str, index: int = 0) -> Call:
        """Bring a new call to the start of a payment through ``mode`` (see ENTRY_MODES)."""
        entry, privacy = ENTRY_MODES[mode]
        caller, agent = self.phones(index)
        call = Call(mode, caller, None if entry == "payline" else agent)
        request = PaymentRequest(
            ITEM, AMOUNT_MINOR, "USD", "alice", privacy_mode=PrivacyMode(privacy)
        )
        if mode.startswith("star7"):
            call.payment_id = await self.takeover(caller, agent, request)
        elif mode.startswith("console"):
            await self.target.connect(caller, agent)
            call.payment_id = await self.running.takeovers.request_for_agent(
                agent.endpoint, request
            )
        elif entry == "inbound":
            await self.target.call_entry(caller, "inbound", agent)
            await self.wait_bridged(caller, agent)
            call.payment_id = await self.running.takeovers.request_for_agent(
                agent.endpoint, request
            )
        else:
            await self.target.call_entry(caller, entry, agent if entry == "transfer" else None)
            started = await self.wait_event(
                lambda e: (
                    e["type"] == "payment_started"
                    and e["entry"] == entry
                    and e["payment"] not in self._payments_seen
                )
            )
            call.payment_id = started["payment"]
        self._payments_seen.add(call.payment_id)
        return call

    # ------------------------------------------------------------- waiting

    def seconds(self, within: float) -> float:
        """A wait of ``within`` real seconds, plus call audio at the target's time scale."""
        return real_seconds(within, self.target.time_scale)

    async def wait_event(
        self, predicate: Callable[[dict[str, Any]], bool], within: float = 10
    ) -> dict[str, Any]:
        return await self.events.first(predicate, self.seconds(within))

    async def finished(self, call: Call | None = None, within: float = 15) -> dict[str, Any]:
        return await self.wait_event(
            lambda e: (
                e["type"] == "payment_finished"
                and (call is None or e["payment"] == call.payment_id)
            ),
            within,
        )

    async def call_ended(self, call: Call, within: float = 10) -> None:
        await self.wait_event(
            lambda e: e["type"] == "call_ended" and e["call"] == self._call_key(call), within
        )

    def _call_key(self, call: Call) -> str:
        started = next(
            e
            for e in self.events
            if e["type"] == "payment_started" and e["payment"] == call.payment_id
        )
        return str(started["call"])

    async def bridge_of(self, phone: Phone) -> str | None:
        for bridge in await self.target.bridges():
            if phone.leg is not None and phone.leg in bridge.channels:
                return bridge.id
        return None

    async def bridged(self, caller: Phone, agent: Phone) -> bool:
        """Caller and agent in one bridge, the caller's keys reaching it again."""
        for bridge in await self.target.bridges():
            if {caller.leg, agent.leg} <= bridge.channels:
                return bridge.absorbing is None or caller.leg not in bridge.absorbing
        return False

    async def wait_bridged(self, caller: Phone, agent: Phone, within: float = 5) -> None:
        await self.wait_until(lambda: self.bridged(caller, agent), within)

    async def wait_until(self, check: Callable[[], Any], within: float = 5) -> None:
        """Poll ``check`` (sync, or returning an awaitable) until it is truthy: what it looks
        at (bridges and channels in Asterisk, rows in PostgreSQL) sends the test no event."""
        async with asyncio.timeout(self.seconds(within)):
            while True:
                result = check()
                if asyncio.iscoroutine(result):
                    result = await result
                if result:
                    return
                await asyncio.sleep(0.01)

    # ------------------------------------------------------------- checks

    async def check_after_payment(self, call: Call, outcome: Outcome) -> None:
        """What holds after every payment, whatever its outcome."""
        finished = await self.finished(call)
        assert finished["outcome"] == outcome.value
        payment = await self._stored(call.payment_id, outcome)
        assert payment.amount_minor == AMOUNT_MINOR
        assert payment.entry_kind.value == call.entry
        charges = self.sandbox.processor.ledger.charges(call.payment_id)
        assert charges == 1 if outcome is Outcome.APPROVED else charges <= 1
        activity = await self.crm_activity(call.payment_id)
        assert activity["Payment Status"] == (
            "Success" if outcome is Outcome.APPROVED else "Failed"
        )
        charged = "$137.42" if outcome is Outcome.APPROVED else "$0.00"
        assert activity["Amount Charged"] == charged
        assert activity["Amount Requested"] == "$137.42"
        assert activity["Product Name"] in (ITEM, "INV-1001")
        assert activity["Transaction ID"] == (payment.gateway_reference or "")
        if outcome is Outcome.APPROVED:
            # Progress is stored before the outcome: what may be kept of the card is there.
            assert (payment.brand, payment.last_four) == ("visa", "4242")
            assert {status.value for status in payment.steps.values()} == {"done"}
        if call.agent is not None:
            assert call.agent.received_dtmf == ""  # none of the caller's keys, in any mode

    async def _stored(self, payment_id: str, outcome: Outcome) -> Any:
        """The payment as PostgreSQL has it, once its outcome is written (polled: the test
        hears of no write)."""
        store = self.running.store
        async with asyncio.timeout(self.seconds(10)):
            while True:
                payment = await store.get_payment(uuid.UUID(payment_id))
                if payment.outcome is not None:
                    assert payment.outcome is outcome
                    assert payment.brand in (None, "visa")
                    return payment
                await asyncio.sleep(0.02)

    async def crm_activity(self, payment_id: str, within: float = 10) -> dict[str, Any]:
        envelope = await self.crm.received.first(
            lambda e: e["data"].get("Payment ID") == payment_id, self.seconds(within)
        )
        activity: dict[str, Any] = envelope["data"]
        assert set(activity) >= {
            "Agent",
            "Product Name",
            "Transaction ID",
            "Amount Charged",
            "Payment Status",
            "Timestamp",
        }
        return activity

    async def check_reconnected(self, call: Call) -> None:
        """Caller and agent talk again, in a ``dtmf_events`` bridge, the agent unshielded."""
        assert call.agent is not None
        await self.wait_bridged(call.caller, call.agent)
        bridge_id = await self.bridge_of(call.caller)
        assert bridge_id is not None and bridge_id.startswith(BRIDGE_PREFIX)
        for bridge in await self.target.bridges():
            if bridge.id == bridge_id and bridge.types is not None:
                assert {"mixing", "dtmf_events"} <= bridge.types
                assert bridge.technology != "native_rtp"

    async def hang_up_all(self, *phones: Phone | None) -> None:
        for phone in phones:
            if phone is not None and phone.leg is not None:
                await phone.hangup()

    async def check_nothing_left(self) -> None:
        """No channel in payivr's application and no payivr bridge is left behind."""

        async def clean() -> bool:
            bridges = [b for b in await self.target.bridges() if b.id.startswith(BRIDGE_PREFIX)]
            channels = await self.target.stasis_channels()
            return not bridges and not channels and not self.running.stasis.sessions

        await self.wait_until(clean, within=5)
        if self.target.simulated:
            # Every bridge payivr asked for has dtmf_events (else SIP legs bridge natively).
            created = getattr(self.target, "created_bridge_types", {})
            assert created
            for bridge_id, types in created.items():
                assert {"mixing", "dtmf_events"} <= types, f"{bridge_id} is {sorted(types)}"

    def __post_init__(self) -> None:
        self._payments_seen: set[str] = set()


async def heard(phone: Phone, prompt: str, within: float = 10) -> None:
    await phone.wait_for(lambda p: prompt in prompts(p), within=within)


async def answer_prompt(phone: Phone, prompt: str, keys: str) -> None:
    """Wait until the phone hears ``prompt``, then key ``keys``."""
    await heard(phone, prompt)
    await phone.press(keys, duration_ms=80, gap_ms=120)


async def key_until(caller: Phone, point: str) -> None:
    """Key the card up to ``point`` of :data:`HANGUP_POINTS` (part of that entry included)."""
    where = HANGUP_POINTS[point]
    stop, partial = where if where is not None else (len(CARD_STEPS), 0)
    for prompt, keys in CARD_STEPS[:stop]:
        await answer_prompt(caller, prompt, keys)
    if where is not None:
        await heard(caller, CARD_STEPS[stop][0])
        if partial:
            await caller.press(CARD_STEPS[stop][1][:partial], duration_ms=80, gap_ms=120)
    elif point == "authorizing":
        await heard(caller, "processing")
    else:
        await heard(caller, "payment-approved")


async def key_rest(caller: Phone, point: str) -> None:
    """Key the rest of the card after ``point``."""
    where = HANGUP_POINTS[point]
    if where is None:
        return
    start, partial = where
    await caller.press(CARD_STEPS[start][1][partial:], duration_ms=80, gap_ms=120)
    for prompt, keys in CARD_STEPS[start + 1 :]:
        await answer_prompt(caller, prompt, keys)


async def heard_again(phone: Phone, prompt: str, times: int, within: float = 10) -> None:
    await phone.wait_for(lambda p: prompts(p).count(prompt) >= times, within=within)


async def answer_again(phone: Phone, prompt: str, keys: str, times: int) -> None:
    """Wait until the phone hears ``prompt`` the ``times``-th time, then key ``keys``."""
    await heard_again(phone, prompt, times)
    await phone.press(keys, duration_ms=80, gap_ms=120)


async def key_card_again(caller: Phone, pan: str, times: int) -> None:
    """Key the card number now, then the card's other steps as the caller hears them the
    ``times``-th time."""
    await caller.press(pan + "#", duration_ms=80, gap_ms=120)
    await answer_again(caller, "card-ending-in", "1", times)
    await answer_again(caller, "enter-expiry", "1230", times)
    await answer_again(caller, "expiry-is", "1", times)
    await answer_again(caller, "enter-security-code", "123", times)
    await answer_again(caller, "security-code-entered", "1", times)
    await answer_again(caller, "enter-postal-code", "90210#", times)
    await answer_again(caller, "postal-code-is", "1", times)


async def decline_every_try(caller: Phone, pan: str = DECLINED_CARD, retries: int = 2) -> None:
    """Key a card the gateway declines, then again on each of the ``retries`` more tries
    the caller is offered (the default [flow] decline_retries)."""
    await key_card(caller, pan)
    for times in range(2, retries + 2):
        await heard_again(caller, "declined-try-another-card", times - 1)
        await heard_again(caller, "enter-card-number", times)
        await key_card_again(caller, pan, times)


async def key_card(caller: Phone, pan: str = VISA) -> None:
    """Confirm the amount and key a whole card, confirming each entry."""
    await answer_prompt(caller, "confirm-amount", "1")
    await answer_prompt(caller, "enter-card-number", pan + "#")
    await key_rest_of_card(caller)


async def key_rest_of_card(caller: Phone) -> None:
    """From the card number's read-back on: confirm it, then key and confirm the rest."""
    await answer_prompt(caller, "card-ending-in", "1")
    await answer_prompt(caller, "enter-expiry", "1230")
    await answer_prompt(caller, "expiry-is", "1")
    await answer_prompt(caller, "enter-security-code", "123")
    await answer_prompt(caller, "security-code-entered", "1")
    await answer_prompt(caller, "enter-postal-code", "90210#")
    await answer_prompt(caller, "postal-code-is", "1")


AGENT_PASSWORD = "e2e agent password 1"


@functools.cache
def _agent_password_hash() -> str:
    return hash_password(AGENT_PASSWORD)


def agent_account_name(endpoint: str) -> str:
    """The console account on an agent phone: ``agent 1101`` for PJSIP/1101."""
    return "agent " + " ".join(re.findall(r"[A-Za-z0-9]+", endpoint.partition("/")[2]))[:50]


async def start_test_sandbox(keys: KeyFiles) -> RunningSandbox:
    """The TLS sandbox gateway on a free port, with the session's test keys."""
    return await start_sandbox(
        "127.0.0.1",
        0,
        keys.private_key,
        signing_secret=read_secret(keys.signing_secret),
        tls=Path(keys.private_key).parent,
    )


def system_environment(
    access: PbxAccess,
    database_url: str,
    sandbox: RunningSandbox,
    keys: KeyFiles,
    crm: CrmInbox,
) -> dict[str, str]:
    """payivr's configuration for the simulators, as the environment variables it reads.

    payivr serves as the runtime role; ``database_url``'s superuser is the owner that
    migrates (README, Security: database roles).
    """
    return {
        "PAYIVR_ARI_URL": access.ari_url,
        "PAYIVR_ARI_USER": access.ari_user,
        "PAYIVR_ARI_PASSWORD": access.ari_password,
        "PAYIVR_ARI_APP": access.app,
        "PAYIVR_AMI_HOST": access.ami_host,
        "PAYIVR_AMI_PORT": str(access.ami_port),
        "PAYIVR_AMI_USER": access.ami_user,
        "PAYIVR_AMI_SECRET": access.ami_secret,
        "PAYIVR_DATABASE_URL": make_conninfo(database_url, user=RUNTIME_ROLE),
        "PAYIVR_DATABASE_MIGRATE_URL": database_url,
        "PAYIVR_GATEWAY_URL": sandbox.url,
        "PAYIVR_GATEWAY_PUBLIC_KEY": str(keys.public_key_pem),
        "PAYIVR_GATEWAY_SIGNING_SECRET": read_secret(keys.signing_secret),
        "PAYIVR_GATEWAY_CA_BUNDLE": str(sandbox.ca_file),
        "PAYIVR_CONSOLE_LISTEN": "127.0.0.1:0",
        "PAYIVR_CRM_WEBHOOK_URL": crm.url,
        "PAYIVR_CRM_WEBHOOK_SECRET": new_secret(),
        "PAYIVR_LOG_LEVEL": "DEBUG",
        **access.settings,
    }


@contextlib.asynccontextmanager
async def system_with(
    target: Target,
    database_url: str,
    keys: KeyFiles,
    crm: CrmInbox,
    change: Callable[[Config], None],
) -> AsyncIterator[System]:
    """A System whose configuration ``change`` adjusts first (e.g. AMI off)."""
    sandbox = await start_test_sandbox(keys)
    config = system_config(target.access, database_url, sandbox, keys, crm)
    change(config)
    try:
        async with running_payivr(config) as running:
            events = payment_events(running)
            await asyncio.wait_for(running.events.connected.wait(), 10)
            yield System(target, running, sandbox, crm, config, events)
    finally:
        await sandbox.close()


def system_config(
    access: PbxAccess,
    database_url: str,
    sandbox: RunningSandbox,
    keys: KeyFiles,
    crm: CrmInbox,
    **flow: Any,
) -> Config:
    config = load_config(None, system_environment(access, database_url, sandbox, keys, crm))
    config.flow = dataclasses.replace(config.flow, **flow)
    config.validate()
    return config
