"""Placing an outbound collection call: the agent's phone first, then the customer.

1. The agent asks (console or API): the campaign's calling hours are checked in the
   customer's time zone, a row goes into ``outbound_calls``, and the agent's endpoint is
   originated into ``Stasis(payivr,outbound,agent,<key>)``.
2. The agent answers: they hear ringing while the customer's number is originated through the
   trunk (``[outbound] trunk``) with the campaign's caller ID into
   ``Stasis(payivr,outbound,customer,<key>)``. The agent hanging up (or cancelling in the
   console) cancels it.
3. The customer's leg ends without answering: its hangup cause (and the Dial status) gives
   the outcome: busy, no answer, unreachable (:func:`unanswered_outcome`).
4. Answered: with ``detect_machines`` the leg continues in the dialplan (``AMD()`` in
   ``[payivr-outbound-amd]``), which returns it as ``Stasis(payivr,outbound,amd,<key>,
   <AMDSTATUS>,<AMDCAUSE>)``. A machine is *voicemail*: both legs are hung up. A person (or
   AMD not sure) is connected.
5. Connected: a :class:`~payivr.calls.session.CallSession` (entry ``outbound``) bridges them
   (``mixing,dtmf_events``) and payments run as on any call.

Every change is stored and published to the agent's console as an ``outbound`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from uuid import UUID

import structlog

from payivr.ari.client import AriClient
from payivr.ari.errors import AriError
from payivr.ari.events import (
    AriEvent,
    ChannelDestroyed,
    ChannelHangupRequest,
    Dial,
    StasisEnd,
    StasisStart,
)
from payivr.ari.router import Call, CallClosed, CallEvent, Resynced
from payivr.calls.notifier import OutboundCallChanged
from payivr.calls.stasis import StasisApplication
from payivr.config import OutboundSettings
from payivr.core.campaigns import (
    Campaign,
    OutsideCallingHours,
    check_calling_hours,
    customer_zone,
    parse_campaign,
)
from payivr.core.errors import PayivrError
from payivr.core.redact import redact_card_data
from payivr.core.request import EntryKind
from payivr.outbound.store import CallOutcome, OutboundCall, OutboundCalls, Status
from payivr.store.models import Clock

log = structlog.get_logger(__name__)

GRACE_SECONDS = 10.0  # beyond ARI's own dial timeout, before payivr gives up waiting
AMD_WAIT_SECONDS = 15.0  # AMD()'s total analysis time is 5 s by default
CALL_KEY_VARIABLE = "PAYIVR_CALL"  # read by [payivr-outbound-amd]
APP_VARIABLE = "PAYIVR_APP"  # the Stasis application [payivr-outbound-amd] returns to

# Dial events while the customer's phone is still being reached: not how the attempt ended (at
# the dial timeout Asterisk publishes no last status, so RINGING would be the last one seen).
UNDECIDED_DIAL_STATUSES = frozenset({"", "PROCEEDING", "PROGRESS", "RINGING"})
BUSY_CAUSES = frozenset({17, 21})  # user busy; call rejected (the customer declined)
NO_ANSWER_CAUSES = frozenset({18, 19})  # no user responding; no answer
UNREACHABLE_CAUSES = frozenset(
    # unallocated number, no route, subscriber absent, number changed, destination out of
    # order, invalid number, congestion, network out of order, temporary failure, switch
    # congestion, channel unavailable, timer expiry
    {1, 2, 3, 20, 22, 27, 28, 34, 38, 41, 42, 44, 102}
)


class OutboundRefused(PayivrError):
    """The call cannot be placed; the message says why, for the agent."""


@dataclass(frozen=True)
class OutboundRequest:
    agent: str  # login name
    agent_endpoint: str  # PJSIP/1001
    phone: str  # E.164
    campaign: str
    time_zone: str
    item: str | None = None
    amount_minor: int | None = None
    currency: str = "USD"


def unanswered_outcome(cause: int | None, dial_status: str | None) -> CallOutcome:
    """What a customer's leg that ended before answering means, from its hangup cause (the
    more precise) or else the Dial status. Asterisk reports any cause it has no Dial status
    for as NOANSWER (``ast_hangup_cause_to_dial_status``), so the cause comes first."""
    if cause in BUSY_CAUSES:
        return CallOutcome.BUSY
    if cause in NO_ANSWER_CAUSES:
        return CallOutcome.NO_ANSWER
    if cause in UNREACHABLE_CAUSES:
        return CallOutcome.UNREACHABLE
    if dial_status == "BUSY":
        return CallOutcome.BUSY
    if dial_status in ("CONGESTION", "CHANUNAVAIL"):
        return CallOutcome.UNREACHABLE
    return CallOutcome.NO_ANSWER


_OUTCOME_TEXT = {
    CallOutcome.BUSY: "the customer's line is busy",
    CallOutcome.NO_ANSWER: "the customer did not answer",
    CallOutcome.UNREACHABLE: "the customer's number cannot be reached",
}


class _Cancelled(PayivrError):
    """The agent cancelled or hung up before the customer was connected."""


class _Attempt:
    """One call in progress: its stored row and the agent's cancel request."""

    def __init__(self, row: OutboundCall, campaign: Campaign) -> None:
        self.row = row
        self.campaign = campaign
        self.cancelled = asyncio.Event()
        short = row.id.hex[:20]
        self.agent_leg = f"payivr-oa-{short}"
        self.customer_leg = f"payivr-oc-{short}"


class OutboundDialer:
    def __init__(
        self,
        stasis: StasisApplication,
        store: OutboundCalls,
        settings: OutboundSettings,
        clock: Clock,
    ) -> None:
        self._stasis = stasis
        self.store = store
        self._settings = settings
        self._clock = clock
        self.campaigns = {c.name: c for c in map(parse_campaign, settings.campaigns)}
        self._live: dict[UUID, _Attempt] = {}

    # ------------------------------------------------------------- outside requests

    async def place(self, request: OutboundRequest) -> OutboundCall:
        """Ring the agent, then the customer; returns the stored call at once.

        Raises :class:`OutboundRefused`, :class:`~payivr.core.campaigns.UnknownTimeZone`
        or :class:`~payivr.core.campaigns.OutsideCallingHours`.
        """
        campaign = self.campaigns.get(request.campaign)
        if campaign is None:
            known = ", ".join(sorted(self.campaigns))
            raise OutboundRefused(f"there is no campaign {request.campaign!r} (known: {known})")
        zone = customer_zone(request.time_zone)
        check_calling_hours(campaign, zone, self._clock())
        if self._stasis.session_for_agent(request.agent_endpoint) is not None or any(
            a.row.agent_endpoint == request.agent_endpoint for a in self._live.values()
        ):
            raise OutboundRefused("you are already on a call")
        row = await self.store.add(
            agent=request.agent,
            agent_endpoint=request.agent_endpoint,
            campaign=campaign.name,
            caller_id=campaign.caller_id,
            phone=request.phone,
            time_zone=zone.key,
            item_name=request.item,
            amount_minor=request.amount_minor,
            currency=request.currency,
            now=self._clock(),
        )
        attempt = _Attempt(row, campaign)
        self._live[row.id] = attempt
        log.info(
            "outbound_call_placed",
            outbound=str(row.id),
            phone=row.masked_phone,
            campaign=campaign.name,
        )
        self._stasis.place_call(row.call_key, lambda call: self._run(call, attempt))
        await self._publish(attempt)
        return row

    def cancel(self, outbound_id: UUID) -> bool:
        """Hang up a call not connected yet; False when it is not ringing here."""
        attempt = self._live.get(outbound_id)
        if attempt is None or attempt.row.status in (Status.CONNECTED, Status.ENDED):
            return False
        attempt.cancelled.set()
        return True

    def live(self, outbound_id: UUID) -> OutboundCall | None:
        attempt = self._live.get(outbound_id)
        return attempt.row if attempt is not None else None

    async def recover(self) -> None:
        """At start: calls a stopped payivr left open are ended (they were not connected, or
        their bridge is taken back by the Stasis application's recovery)."""
        for row in await self.store.open_calls():
            if row.id in self._live:
                continue
            answered = row.status is Status.CONNECTED
            await self.store.save(
                replace(
                    row,
                    status=Status.ENDED,
                    outcome=CallOutcome.ANSWERED if answered else CallOutcome.FAILED,
                    detail=row.detail if answered else "payivr stopped during the call",
                    ended_at=self._clock(),
                )
            )

    # ------------------------------------------------------------- the call

    @property
    def _ari(self) -> AriClient:
        return self._stasis.ari

    async def _run(self, call: Call, attempt: _Attempt) -> None:
        try:
            await self._call(call, attempt)
        except _Cancelled as cancelled:
            await self._hang_up(attempt.customer_leg, attempt.agent_leg)
            await self._end(attempt, CallOutcome.CANCELLED, str(cancelled))
        except CallClosed:
            await self._end(attempt, CallOutcome.FAILED, "payivr lost the call")
        except Exception:
            log.exception("outbound_call_failed", outbound=str(attempt.row.id))
            await self._hang_up(attempt.customer_leg, attempt.agent_leg)
            await self._end(attempt, CallOutcome.FAILED, "payivr failed during the call")
        finally:
            self._live.pop(attempt.row.id, None)
            if attempt.row.status is not Status.ENDED:
                # Cancelled at shutdown: the row is ended by the next start's recovery.
                log.info("outbound_call_left_open", outbound=str(attempt.row.id))

    async def _call(self, call: Call, attempt: _Attempt) -> None:
        if not await self._ring_agent(call, attempt):
            return
        try:
            check_calling_hours(
                attempt.campaign, customer_zone(attempt.row.time_zone), self._clock()
            )
        except OutsideCallingHours as closed:
            await self._hang_up(attempt.agent_leg)
            await self._end(attempt, CallOutcome.OUTSIDE_HOURS, str(closed))
            return
        if not await self._ring_customer(call, attempt):
            return
        if self._settings.detect_machines and not await self._detect_machine(call, attempt):
            return
        with contextlib.suppress(AriError):
            await self._ari.channels.ring_stop(attempt.agent_leg)
        await self._connect(call, attempt)

    async def _ring_agent(self, call: Call, attempt: _Attempt) -> bool:
        """True once the agent answered; else the call has ended with its outcome."""
        row = attempt.row
        call.bind_channel(attempt.agent_leg)
        try:
            await self._ari.channels.originate(
                row.agent_endpoint,
                channel_id=attempt.agent_leg,
                app=self._stasis.services.app,
                app_args=["outbound", "agent", row.call_key],
                caller_id=f'"{attempt.campaign.name}" <{row.phone}>',
                dial_timeout=self._settings.agent_ring_seconds,
            )
        except AriError as error:
            await self._end(
                attempt, CallOutcome.FAILED, f"Asterisk could not ring your phone: {error}"
            )
            return False
        wait = self._settings.agent_ring_seconds + GRACE_SECONDS
        while True:
            event = await self._next(call, attempt, wait, "cancelled before your phone answered")
            if event is None:
                await self._hang_up(attempt.agent_leg)
                await self._end(attempt, CallOutcome.AGENT_UNAVAILABLE, "your phone did not answer")
                return False
            if isinstance(event, StasisStart) and event.channel.id == attempt.agent_leg:
                return True
            if _gone(event, attempt.agent_leg):
                await self._end(attempt, CallOutcome.AGENT_UNAVAILABLE, "your phone did not answer")
                return False

    async def _ring_customer(self, call: Call, attempt: _Attempt) -> bool:
        """True once the customer answered; else the call has ended with its outcome."""
        row = attempt.row
        with contextlib.suppress(AriError):
            await self._ari.channels.ring(attempt.agent_leg)
        await self._set(attempt, status=Status.RINGING_CUSTOMER)
        call.bind_channel(attempt.customer_leg)
        endpoint = self._settings.trunk.format(number=row.phone, digits=row.phone.lstrip("+"))
        try:
            await self._ari.channels.originate(
                endpoint,
                channel_id=attempt.customer_leg,
                app=self._stasis.services.app,
                app_args=["outbound", "customer", row.call_key],
                caller_id=attempt.campaign.caller_id,
                dial_timeout=self._settings.customer_ring_seconds,
            )
        except AriError as error:
            await self._hang_up(attempt.agent_leg)
            await self._end(
                attempt,
                CallOutcome.FAILED,
                f"Asterisk could not place the call on the trunk: {error}",
            )
            return False
        cause: int | None = None
        dial_status: str | None = None
        wait = self._settings.customer_ring_seconds + GRACE_SECONDS
        while True:
            event = await self._next(call, attempt, wait, "cancelled before the customer answered")
            if event is None:
                await self._hang_up(attempt.customer_leg, attempt.agent_leg)
                await self._end(
                    attempt, CallOutcome.NO_ANSWER, _OUTCOME_TEXT[CallOutcome.NO_ANSWER]
                )
                return False
            if _gone(event, attempt.agent_leg):
                raise _Cancelled("you hung up before the customer answered")
            if (
                isinstance(event, Dial)
                and event.peer.id == attempt.customer_leg
                and event.dialstatus not in UNDECIDED_DIAL_STATUSES
            ):
                dial_status = event.dialstatus
            elif isinstance(event, ChannelHangupRequest) and event.channel.id == (
                attempt.customer_leg
            ):
                cause = event.cause if event.cause is not None else cause
            elif isinstance(event, StasisStart) and event.channel.id == attempt.customer_leg:
                await self._set(attempt, answered_at=self._clock(), dial_status="ANSWER")
                return True
            elif _gone(event, attempt.customer_leg):
                if isinstance(event, ChannelDestroyed):
                    cause = event.cause or cause
                outcome = unanswered_outcome(cause, dial_status)
                await self._hang_up(attempt.agent_leg)
                await self._end(
                    attempt,
                    outcome,
                    _OUTCOME_TEXT[outcome],
                    hangup_cause=cause,
                    dial_status=dial_status,
                )
                return False

    async def _detect_machine(self, call: Call, attempt: _Attempt) -> bool:
        """AMD() in the dialplan: True for a person (or not sure); a machine ends the call."""
        await self._set(attempt, status=Status.DETECTING)
        ari = self._ari
        customer = attempt.customer_leg
        try:
            await ari.channels.set_variable(customer, CALL_KEY_VARIABLE, attempt.row.call_key)
            # The context returns the customer to this application, not to the default one.
            await ari.channels.set_variable(customer, APP_VARIABLE, self._stasis.services.app)
            await ari.channels.continue_in_dialplan(
                customer, context=self._settings.amd_context, extension="s", priority=1
            )
        except AriError as error:
            log.warning("amd_not_started", outbound=str(attempt.row.id), error=str(error))
            return True  # connect without detection rather than lose a customer who answered
        while True:
            event = await self._next(
                call, attempt, AMD_WAIT_SECONDS, "cancelled before the customer was connected"
            )
            if event is None:
                await self._hang_up(customer, attempt.agent_leg)
                await self._end(
                    attempt, CallOutcome.FAILED, "answering machine detection did not end"
                )
                return False
            if _gone(event, attempt.agent_leg):
                raise _Cancelled("you hung up before the customer was connected")
            if isinstance(event, StasisStart) and event.channel.id == customer:
                args = [*event.args, "", "", "", "", ""]
                status, cause = args[3], args[4]
                await self._set(attempt, amd_status=status[:20], amd_cause=cause[:40])
                if status != "MACHINE":
                    return True
                await self._hang_up(customer, attempt.agent_leg)
                await self._end(attempt, CallOutcome.VOICEMAIL, "an answering machine answered")
                return False
            if isinstance(event, ChannelDestroyed) and event.channel.id == customer:
                await self._hang_up(attempt.agent_leg)
                await self._end(
                    attempt,
                    CallOutcome.NO_ANSWER,
                    "the customer hung up as soon as they answered",
                    hangup_cause=event.cause,
                )
                return False

    async def _connect(self, call: Call, attempt: _Attempt) -> None:
        row = attempt.row
        await self._set(attempt, status=Status.CONNECTED)
        stasis = self._stasis
        session = await stasis.open_session(
            call,
            attempt.customer_leg,
            attempt.agent_leg,
            EntryKind.OUTBOUND,
            row.agent_endpoint,
            row.phone,
        )
        session.agent_name = row.agent
        await stasis.mark_legs(session)
        try:
            await session.run()
        finally:
            await self._end(attempt, CallOutcome.ANSWERED, None)

    # ------------------------------------------------------------- helpers

    async def _next(
        self, call: Call, attempt: _Attempt, within: float, cancelled: str
    ) -> CallEvent | None:
        """The call's next event; None after ``within`` seconds; raises :class:`_Cancelled`
        when the agent cancels in the console. A resync's gone legs read as destroyed."""
        getter = asyncio.ensure_future(call.next_event())
        stop = asyncio.ensure_future(attempt.cancelled.wait())
        try:
            done, _ = await asyncio.wait(
                {getter, stop}, timeout=within, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.cancel()
            if not getter.done():
                getter.cancel()
        if getter in done:
            event = getter.result()
            if isinstance(event, Resynced) and event.gone:
                return await self._resynced(event, attempt)
            return event
        if stop in done:
            raise _Cancelled(cancelled)
        return None

    async def _resynced(self, resynced: Resynced, attempt: _Attempt) -> AriEvent | Resynced:
        """After an ARI reconnect: a leg that went away in the gap ended with no cause seen."""
        for leg in (attempt.agent_leg, attempt.customer_leg):
            if leg in resynced.gone:
                with contextlib.suppress(AriError):
                    await self._ari.channels.get(leg)
                    continue
                return _LegLost(application="", channel_id=leg)
        return resynced

    async def _hang_up(self, *legs: str) -> None:
        for leg in legs:
            with contextlib.suppress(AriError):
                await self._ari.channels.hangup(leg, reason="normal")

    async def _set(self, attempt: _Attempt, **changes: object) -> None:
        attempt.row = replace(attempt.row, **changes)  # type: ignore[arg-type]
        await self._save(attempt)
        if "status" in changes:
            await self._publish(attempt)

    async def _end(
        self,
        attempt: _Attempt,
        outcome: CallOutcome,
        detail: str | None,
        *,
        hangup_cause: int | None = None,
        dial_status: str | None = None,
    ) -> None:
        if attempt.row.status is Status.ENDED:
            return
        attempt.row = replace(
            attempt.row,
            status=Status.ENDED,
            outcome=outcome,
            detail=redact_card_data(detail)[:300] if detail else None,
            hangup_cause=hangup_cause if hangup_cause is not None else attempt.row.hangup_cause,
            dial_status=dial_status or attempt.row.dial_status,
            ended_at=self._clock(),
        )
        log.info(
            "outbound_call_ended",
            outbound=str(attempt.row.id),
            outcome=outcome.value,
            cause=attempt.row.hangup_cause,
        )
        await self._save(attempt)
        await self._publish(attempt)

    async def _save(self, attempt: _Attempt) -> None:
        try:
            await self.store.save(attempt.row)
        except Exception as error:
            log.warning(
                "outbound_call_not_saved", outbound=str(attempt.row.id), error=type(error).__name__
            )

    async def _publish(self, attempt: _Attempt) -> None:
        row = attempt.row
        await self._stasis.services.notifier.publish(
            OutboundCallChanged(
                str(row.id),
                row.call_key,
                row.agent,
                row.campaign,
                row.phone,
                row.status.value,
                row.outcome.value if row.outcome else None,
                row.detail,
            )
        )


@dataclass(frozen=True, kw_only=True)
class _LegLost(AriEvent):
    """A leg found gone after an ARI reconnect (its end was not seen)."""

    channel_id: str

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel_id,)


def _gone(event: CallEvent, channel_id: str) -> bool:
    """Whether ``event`` says the leg is hanging up or has left payivr."""
    if isinstance(event, _LegLost):
        return event.channel_id == channel_id
    return (
        isinstance(event, StasisEnd | ChannelDestroyed | ChannelHangupRequest)
        and event.channel.id == channel_id
    )


__all__ = [
    "OutboundDialer",
    "OutboundRefused",
    "OutboundRequest",
    "unanswered_outcome",
]
