"""A small real CallControl for console tests: calls without Asterisk, payments on the real flow.

Each call is a pair (agent endpoint, caller number). A payment runs the real
:class:`~payivr.core.flow.PaymentFlow` on the real :class:`~payivr.calls.driver.FlowDriver`,
charges the in-process sandbox gateway, is recorded through the real store, and publishes the
real :class:`~payivr.calls.notifier.PaymentEvent` s through the real notifier, as the Stasis
sessions do. The test plays the caller with :meth:`RehearsalCalls.press`. Prompts "play"
instantly, as in ``payivr demo --terminal``.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives.asymmetric import rsa

from payivr.calls.charging import gateway_authorizer
from payivr.calls.driver import FlowDriver
from payivr.calls.notifier import (
    CallEnded,
    CallStarted,
    Notifier,
    PaymentAuthorizing,
    PaymentFinished,
    PaymentStarted,
    PaymentStepChanged,
)
from payivr.calls.payment import PaymentRefused
from payivr.calls.records import PaymentOpening, StoreRecords
from payivr.calls.requests import PaymentRequest
from payivr.calls.stasis import UnknownCall
from payivr.calls.views import CallInfo
from payivr.core.events import (
    AgentCancellation,
    AgentReask,
    AgentUpdate,
    Authorize,
    CallerHangup,
    Finish,
    GatewayAnswer,
    KeyPress,
    Prompt,
    PromptFinished,
    PromptPart,
    Step,
    StepStatus,
)
from payivr.core.flow import FlowConfig, PaymentFlow
from payivr.core.request import EntryKind
from payivr.gateway.inprocess import InProcessGateway
from payivr.store.payments import PaymentStore

_keys = itertools.count(1)
_GATEWAY_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class _Call:
    info: CallInfo
    payment: _Payment | None = None
    prompts: list[tuple[PromptPart, ...]] = field(default_factory=list)
    played: asyncio.Event = field(default_factory=asyncio.Event)


class _Payment:
    def __init__(
        self, owner: RehearsalCalls, call: _Call, payment_id: str, request: PaymentRequest
    ):
        self.owner = owner
        self.call = call
        self.payment_id = payment_id
        self.request = request
        flow = PaymentFlow(
            payment_id, request.amount_minor, request.currency, owner.flow_config, owner.today
        )
        self.driver = FlowDriver(flow, self, self._authorize, self)
        self.task: asyncio.Task[Finish] | None = None

    # CallMedia
    async def play(self, parts: tuple[PromptPart, ...], sequence: int) -> None:
        self.call.prompts.append(parts)
        self.call.played.set()
        asyncio.get_running_loop().call_soon(self.driver.post, PromptFinished(sequence))

    async def stop(self, sequence: int) -> None:
        pass

    async def reconnect(self, agent_present: bool) -> None:
        pass

    async def playback_finished(self, playback_id: str) -> None:
        pass

    async def resync(self) -> None:
        pass

    # AgentView
    async def step_changed(self, update: AgentUpdate) -> None:
        records = self.owner.records
        await records.step(self.payment_id, update.step, update.status)
        if update.masked_card is not None and update.status is StepStatus.DONE:
            await records.card(
                self.payment_id, update.masked_card.brand.value, update.masked_card.last_four
            )
        await self.owner.notifier.publish(
            PaymentStepChanged(self.payment_id, self.call.info.call_key, self.request.agent, update)
        )

    async def _authorize(self, command: Authorize) -> GatewayAnswer:
        """As payivr's calls do: say the payment is with the gateway, then charge."""
        await self.owner.notifier.publish(
            PaymentAuthorizing(self.payment_id, self.call.info.call_key, self.request.agent)
        )
        return await self.owner.authorize(command)

    async def finished(self, finish: Finish) -> None:
        await self.owner.records.finish(self.payment_id, finish)
        await self.owner.records.drain()
        self.call.payment = None
        self.call.info = CallInfo(
            self.call.info.call_key,
            self.call.info.agent_endpoint,
            self.call.info.caller_number,
            self.call.info.started_at,
        )
        await self.owner.notifier.publish(
            PaymentFinished(self.payment_id, self.call.info.call_key, self.request.agent, finish)
        )


class RehearsalCalls:
    """Implements :class:`payivr.console.ports.CallControl`."""

    def __init__(
        self,
        store: PaymentStore,
        notifier: Notifier,
        *,
        flow_config: FlowConfig | None = None,
        today: date | None = None,
    ) -> None:
        self.records = StoreRecords(store)
        self.notifier = notifier
        self.flow_config = flow_config or FlowConfig()
        self.today = today or datetime.now(UTC).date()
        self.gateway = InProcessGateway(private_key=_GATEWAY_KEY)
        self.authorize = gateway_authorizer(self.gateway)
        self.calls: dict[str, _Call] = {}

    # ------------------------------------------------------------- the test's side

    async def place_call(self, agent_endpoint: str, caller_number: str = "+15550100") -> str:
        key = f"call-{next(_keys)}"
        self.calls[key] = _Call(CallInfo(key, agent_endpoint, caller_number, datetime.now(UTC)))
        await self.notifier.publish(
            CallStarted(key, agent_endpoint, caller_number, EntryKind.TAKEOVER)
        )
        return key

    async def hang_up(self, key: str) -> None:
        call = self.calls.pop(key)
        if call.payment is not None:
            call.payment.driver.post(CallerHangup())
            assert call.payment.task is not None
            await call.payment.task
        await self.notifier.publish(CallEnded(key, call.info.agent_endpoint))

    async def press(self, key: str, digits: str, pause: float = 0.0) -> None:
        """The caller keys ``digits`` (0-9, *, #), one by one."""
        payment = self.calls[key].payment
        assert payment is not None, "no payment in progress"
        for digit in digits:
            payment.driver.post(KeyPress(digit))
            await asyncio.sleep(pause)

    async def decline_every_try(self, key: str, keys: str, retries: int = 2) -> None:
        """The caller keys ``keys`` (from the amount's 1 on, with a card the gateway
        declines), then the card again on each of the ``retries`` more tries offered."""
        await self.press(key, keys)
        for tries in range(1, retries + 1):
            await self.heard(key, "declined-try-another-card", tries)
            await self.press(key, keys[1:])  # the amount is not asked again

    async def heard(self, key: str, prompt: str, times: int = 1) -> None:
        """Wait until the caller of ``key`` has heard ``prompt`` ``times`` times."""
        call = self.calls[key]
        while sum(Prompt(prompt) in parts for parts in call.prompts) < times:
            call.played.clear()
            await call.played.wait()

    async def wait_finished(self, key: str, payment_id: str) -> None:
        call = self.calls[key]
        if call.payment is not None and call.payment.payment_id == payment_id:
            assert call.payment.task is not None
            await call.payment.task

    # ------------------------------------------------------------- CallControl

    async def current_call(self, agent_endpoint: str) -> CallInfo | None:
        for call in self.calls.values():
            if call.info.agent_endpoint == agent_endpoint:
                return call.info
        return None

    async def call(self, call_key: str) -> CallInfo | None:
        call = self.calls.get(call_key)
        return call.info if call else None

    async def active_calls(self) -> list[CallInfo]:
        return [call.info for call in self.calls.values()]

    async def request_for_agent(self, agent_endpoint: str, request: PaymentRequest) -> str:
        info = await self.current_call(agent_endpoint)
        if info is None:
            raise UnknownCall(f"no call for {agent_endpoint}")
        return await self.request_on_call(info.call_key, request)

    async def request_on_call(self, call_key: str, request: PaymentRequest) -> str:
        request.check(1_000_000)
        call = self.calls.get(call_key)
        if call is None:
            raise UnknownCall(call_key)
        if call.payment is not None:
            raise PaymentRefused("a payment is already in progress on this call")
        payment_id = await self.records.open(
            PaymentOpening(
                call_key=call_key,
                agent=request.agent,
                agent_channel=None,
                item=request.item,
                amount_minor=request.amount_minor,
                currency=request.currency,
                entry=EntryKind.TAKEOVER,
                privacy_mode=request.privacy_mode,
                caller_number=call.info.caller_number,
                crm_record_id=request.crm_record_id,
            )
        )
        payment = _Payment(self, call, payment_id, request)
        call.payment = payment
        call.info = CallInfo(
            call_key,
            call.info.agent_endpoint,
            call.info.caller_number,
            call.info.started_at,
            payment_id,
        )
        await self.notifier.publish(
            PaymentStarted(
                payment_id,
                call_key,
                request.agent,
                request.item,
                request.amount_minor,
                request.currency,
                request.privacy_mode,
                EntryKind.TAKEOVER,
                request.method,
                request.language or "en",  # these calls have no channel to ask
            )
        )
        payment.task = asyncio.create_task(payment.driver.run())
        return payment_id

    async def cancel_payment(self, payment_id: str) -> bool:
        for call in self.calls.values():
            if call.payment is not None and call.payment.payment_id == payment_id:
                call.payment.driver.post(AgentCancellation())
                return True
        return False

    async def reask_step(self, payment_id: str, step: Step) -> bool:
        for call in self.calls.values():
            if call.payment is not None and call.payment.payment_id == payment_id:
                return call.payment.driver.post_if_acted_on(AgentReask(step))
        return False
