"""Call control logic: one :class:`CallSession` per call payivr holds in Stasis.

A session owns the call's :class:`~payivr.calls.legs.Legs` (the caller's leg and, when there
is one, the agent's) and one bridge (``mixing,dtmf_events``: without ``dtmf_events`` two SIP
channels are bridged natively and the caller's digits reach the agent). It opens payments
(:mod:`payivr.calls.payment` runs each) and, before the first one of a pay-line or transfer
call without an amount, asks for the amount. When either leg hangs up outside a payment the
other is hung up too (as ``Dial()`` would); during a payment the flow decides.

One task runs a session: it reads the call's queue, where the router puts Asterisk's events
and the session its commands (:class:`PaymentAsked`, its timers, :class:`PaymentOver`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from payivr.ami.takeover import MAX_AMOUNT_DIGITS, parse_amount
from payivr.ari.client import AriClient
from payivr.ari.errors import AriError, ChannelGone, Conflict, Unprocessable
from payivr.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from payivr.ari.router import Call, CallClosed, CallCommand, CallEvent, Resynced
from payivr.calls.agent_keys import AMOUNT_SECONDS, AgentKeys, AgentRequest
from payivr.calls.driver import CallGone, EventsResumed, PlaybackEnded
from payivr.calls.legs import Legs
from payivr.calls.media import CallerPrompts
from payivr.calls.notifier import (
    CallEnded as CallEndedEvent,
)
from payivr.calls.notifier import (
    CallStarted,
    PaymentFormRequested,
    PaymentStarted,
)
from payivr.calls.payment import PaymentOver, PaymentRefused, PaymentRun, check_talk_through
from payivr.calls.records import PaymentOpening
from payivr.calls.requests import PaymentRequest, feature_code_request
from payivr.calls.wiring import CallServices
from payivr.core.amounts import amount_problem
from payivr.core.events import (
    AgentCancellation,
    AgentHangup,
    AgentReask,
    CallerHangup,
    KeyPress,
    Prompt,
    Step,
)
from payivr.core.prompts import LANGUAGES
from payivr.core.request import EntryKind, PrivacyMode

log = structlog.get_logger(__name__)

KEYS = frozenset("0123456789*#")

BRIDGE_TYPE = ("mixing", "dtmf_events")


@dataclass(frozen=True)
class PaymentAsked(CallCommand):
    """Start ``request`` on the call (console, AMI, pay line); ``started`` gets the payment
    id or :class:`PaymentRefused`."""

    request: PaymentRequest
    started: asyncio.Future[str] | None = None


@dataclass(frozen=True)
class OpeningPromptEnded(CallCommand):
    """The prompt played before the first payment ended."""


@dataclass(frozen=True)
class OpeningTimedOut(CallCommand):
    """No amount came in time before the first payment (from the caller or the agent)."""


@dataclass(frozen=True)
class AgentAmountExpired(CallCommand):
    """The agent keyed ``*7`` and no complete amount after it in time."""


class AmountFrom(enum.Enum):
    """Who gives the amount of a call's first payment when the call came without one."""

    CALLER = "caller"  # the pay-line caller keys it
    AGENT = "agent"  # the transferring agent's console asks for it while the caller holds


@dataclass
class _Opening:
    """Before the first payment of a pay-line or transfer call that came without an amount."""

    amount_from: AmountFrom
    prompts: CallerPrompts
    reference: str = "Payment"
    keys: str = ""
    attempts: int = 0
    timer: asyncio.TimerHandle | None = None

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class CallSession:
    def __init__(
        self,
        services: CallServices,
        call: Call,
        caller: str,
        agent: str | None,
        entry: EntryKind,
        agent_name: str | None,
        caller_number: str | None,
    ) -> None:
        self.services = services
        self.call = call
        self.entry = entry
        self.agent_name = agent_name
        self.caller_number = caller_number
        self.legs = Legs(
            services.ari,
            services.app,
            call,
            caller,
            agent,
            f"{services.bridge_prefix}{call.key}",
        )
        self._bridge_made = False
        self.payment: PaymentRun | None = None
        self.agent_endpoint: str | None = None
        # CHANNEL(language) of the caller's channel when payivr got it; None: asked of
        # Asterisk when a payment starts (a call payivr placed itself).
        self.caller_language: str | None = None
        self._agent_keys = AgentKeys()  # *7 keyed on a call in payivr's bridge
        self._amount_timer: asyncio.TimerHandle | None = None
        self._agent_request_waiting: AgentRequest | None = None  # for the payment to end
        self._opening: _Opening | None = None
        self.started_at = datetime.now(UTC)
        self.ended = asyncio.Event()

    @property
    def bridge_id(self) -> str:
        return self.legs.bridge_id

    # ------------------------------------------------------------- outside requests

    async def request_payment(self, request: PaymentRequest) -> str:
        """Start a payment on this call; returns its id. Raises :class:`PaymentRefused`."""
        started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.call.post(PaymentAsked(request, started))
        return await started

    def cancel_payment(self) -> bool:
        """The agent cancels the payment in progress; False when there is none."""
        if self.payment is None:
            return False
        self.payment.driver.post(AgentCancellation())
        return True

    def reask_step(self, step: Step) -> bool:
        """The agent sends the caller back to ``step``; False when there is no payment or
        the caller is not where that step can be asked again."""
        return self.payment is not None and self.payment.driver.post_if_acted_on(AgentReask(step))

    @property
    def payment_id(self) -> str | None:
        return self.payment.payment_id if self.payment else None

    # ------------------------------------------------------------- running

    async def run(
        self,
        first_request: PaymentRequest | None = None,
        first_started: asyncio.Future[str] | None = None,
        ask_agent: bool = False,
        amount_from: AmountFrom | None = None,
        reference: str = "Payment",
    ) -> None:
        """Bridge the legs and serve the call until it ends. ``ask_agent``: the agent keyed
        ``*7``; unless ``first_request`` starts, their console opens the request form.
        ``amount_from``: no request yet, the caller keys the amount (to pay ``reference``)
        or the transferring agent is asked for it."""
        ari = self.services.ari
        legs = self.legs
        self.call.pass_on = self._pass_on
        await self.services.notifier.publish(
            CallStarted(
                self.call.key, self.agent_name, self.caller_number, self.entry, self.agent_endpoint
            )
        )
        try:
            self.call.bind_bridge(legs.bridge_id)
            await ari.bridges.create(legs.bridge_id, type=BRIDGE_TYPE, name=self.call.key)
            self._bridge_made = True
            await ari.bridges.add_channel(legs.bridge_id, legs.present)
            if first_request is not None:
                await self._payment_asked(PaymentAsked(first_request, first_started))
            if ask_agent and self.payment is None:
                await self._ask_agent(
                    first_request.amount_minor if first_request else None,
                    _refusal(first_started),
                )
            if amount_from is not None:
                await self._open(amount_from, reference)
            while (
                not (legs.caller_gone or legs.agent_gone)
                or self.payment is not None
                or self._opening is not None
            ):
                try:
                    event = await self.call.next_event()
                except CallClosed:
                    break
                await self._handle(event)
        except ChannelGone:
            log.info("call_leg_gone_during_setup", call=self.call.key)
            if first_started is not None and not first_started.done():
                first_started.set_exception(PaymentRefused("the call ended before the payment"))
        finally:
            self.call.pass_on = None
            if self._amount_timer is not None:
                self._amount_timer.cancel()
            await self._tidy()
            self.ended.set()
            await self.services.notifier.publish(CallEndedEvent(self.call.key, self.agent_name))

    def _pass_on(self, event: CallEvent) -> bool:
        """During a payment, the caller's keys and the ends of playbacks go to its flow:
        True when ``event`` was one of them (the call's :attr:`~Call.pass_on`, so the
        session's task is not woken for the bulk of a payment's events)."""
        payment = self.payment
        if payment is None:
            return False
        if isinstance(event, ChannelDtmfReceived):
            # A-D (some handsets have them) are no key of the flow's: ignored, not a crash.
            if event.channel.id != self.legs.caller or event.digit not in KEYS:
                return False
            payment.driver.post(KeyPress(event.digit))
            return True
        if isinstance(event, PlaybackFinished):
            payment.driver.post(PlaybackEnded(event.playback.id))
            return True
        return False

    async def _handle(self, event: CallEvent) -> None:
        if self._pass_on(event):
            return
        legs = self.legs
        payment = self.payment
        match event:
            case ChannelDtmfReceived(channel=channel, digit=digit):
                if channel.id == legs.caller and self._opening is not None:
                    await self._caller_amount_key(digit)
                elif channel.id == legs.agent and (
                    payment is None or payment.driver.finished is not None
                ):
                    await self._agent_asked(self._agent_keys.key(digit))
            case PlaybackFinished(playback=playback):
                if self._opening is not None:
                    await self._caller_media(self._opening.prompts.playback_finished(playback.id))
            case StasisEnd() | ChannelDestroyed() | ChannelHangupRequest():
                self._leg_gone(event.channel.id)
            case StasisStart(channel=channel) if channel.id == legs.agent and self._bridge_made:
                legs.agent_ringing = False
                await self.services.ari.bridges.add_channel(legs.bridge_id, channel.id)
            case Resynced():
                await self._resynced(event)
            case PaymentAsked():
                await self._payment_asked(event)
            case OpeningPromptEnded() if self._opening is not None:
                await self._opening_prompt_done()
            case OpeningTimedOut() if self._opening is not None:
                await self._opening_timed_out()
            case AgentAmountExpired():
                await self._agent_asked(self._agent_keys.expired())
            case PaymentOver():
                self.payment = None
                if payment is not None:
                    await payment.wait()
                waiting, self._agent_request_waiting = self._agent_request_waiting, None
                if waiting is not None:
                    await self._agent_asked(waiting)

    async def _resynced(self, resynced: Resynced) -> None:
        """The event WebSocket came back: what happened in the gap was not seen.

        Legs that left are hung up for us; a dialled-back agent who answered meanwhile is
        bridged; a payment re-issues what it was waiting for (the prompt's end, the timers).
        """
        legs = self.legs
        for channel in resynced.gone:
            self._leg_gone(channel)
        if legs.agent_ringing and legs.agent in resynced.present:
            with contextlib.suppress(Conflict, Unprocessable):
                await self.services.ari.bridges.add_channel(legs.bridge_id, legs.agent)
                legs.agent_ringing = False
        if self.payment is not None and not legs.caller_gone:
            self.payment.driver.post(EventsResumed())

    async def _caller_media(self, request: Awaitable[None]) -> None:
        """A request on the caller's channel before a payment; a gone caller has hung up."""
        try:
            await request
        except CallGone:
            self._leg_gone(self.legs.caller)

    def _leg_gone(self, channel_id: str) -> None:
        legs = self.legs
        if channel_id == legs.caller and not legs.caller_gone:
            legs.caller_gone = True
            if self._opening is not None:
                self._opening.cancel_timer()
                self._opening = None
            if self.payment is not None:
                self.payment.driver.post(CallerHangup())
        elif channel_id == legs.agent and not legs.agent_gone:
            legs.agent_gone = True
            if self.payment is not None:
                self.payment.driver.post(AgentHangup())

    async def _payment_asked(self, asked: PaymentAsked) -> None:
        started = asked.started
        try:
            payment_id = await self._start_payment(asked.request)
        except PaymentRefused as refused:
            if started is not None and not started.done():
                started.set_exception(refused)
            return
        if started is not None and not started.done():
            started.set_result(payment_id)

    # ------------------------------------------------------------- *7 in payivr's bridge

    async def _agent_asked(self, request: AgentRequest | None) -> None:
        """After one of the agent's keys: wait for the amount, or act on a complete ``*7``."""
        if request is None:
            if self._agent_keys.reading_amount and self._amount_timer is None:
                self._amount_timer = asyncio.get_running_loop().call_later(
                    AMOUNT_SECONDS, self.call.post, AgentAmountExpired()
                )
            return
        if self._amount_timer is not None:
            self._amount_timer.cancel()
            self._amount_timer = None
        if self.payment is not None:  # keyed as the last payment was ending
            self._agent_request_waiting = request
            return
        reason = None
        if request.amount_minor is not None:
            services = self.services
            agent = self.agent_name or self.agent_endpoint or ""
            try:
                await self._start_payment(
                    feature_code_request(
                        request.amount_minor, services.currency, agent, services.calls
                    )
                )
                return
            except PaymentRefused as refused:
                reason = str(refused)
        await self._ask_agent(request.amount_minor, reason)

    async def _ask_agent(self, amount_minor: int | None, reason: str | None) -> None:
        """The agent's console opens the request form for this call."""
        await self.services.notifier.publish(
            PaymentFormRequested(
                self.call.key, self.agent_name, amount_minor, self.services.currency, reason
            )
        )

    # ------------------------------------------------------------- before the first payment

    async def _open(self, amount_from: AmountFrom, reference: str) -> None:
        prompts = CallerPrompts(
            self.services.ari,
            self.legs.caller,
            playback_prefix=f"payivr-{self.call.key}-opening-",
            language=await self._prompt_language(),
            post=lambda _: self.call.post(OpeningPromptEnded()),
        )
        self._opening = _Opening(amount_from, prompts, reference)
        if amount_from is AmountFrom.AGENT:
            await self._ask_agent(None, None)
            self._opening.timer = asyncio.get_running_loop().call_later(
                self.services.calls.transfer_request_timeout,
                self.call.post,
                OpeningTimedOut(),
            )
            await self._opening_play("transfer-hold")
        else:
            await self._opening_play("enter-amount")

    async def _opening_play(self, *prompts: str) -> None:
        assert self._opening is not None
        await self._caller_media(self._opening.prompts.play(tuple(Prompt(p) for p in prompts), 0))

    async def _opening_prompt_done(self) -> None:
        """The hold prompt ended: music until the agent's request; the amount prompt ended:
        the caller has flow.no_input_timeout to key it."""
        opening = self._opening
        assert opening is not None
        if opening.amount_from is AmountFrom.AGENT:
            music = self.services.calls.music_on_hold_class
            if music:
                with contextlib.suppress(AriError):
                    await self.services.ari.channels.start_moh(self.legs.caller, music)
        elif opening.timer is None:
            opening.timer = asyncio.get_running_loop().call_later(
                self.services.flow.no_input_timeout,
                self.call.post,
                OpeningTimedOut(),
            )

    async def _caller_amount_key(self, digit: str) -> None:
        """The pay-line caller keys the amount in minor units, then #; * starts over."""
        opening = self._opening
        assert opening is not None
        if opening.amount_from is not AmountFrom.CALLER:
            return
        await opening.prompts.stop_playing()
        opening.cancel_timer()
        if digit == "#":
            amount = parse_amount(opening.keys)
            opening.keys = ""
            if amount is None or amount > self.services.max_amount_minor:
                await self._caller_amount_failed()
                return
            request = PaymentRequest(
                opening.reference,
                amount,
                self.services.currency,
                "pay line",
            )
            try:
                await self._start_payment(request)
            except PaymentRefused as refused:
                log.warning("payline_payment_refused", call=self.call.key, error=str(refused))
                await self._give_caller_back("payments-unavailable")
            return
        opening.keys = "" if digit == "*" else (opening.keys + digit)[:MAX_AMOUNT_DIGITS]
        await self._opening_prompt_done()  # the wait for the next key starts again

    async def _caller_amount_failed(self) -> None:
        assert self._opening is not None
        self._opening.attempts += 1
        if self._opening.attempts >= self.services.flow.max_attempts:
            await self._give_caller_back("invalid-amount")
        else:
            await self._opening_play("invalid-amount", "enter-amount")

    async def _opening_timed_out(self) -> None:
        opening = self._opening
        assert opening is not None
        opening.timer = None
        if opening.amount_from is AmountFrom.CALLER:
            await self._caller_amount_failed()
            return
        # The agent sent no request in time: the caller goes back to them.
        log.info("transfer_request_timed_out", call=self.call.key)
        await self._close_opening()
        if self.legs.return_to is not None:
            with contextlib.suppress(AriError):
                await self.services.ari.bridges.remove_channel(
                    self.legs.bridge_id, self.legs.caller
                )
            await self.legs.dial_back(self.legs.return_to)

    async def _give_caller_back(self, prompt: str) -> None:
        """No payment here: the dialplan plays ``prompt`` and goes on (the pay line's
        fallback), as for any request payivr cannot serve."""
        await self._close_opening()
        await refuse_channel(self.services.ari, self.legs.caller, prompt)
        self.legs.caller_gone = True

    async def _close_opening(self) -> None:
        opening, self._opening = self._opening, None
        if opening is None:
            return
        opening.cancel_timer()
        await opening.prompts.stop_playing()
        if opening.amount_from is AmountFrom.AGENT and self.services.calls.music_on_hold_class:
            with contextlib.suppress(AriError):
                await self.services.ari.channels.stop_moh(self.legs.caller)

    # ------------------------------------------------------------- a payment

    async def _start_payment(self, request: PaymentRequest) -> str:
        if self.payment is not None:
            raise PaymentRefused("a payment is already in progress on this call")
        if self.legs.caller_gone:
            raise PaymentRefused("the caller has hung up")
        services = self.services
        # Every way in (console, *7 over AMI or FastAGI, pay line, transfer) starts here.
        problem = amount_problem(request.amount_minor, request.currency, services.max_amount_minor)
        if problem is not None:
            raise PaymentRefused(problem)
        self._agent_keys = AgentKeys()
        method = request.method
        if method not in services.flow.accepted_methods:
            raise PaymentRefused(f"payments by {method.value} are not taken here")
        if request.privacy_mode is PrivacyMode.TALK_THROUGH:
            await check_talk_through(services, self.legs.caller)
        opening = PaymentOpening(
            call_key=self.call.key,
            agent=request.agent,
            agent_channel=self.legs.agent,
            item=request.item,
            amount_minor=request.amount_minor,
            currency=request.currency,
            entry=self.entry,
            privacy_mode=request.privacy_mode,
            caller_number=self.caller_number,
            crm_record_id=request.crm_record_id,
            method=request.method,
        )
        try:
            payment_id = await services.records.open(opening)
        except Exception as error:
            log.warning("payment_not_opened", call=self.call.key, error=type(error).__name__)
            raise PaymentRefused("payments are unavailable: the database did not answer") from None
        language = await self._prompt_language(request.language)
        run = PaymentRun(services, self.call, self.legs, payment_id, request, language)
        self.payment = run
        await self._close_opening()
        await services.notifier.publish(
            PaymentStarted(
                payment_id,
                self.call.key,
                request.agent,
                request.item,
                request.amount_minor,
                request.currency,
                request.privacy_mode,
                self.entry,
                request.method,
                run.language,
            )
        )
        try:
            await run.begin()
        except PaymentRefused:
            self.payment = None
            raise
        return payment_id

    async def _prompt_language(self, chosen: str | None = None) -> str:
        """The request's language (``chosen``), else the caller's channel language when payivr
        has prompts in it (``es_MX`` counts as ``es``), else ``calls.language``."""
        if chosen is not None:
            return chosen
        channel_language = self.caller_language
        if channel_language is None:
            try:
                channel = await self.services.ari.channels.get(self.legs.caller)
            except AriError:
                channel_language = ""
            else:
                channel_language = channel.language
        for candidate in (channel_language, channel_language.split("_")[0]):
            if candidate in LANGUAGES:
                return candidate
        return self.services.calls.language

    # ------------------------------------------------------------- the end

    async def _tidy(self) -> None:
        """Hang up what is left, destroy the bridge: nothing outlives the call."""
        ari = self.services.ari
        for channel in self.legs.present:
            with contextlib.suppress(AriError):
                await ari.channels.hangup(channel, reason="normal")
        if self._bridge_made:
            with contextlib.suppress(AriError):
                await ari.bridges.destroy(self.legs.bridge_id)
        with contextlib.suppress(CallClosed):
            self.call.unbind_bridge(self.legs.bridge_id)


def _refusal(started: asyncio.Future[str] | None) -> str | None:
    """Why the payment behind ``started`` did not start (None when it did, or is pending)."""
    if started is None or not started.done() or started.cancelled():
        return None
    error = started.exception()
    return str(error) if error is not None else None


async def refuse_channel(ari: AriClient, channel_id: str, prompt: str) -> None:
    """For a channel payivr cannot serve: back to the dialplan, which plays ``prompt``.

    The dialplan after ``Stasis()`` plays ``sound:payivr/<lang>/${PAYIVR_ERROR}`` when set, so
    the apology is heard in full and the call goes on there, never dropped.
    """
    with contextlib.suppress(AriError):
        await ari.channels.set_variable(channel_id, "PAYIVR_ERROR", prompt)
        await ari.channels.continue_in_dialplan(channel_id)
