"""Call control logic: one :class:`CallSession` per call payivr holds in Stasis.

A session owns the caller's leg and, when there is one, the agent's leg, plus one bridge
(``mixing,dtmf_events``: without ``dtmf_events`` two SIP channels are bridged natively and
the caller's digits reach the agent). While the caller keys a card it keeps the agent from
hearing the keys, in one of two privacy modes:

- **hold**: the caller leaves the bridge; the agent is muted both ways and hears music on
  hold (or silence); the caller is alone with the prompts.
- **talk-through**: the caller is re-added with ``absorbDTMF=true``: they keep talking, the
  digits reach payivr but not the bridge; prompts play on the caller's channel only.

Afterwards the caller is put back with the agent. When either leg hangs up outside a
payment the other is hung up too (as ``Dial()`` would); during a payment the flow decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import structlog

from payivr.ami.takeover import MAX_AMOUNT_DIGITS, parse_amount
from payivr.ari.client import AriClient
from payivr.ari.errors import AriError, ChannelGone, Conflict, NotFound, Unprocessable
from payivr.ari.events import (
    AriEvent,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from payivr.ari.router import Call, CallClosed, Resynced
from payivr.calls.agent_keys import AMOUNT_SECONDS, AgentKeys, AgentRequest
from payivr.calls.driver import Authorizer, CallGone, FlowDriver, GatewayAnswer
from payivr.calls.media import CallerPrompts
from payivr.calls.notifier import (
    CallEnded as CallEndedEvent,
)
from payivr.calls.notifier import (
    CallStarted,
    Notifier,
    PaymentAuthorizing,
    PaymentFinished,
    PaymentFormRequested,
    PaymentStarted,
    PaymentStepChanged,
)
from payivr.calls.recording import PausedRecordings, RecordingGuard, RecordingNotPaused
from payivr.calls.records import PaymentOpening, PaymentRecords
from payivr.calls.requests import PaymentRequest, feature_code_request
from payivr.config import CallSettings
from payivr.core.amounts import amount_problem
from payivr.core.events import (
    AgentCancellation,
    AgentHangup,
    AgentReask,
    AgentUpdate,
    Authorize,
    CallerHangup,
    Finish,
    KeyPress,
    Outcome,
    Prompt,
    PromptPart,
    Step,
    StepStatus,
)
from payivr.core.flow import FlowConfig, FlowError, PaymentFlow
from payivr.core.prompts import LANGUAGES
from payivr.core.request import EntryKind, PrivacyMode
from payivr.core.steps import STEPS_OF_METHOD

log = structlog.get_logger(__name__)

KEYS = frozenset("0123456789*#")

BRIDGE_TYPE = ("mixing", "dtmf_events")
ANNOUNCEMENT_SECONDS = 30.0
CRASHED_BEFORE_CHARGING = "payivr failed during the payment; nothing was charged"
CRASHED_WHILE_CHARGING = "payivr failed while charging; the gateway will be asked for the outcome"


@dataclass(frozen=True)
class CallServices:
    """Everything a session needs, wired once by the application."""

    ari: AriClient
    app: str
    calls: CallSettings
    flow: FlowConfig
    authorize: Authorizer
    records: PaymentRecords
    notifier: Notifier
    today: Callable[[], date]
    currency: str = "USD"
    max_amount_minor: int = 1_000_000
    bridge_prefix: str = "payivr-"
    recordings: RecordingGuard | None = None  # mutes the operator's call recordings


@dataclass
class _Opening:
    """Before the first payment of a pay-line or transfer call that came without an amount:
    the caller keys the amount (``"caller"``), or the transferring agent's console asks for
    it while the caller holds (``"agent"``)."""

    kind: str
    prompts: CallerPrompts
    reference: str = "Payment"
    keys: str = ""
    attempts: int = 0
    timer: asyncio.TimerHandle | None = None

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


@dataclass(frozen=True)
class _Command:
    """Something asked of the session from outside its events (console, AMI, tests)."""

    kind: str
    request: PaymentRequest | None = None
    done: asyncio.Future[str] | None = None


EVENT_DTMF_MODES = frozenset({"rfc4733", "info", "auto_info"})
"""PJSIP dtmf_mode values whose keys reach Asterisk as events, never as tones in the audio."""


class PaymentRefused(Exception):
    """A payment cannot start on this call now; the message says why."""


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
        self.caller = caller
        self.agent = agent
        self.entry = entry
        self.agent_name = agent_name
        self.caller_number = caller_number
        self.bridge_id = f"{services.bridge_prefix}{call.key}"
        self._bridge_made = False
        self._inbox: asyncio.Queue[AriEvent | Resynced | _Command] = asyncio.Queue()
        self._payment: _PaymentRun | None = None
        self._caller_gone = False
        self._agent_gone = agent is None
        self.agent_endpoint: str | None = None
        self.return_to: str | None = None  # warm transfer: the agent endpoint to dial back
        self._agent_ringing = False  # dialled back, not bridged yet
        self._agent_keys = AgentKeys()  # *7 keyed on a call in payivr's bridge
        self._amount_timer: asyncio.TimerHandle | None = None
        self._agent_request_waiting: AgentRequest | None = None  # for the payment to end
        self._opening: _Opening | None = None
        self.started_at = datetime.now(UTC)
        self.ended = asyncio.Event()

    # ------------------------------------------------------------- outside requests

    async def request_payment(self, request: PaymentRequest) -> str:
        """Start a payment on this call; returns its id. Raises :class:`PaymentRefused`."""
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(_Command("pay", request, done))
        return await done

    def cancel_payment(self) -> bool:
        """The agent cancels the payment in progress; False when there is none."""
        if self._payment is None:
            return False
        self._payment.driver.post(AgentCancellation())
        return True

    def reask_step(self, step: Step) -> bool:
        """The agent sends the caller back to ``step``; False when there is no payment or
        the caller is not where that step can be asked again."""
        return self._payment is not None and self._payment.driver.post_if_acted_on(AgentReask(step))

    @property
    def payment_id(self) -> str | None:
        return self._payment.payment_id if self._payment else None

    # ------------------------------------------------------------- running

    async def run(
        self,
        first_request: PaymentRequest | None = None,
        first_started: asyncio.Future[str] | None = None,
        ask_agent: bool = False,
        opening: str | None = None,
        reference: str = "Payment",
    ) -> None:
        """Bridge the legs and serve the call until it ends. ``ask_agent``: the agent keyed
        ``*7``; unless ``first_request`` starts, their console opens the request form.
        ``opening``: no request yet, ``"caller"`` keys the amount (to pay ``reference``) or
        the transferring ``"agent"`` is asked for it (see :class:`_Opening`)."""
        ari = self.services.ari
        pump = asyncio.create_task(self._pump())
        await self.services.notifier.publish(
            CallStarted(
                self.call.key, self.agent_name, self.caller_number, self.entry, self.agent_endpoint
            )
        )
        try:
            self.call.bind_bridge(self.bridge_id)
            await ari.bridges.create(self.bridge_id, type=BRIDGE_TYPE, name=self.call.key)
            self._bridge_made = True
            legs = [self.caller] + ([self.agent] if self.agent else [])
            await ari.bridges.add_channel(self.bridge_id, legs)
            if first_request is not None:
                await self._command(_Command("pay", first_request, first_started))
            if ask_agent and self._payment is None:
                await self._ask_agent(
                    first_request.amount_minor if first_request else None,
                    _refusal(first_started),
                )
            if opening is not None:
                await self._open(opening, reference)
            while (
                not (self._caller_gone or self._agent_gone)
                or self._payment is not None
                or self._opening is not None
            ):
                item = await self._inbox.get()
                await self._handle(item)
        except ChannelGone:
            log.info("call_leg_gone_during_setup", call=self.call.key)
            if first_started is not None and not first_started.done():
                first_started.set_exception(PaymentRefused("the call ended before the payment"))
        finally:
            pump.cancel()
            if self._amount_timer is not None:
                self._amount_timer.cancel()
            await asyncio.gather(pump, return_exceptions=True)
            await self._tidy()
            self.ended.set()
            await self.services.notifier.publish(CallEndedEvent(self.call.key, self.agent_name))

    async def _pump(self) -> None:
        with contextlib.suppress(CallClosed):
            while True:
                self._inbox.put_nowait(await self.call.next_event())

    async def _handle(self, item: AriEvent | Resynced | _Command) -> None:
        if isinstance(item, _Command):
            await self._command(item)
        elif isinstance(item, Resynced):
            await self._resynced(item)
        elif isinstance(item, ChannelDtmfReceived):
            # A-D (some handsets have them) are no key of the flow's: ignored, not a crash.
            if item.channel.id == self.caller and self._payment is not None and item.digit in KEYS:
                self._payment.driver.post(KeyPress(item.digit))
            elif item.channel.id == self.caller and self._opening is not None:
                await self._caller_amount_key(item.digit)
            elif item.channel.id == self.agent and (
                self._payment is None or self._payment.driver.finished is not None
            ):
                await self._agent_asked(self._agent_keys.key(item.digit))
        elif isinstance(item, PlaybackFinished):
            if self._payment is not None:
                await self._payment_media_call(
                    self._payment.prompts.playback_finished(item.playback.id)
                )
            elif self._opening is not None:
                await self._payment_media_call(
                    self._opening.prompts.playback_finished(item.playback.id)
                )
        elif isinstance(item, StasisEnd | ChannelDestroyed | ChannelHangupRequest):
            self._leg_gone(item.channel.id)
        elif isinstance(item, StasisStart) and item.channel.id == self.agent and self._bridge_made:
            self._agent_ringing = False
            await self.services.ari.bridges.add_channel(self.bridge_id, item.channel.id)

    async def _resynced(self, resynced: Resynced) -> None:
        """The event WebSocket came back: what happened in the gap was not seen.

        Legs that left are hung up for us; a dialled-back agent who answered meanwhile is
        bridged; a payment re-issues what it was waiting for (the prompt's end, the timers).
        """
        for channel in resynced.gone:
            self._leg_gone(channel)
        if self._agent_ringing and self.agent in resynced.present:
            with contextlib.suppress(Conflict, Unprocessable):
                await self.services.ari.bridges.add_channel(self.bridge_id, self.agent)
                self._agent_ringing = False
        if self._payment is not None and not self._caller_gone:
            self._payment.driver.restart_timers()
            await self._payment_media_call(self._payment.prompts.resync())

    async def _payment_media_call(self, call: Awaitable[None]) -> None:
        try:
            await call
        except CallGone:
            self._leg_gone(self.caller)

    def _leg_gone(self, channel_id: str) -> None:
        if channel_id == self.caller and not self._caller_gone:
            self._caller_gone = True
            if self._opening is not None:
                self._opening.cancel_timer()
                self._opening = None
            if self._payment is not None:
                self._payment.driver.post(CallerHangup())
        elif channel_id == self.agent and not self._agent_gone:
            self._agent_gone = True
            if self._payment is not None:
                self._payment.driver.post(AgentHangup())

    async def _command(self, command: _Command) -> None:
        if command.kind == "pay":
            assert command.request is not None
            try:
                payment_id = await self._start_payment(command.request)
            except PaymentRefused as refused:
                if command.done is not None and not command.done.done():
                    command.done.set_exception(refused)
                return
            if command.done is not None and not command.done.done():
                command.done.set_result(payment_id)
        elif command.kind == "opening_prompt_done" and self._opening is not None:
            await self._opening_prompt_done()
        elif command.kind == "opening_timeout" and self._opening is not None:
            await self._opening_timed_out()
        elif command.kind == "agent_amount_expired":
            await self._agent_asked(self._agent_keys.expired())
        elif command.kind == "payment_over":
            run = self._payment
            self._payment = None
            if run is not None:
                await run.task
            waiting, self._agent_request_waiting = self._agent_request_waiting, None
            if waiting is not None:
                await self._agent_asked(waiting)

    # ------------------------------------------------------------- *7 in payivr's bridge

    async def _agent_asked(self, request: AgentRequest | None) -> None:
        """After one of the agent's keys: wait for the amount, or act on a complete ``*7``."""
        if request is None:
            if self._agent_keys.reading_amount and self._amount_timer is None:
                self._amount_timer = asyncio.get_running_loop().call_later(
                    AMOUNT_SECONDS, self._inbox.put_nowait, _Command("agent_amount_expired")
                )
            return
        if self._amount_timer is not None:
            self._amount_timer.cancel()
            self._amount_timer = None
        if self._payment is not None:  # keyed as the last payment was ending
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

    async def _open(self, kind: str, reference: str) -> None:
        prompts = CallerPrompts(
            self.services.ari,
            self.caller,
            playback_prefix=f"payivr-{self.call.key}-opening-",
            language=await self._prompt_language(),
            post=lambda _: self._inbox.put_nowait(_Command("opening_prompt_done")),
        )
        self._opening = _Opening(kind, prompts, reference)
        if kind == "agent":
            await self._ask_agent(None, None)
            self._opening.timer = asyncio.get_running_loop().call_later(
                self.services.calls.transfer_request_timeout,
                self._inbox.put_nowait,
                _Command("opening_timeout"),
            )
            await self._opening_play("transfer-hold")
        else:
            await self._opening_play("enter-amount")

    async def _opening_play(self, *prompts: str) -> None:
        assert self._opening is not None
        await self._payment_media_call(
            self._opening.prompts.play(tuple(Prompt(p) for p in prompts), 0)
        )

    async def _opening_prompt_done(self) -> None:
        """The hold prompt ended: music until the agent's request; the amount prompt ended:
        the caller has flow.no_input_timeout to key it."""
        opening = self._opening
        assert opening is not None
        if opening.kind == "agent":
            music = self.services.calls.music_on_hold_class
            if music:
                with contextlib.suppress(AriError):
                    await self.services.ari.channels.start_moh(self.caller, music)
        elif opening.timer is None:
            opening.timer = asyncio.get_running_loop().call_later(
                self.services.flow.no_input_timeout,
                self._inbox.put_nowait,
                _Command("opening_timeout"),
            )

    async def _caller_amount_key(self, digit: str) -> None:
        """The pay-line caller keys the amount in minor units, then #; * starts over."""
        opening = self._opening
        assert opening is not None
        if opening.kind != "caller":
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
        if opening.kind == "caller":
            await self._caller_amount_failed()
            return
        # The agent sent no request in time: the caller goes back to them.
        log.info("transfer_request_timed_out", call=self.call.key)
        await self._close_opening()
        if self.return_to is not None:
            with contextlib.suppress(AriError):
                await self.services.ari.bridges.remove_channel(self.bridge_id, self.caller)
            await self.dial_back(self.return_to)

    async def _give_caller_back(self, prompt: str) -> None:
        """No payment here: the dialplan plays ``prompt`` and goes on (the pay line's
        fallback), as for any request payivr cannot serve."""
        await self._close_opening()
        await refuse_channel(self.services.ari, self.caller, prompt)
        self._caller_gone = True

    async def _close_opening(self) -> None:
        opening, self._opening = self._opening, None
        if opening is None:
            return
        opening.cancel_timer()
        await opening.prompts.stop_playing()
        if opening.kind == "agent" and self.services.calls.music_on_hold_class:
            with contextlib.suppress(AriError):
                await self.services.ari.channels.stop_moh(self.caller)

    # ------------------------------------------------------------- a payment

    async def _check_talk_through(self) -> None:
        """Talk-through keeps the agent in the caller's bridge: only keys Asterisk receives as
        events can be absorbed (``absorbDTMF``). A caller whose keys may arrive as tones in the
        audio (PJSIP ``dtmf_mode`` inband, or auto, which falls back to inband when the phone
        offers no RFC 4733) would be heard by the agent, as would any channel whose mode
        cannot be read (not PJSIP): those pay on hold."""
        if not self.services.calls.allow_talk_through:
            raise PaymentRefused("talk-through is turned off here (calls.allow_talk_through)")
        try:
            mode = await self.services.ari.channels.get_variable(self.caller, "PJSIP_DTMF_MODE()")
        except AriError:
            mode = "unknown"
        if mode not in EVENT_DTMF_MODES:
            raise PaymentRefused(
                f"talk-through needs the caller's keys as events, but the caller's DTMF mode is"
                f" {mode} (tones in the audio would reach the agent): ask for it on hold"
            )

    async def _start_payment(self, request: PaymentRequest) -> str:
        if self._payment is not None:
            raise PaymentRefused("a payment is already in progress on this call")
        if self._caller_gone:
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
            await self._check_talk_through()
        opening = PaymentOpening(
            call_key=self.call.key,
            agent=request.agent,
            agent_channel=self.agent,
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
        flow_config = services.flow
        if request.offer_card_on_file is not None:
            flow_config = dataclasses.replace(
                flow_config, offer_card_on_file=request.offer_card_on_file
            )
        flow = PaymentFlow(
            payment_id,
            request.amount_minor,
            request.currency,
            flow_config,
            services.today(),
            method=method,
        )
        flow.agent_present = not self._agent_gone or self.return_to is not None
        language = await self._prompt_language(request.language)
        run = _PaymentRun(self, payment_id, request, flow, language)
        self._payment = run
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
            await run.shield_agent()
        except ChannelGone as gone:
            log.info("leg_gone_before_payment", call=self.call.key, error=str(gone))
        except AriError as error:
            # Never ask for a card unless the agent is kept from hearing the keys.
            log.warning("privacy_not_established", call=self.call.key, error=str(error))
            await run.abandon_before_start(
                "not started: the agent could not be kept from hearing the keys; "
                "nothing was charged"
            )
            self._payment = None
            raise PaymentRefused(
                "Asterisk refused to keep the agent from hearing the caller's keys; "
                "the payment was not started"
            ) from None
        try:
            await run.pause_recordings()
        except RecordingNotPaused as refused:
            # Never ask for a card into a recording that keeps it.
            log.warning("recording_not_paused", call=self.call.key)
            await run.abandon_before_start(f"not started: {refused}; nothing was charged")
            self._payment = None
            raise PaymentRefused(f"{refused}; the payment was not started") from None
        run.task = asyncio.create_task(run.drive())
        return payment_id

    async def _prompt_language(self, chosen: str | None = None) -> str:
        """The request's language (``chosen``), else the caller's channel language when payivr
        has prompts in it (``es_MX`` counts as ``es``), else ``calls.language``."""
        if chosen is not None:
            return chosen
        try:
            channel_language = (await self.services.ari.channels.get(self.caller)).language
        except AriError:
            channel_language = ""
        for candidate in (channel_language, channel_language.split("_")[0]):
            if candidate in LANGUAGES:
                return candidate
        return self.services.calls.language

    async def dial_back(self, endpoint: str) -> None:
        """Warm transfer: ring the agent who sent the caller; bridge them on answer."""
        agent_id = f"payivr-agent-{self.call.key[-24:]}"
        self.call.bind_channel(agent_id)
        self.agent = agent_id
        self._agent_gone = False
        self._agent_ringing = True
        self.return_to = None
        await self.services.ari.bridges.add_channel(self.bridge_id, self.caller)
        try:
            await self.services.ari.channels.originate(
                endpoint,
                channel_id=agent_id,
                app=self.services.app,
                app_args=["dialed", self.call.key],
                dial_timeout=30,
            )
        except AriError as error:
            log.warning("dial_back_failed", call=self.call.key, error=type(error).__name__)
            self._agent_gone = True

    # ------------------------------------------------------------- the end

    async def _tidy(self) -> None:
        """Hang up what is left, destroy the bridge: nothing outlives the call."""
        ari = self.services.ari
        for channel, gone in ((self.caller, self._caller_gone), (self.agent, self._agent_gone)):
            if channel is None or gone:
                continue
            with contextlib.suppress(AriError):
                await ari.channels.hangup(channel, reason="normal")
        if self._bridge_made:
            with contextlib.suppress(AriError):
                await ari.bridges.destroy(self.bridge_id)
        with contextlib.suppress(CallClosed):
            self.call.unbind_bridge(self.bridge_id)


class _PaymentRun:
    """One payment on a session: the flow's driver, the caller's prompts, the agent's privacy."""

    def __init__(
        self,
        session: CallSession,
        payment_id: str,
        request: PaymentRequest,
        flow: PaymentFlow,
        language: str,
    ) -> None:
        self.session = session
        self.payment_id = payment_id
        self.request = request
        self.language = language
        self.services = session.services
        self.prompts = CallerPrompts(
            self.services.ari,
            session.caller,
            playback_prefix=f"payivr-{payment_id}-",
            language=language,
            post=lambda event: self.driver.post(event),
        )
        self.driver = FlowDriver(flow, self, self._authorize, self)
        self.task: asyncio.Task[None] = asyncio.create_task(asyncio.sleep(0))
        # A new payment's row has every step of its method waiting already: the flow's
        # opening "waiting" updates need no write (a third of a card payment's writes).
        self._stored_status: dict[Step, StepStatus] = dict.fromkeys(
            STEPS_OF_METHOD[request.method], StepStatus.WAITING
        )
        self._agent_shielded = False
        self._paused_recordings = PausedRecordings()

    # ------------------------------------------------------------- privacy

    async def pause_recordings(self) -> None:
        """Mute the recordings of both legs before the first prompt (RecordingNotPaused)."""
        guard = self.services.recordings
        if guard is None:
            return
        session = self.session
        legs = [session.caller]
        if session.agent is not None and not session._agent_gone:
            legs.append(session.agent)
        self._paused_recordings = await guard.pause(self.payment_id, legs)

    async def _resume_recordings(self) -> None:
        guard = self.services.recordings
        paused, self._paused_recordings = self._paused_recordings, PausedRecordings()
        if guard is not None and paused.channels:
            await guard.resume(self.payment_id, paused)

    async def shield_agent(self) -> None:
        """Keep the agent from hearing the caller's keys (hold or talk-through)."""
        ari = self.services.ari
        session = self.session
        if self.request.privacy_mode is PrivacyMode.TALK_THROUGH:
            await ari.bridges.remove_channel(session.bridge_id, session.caller)
            await ari.bridges.add_channel(session.bridge_id, session.caller, absorb_dtmf=True)
            return
        await ari.bridges.remove_channel(session.bridge_id, session.caller)
        if session.agent is not None and not session._agent_gone:
            self._agent_shielded = True
            moh = self.services.calls.music_on_hold_class
            with contextlib.suppress(ChannelGone):
                # Muting "out" would silence the music too (it is written to the agent's
                # channel): with music the agent is muted inbound only; the caller is out of
                # the bridge either way, so nothing of theirs can reach the agent.
                await ari.channels.mute(session.agent, "in" if moh else "both")
                if moh:
                    await ari.channels.start_moh(session.agent, moh)
                else:
                    await ari.channels.start_silence(session.agent)

    async def abandon_before_start(self, reason: str) -> None:
        """Privacy could not be set up: undo what was done, record that nothing happened."""
        ari = self.services.ari
        session = self.session
        with contextlib.suppress(AriError):
            await ari.bridges.remove_channel(session.bridge_id, session.caller)
        with contextlib.suppress(AriError):
            await ari.bridges.add_channel(session.bridge_id, session.caller)
        await self._unshield_agent()
        self.driver.flow.send(CallerHangup())  # ends the flow; it holds no digits yet
        await self.finished(Finish(Outcome.CANCELLED, reason))

    async def _unshield_agent(self) -> None:
        """Music off, agent unmuted; each step on its own so one failure skips no other."""
        ari = self.services.ari
        session = self.session
        if not self._agent_shielded or session.agent is None or session._agent_gone:
            return
        self._agent_shielded = False
        agent = session.agent
        moh = self.services.calls.music_on_hold_class
        for step in (
            ari.channels.stop_moh(agent) if moh else ari.channels.stop_silence(agent),
            ari.channels.unmute(agent, "in" if moh else "both"),
        ):
            try:
                await step
            except ChannelGone:
                return
            except AriError as error:
                log.warning("agent_unshield_failed", call=session.call.key, error=str(error))

    # ------------------------------------------------------------- CallMedia

    async def play(self, parts: tuple[PromptPart, ...], sequence: int) -> None:
        await self.prompts.play(parts, sequence)

    async def stop(self, sequence: int) -> None:
        await self.prompts.stop(sequence)

    async def reconnect(self, agent_present: bool) -> None:
        try:
            await self._reconnect(agent_present)
        except ChannelGone:
            # Agent-side requests tolerate a gone agent; what escapes is about the caller.
            raise CallGone(self.session.caller) from None
        except AriError as error:
            # The outcome (Finish) comes next and must be recorded whatever happens here.
            log.error("reconnect_failed", payment_id=self.payment_id, error=str(error))
            await self._back_with_agent()

    async def _back_with_agent(self) -> None:
        """Last resort after a failure: the caller back in the bridge (or the agent dialled
        back), one request at a time, each failure logged."""
        ari = self.services.ari
        session = self.session
        if session._caller_gone:
            return
        await self._unshield_agent()
        if session._agent_gone and session.return_to is not None:
            await session.dial_back(session.return_to)
            return
        if session._agent_gone:
            return  # the session hangs the caller up when it ends
        with contextlib.suppress(AriError):
            await ari.bridges.remove_channel(session.bridge_id, session.caller)
        try:
            await ari.bridges.add_channel(session.bridge_id, session.caller)
        except AriError as error:
            log.error("caller_not_reconnected", call=session.call.key, error=str(error))

    async def _reconnect(self, agent_present: bool) -> None:
        ari = self.services.ari
        session = self.session
        await self._unshield_agent()
        if agent_present and not session._agent_gone:
            if self.request.privacy_mode is PrivacyMode.TALK_THROUGH:
                # Re-added without absorbDTMF: keys reach the bridge again.
                with contextlib.suppress(NotFound, Unprocessable):
                    await ari.bridges.remove_channel(session.bridge_id, session.caller)
            await ari.bridges.add_channel(session.bridge_id, session.caller)
            return
        if agent_present and session.return_to is not None:
            await session.dial_back(session.return_to)
            return
        # The agent is gone: the caller heard the outcome and "goodbye".
        if self.services.calls.after_agent_hangup == "continue":
            try:
                await ari.channels.continue_in_dialplan(
                    session.caller,
                    context=self.services.calls.continue_context,
                    extension="s",
                    priority=1,
                )
            except ChannelGone:
                raise CallGone(session.caller) from None
            session._caller_gone = True
        else:
            with contextlib.suppress(ChannelGone):
                await ari.channels.hangup(session.caller, reason="normal")

    # ------------------------------------------------------------- AgentView

    async def step_changed(self, update: AgentUpdate) -> None:
        records = self.services.records
        # The store keeps each step's status; digit counts only go to the agent's screen.
        if self._stored_status.get(update.step) is not update.status:
            self._stored_status[update.step] = update.status
            await records.step(self.payment_id, update.step, update.status)
        if update.masked_card is not None and update.status is StepStatus.DONE:
            await records.card(
                self.payment_id, update.masked_card.brand.value, update.masked_card.last_four
            )
        if update.masked_bank_account is not None:
            await records.bank_account(self.payment_id, update.masked_bank_account)
        await self.services.notifier.publish(
            PaymentStepChanged(self.payment_id, self.session.call.key, self.request.agent, update)
        )

    async def _authorize(self, command: Authorize) -> GatewayAnswer:
        """Mark the payment authorizing, then charge: in the authorization's own task, so the
        caller hears "processing" without waiting for the database (the mark waits for the
        progress queued before it, up to a bound)."""
        await self.services.records.authorizing(self.payment_id, command.idempotency_key)
        await self.services.notifier.publish(
            PaymentAuthorizing(self.payment_id, self.session.call.key, self.request.agent)
        )
        return await self.services.authorize(command)

    async def finished(self, finish: Finish) -> None:
        await self.services.records.finish(self.payment_id, finish)
        await self.services.notifier.publish(
            PaymentFinished(self.payment_id, self.session.call.key, self.request.agent, finish)
        )

    # ------------------------------------------------------------- driving

    async def drive(self) -> None:
        try:
            await self.driver.run()
        except Exception:
            log.exception("payment_crashed", payment_id=self.payment_id)
            await self._end_after_crash()
        finally:
            try:
                # The flow's last prompt has played and the caller is back: recordings resume.
                await self._resume_recordings()
            finally:
                self.session._inbox.put_nowait(_Command("payment_over"))

    async def _announce_failure(self) -> None:
        """Tell the caller the payment failed before reconnecting them: keys they may still
        be pressing must end before the agent can hear them again."""
        session = self.session
        if session._caller_gone:
            return
        agent_back = not session._agent_gone or session.return_to is not None
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def announced(_: object) -> None:
            if not done.done():
                done.set_result(None)

        await self.prompts.stop_playing()
        self.prompts = CallerPrompts(
            self.services.ari,
            session.caller,
            playback_prefix=f"payivr-{self.payment_id}-failed-",
            language=self.language,
            post=announced,
        )
        closing = Prompt("returning-to-agent" if agent_back else "goodbye")
        try:
            await self.prompts.play((Prompt("payment-error"), closing), 0)
            async with asyncio.timeout(ANNOUNCEMENT_SECONDS):
                await done
        except (CallGone, TimeoutError):
            pass

    async def _end_after_crash(self) -> None:
        """The flow broke: wipe it, record an outcome it could not, give the caller back."""
        with contextlib.suppress(FlowError):
            # Ending the flow wipes every digit it holds; the commands are not wanted now.
            self.driver.flow.send(CallerHangup())
        if self.driver.finished is None:
            if self.driver.authorization_sent:
                finish = Finish(Outcome.PENDING, CRASHED_WHILE_CHARGING)
            else:
                finish = Finish(Outcome.CANCELLED, CRASHED_BEFORE_CHARGING)
            try:
                await self.finished(finish)
            except Exception:
                log.exception("crashed_payment_not_recorded", payment_id=self.payment_id)
        try:
            await self._announce_failure()
            await self._back_with_agent()
        except Exception:
            log.exception("caller_not_reconnected", payment_id=self.payment_id)


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
