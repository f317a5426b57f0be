"""Events in: the Stasis application. Channels arrive with ``Stasis(payivr,<entry>,...)``.

Entries (the Stasis arguments):

- ``takeover,caller|agent,<key>``: both legs of a call bridged by ``Dial()``, moved here by
  one AMI ``Redirect`` (or the dialplan); the key pairs them. A payment request registered
  for the key (``*7`` with an amount, or the console) starts at once.
- ``inbound,<agent endpoint>``: payivr answers, dials the agent and bridges them; paying then
  needs no redirect.
- ``payline[,<amount minor>[,<reference>]]``: the self-service pay line, no agent.
- ``transfer,<agent endpoint>[,<amount minor>[,<item>]]``: warm transfer: the caller pays,
  then payivr dials the same agent back.
- ``dialed,<key>``: a leg payivr originated itself.

Anything else goes back to the dialplan with an apology, never dropped. A call whose two
legs a stopped payivr left in Stasis is taken back at the next start: caller and agent are
bridged together again (see :meth:`StasisApplication.reconcile`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from payivr.ari.client import AriClient
from payivr.ari.errors import AriError
from payivr.ari.events import (
    AriEvent,
    BridgeDestroyed,
    ChannelDestroyed,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelLeftBridge,
    ChannelStateChange,
    ChannelVarset,
    PlaybackContinuing,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
)
from payivr.ari.models import Channel, Snapshot
from payivr.ari.router import Call, CallClosed, EventRouter
from payivr.calls.payment import PaymentRefused
from payivr.calls.requests import PaymentRequest, RequestRefused
from payivr.calls.session import AmountFrom, CallSession, refuse_channel
from payivr.calls.wiring import CallServices
from payivr.core.channels import endpoint_of
from payivr.core.errors import PayivrError
from payivr.core.redact import has_digit_run
from payivr.core.request import EntryKind

log = structlog.get_logger(__name__)

LEG_WAIT_SECONDS = 10.0
CALL_KEY_VARIABLE = "PAYIVR_CALL"
"""On each leg of a call with an agent: ``<entry>/<caller|agent>/<call key>``."""
_SAFE_KEY = re.compile(r"^[A-Za-z0-9._-]{1,80}$")
UNREAD_EVENTS: frozenset[type[AriEvent]] = frozenset({
    PlaybackStarted, PlaybackContinuing, ChannelVarset, ChannelEnteredBridge, ChannelLeftBridge,
    ChannelStateChange, BridgeDestroyed,
})
"""Events no call handler reads (sessions, payments, takeovers, the outbound dialer): a
payment's 30 ``PlaybackStarted`` alone would wake its task 30 times for nothing."""
_PAIRED_ENTRIES = (EntryKind.TAKEOVER, EntryKind.INBOUND, EntryKind.OUTBOUND)  # two legs


def _paired_entry(mark: str) -> EntryKind:
    """The entry a channel's mark names; a call of two legs marked otherwise is a takeover."""
    for entry in _PAIRED_ENTRIES:
        if entry.value == mark:
            return entry
    return EntryKind.TAKEOVER


class UnknownCall(PayivrError, LookupError):
    """No call payivr holds matches the request."""


class AgentDirectory(Protocol):
    """Whose calls an endpoint's are: the console accounts (``payivr agent add --endpoint``)."""

    async def agent_on_endpoint(self, endpoint: str) -> str | None: ...


@dataclass(frozen=True)
class KnownAgent:
    """The console account ``*7``'s check found on the agent's phone: the takeover files the
    payment under it without asking the database again."""

    endpoint: str
    name: str


@dataclass(frozen=True)
class _ExpectedTakeover:
    request: PaymentRequest | None
    started: asyncio.Future[str]
    from_agent_phone: bool
    agent: KnownAgent | None


UNASSIGNED_AGENT = "agent without an account"
"""Files the payments of an endpoint no account has when the endpoint itself cannot be
stored (7+ digits in a row are refused as possible card data wherever people read)."""


class StasisApplication:
    def __init__(self, services: CallServices, agents: AgentDirectory | None = None) -> None:
        self.services = services
        self._agents = agents
        self.router = EventRouter(assign=self._assign, handler=self._run_call, unread=UNREAD_EVENTS)
        self.sessions: dict[str, CallSession] = {}
        self._expected: dict[str, _ExpectedTakeover] = {}
        self._placed: dict[str, Callable[[Call], Awaitable[None]]] = {}

    @property
    def ari(self) -> AriClient:
        return self.services.ari

    # ------------------------------------------------------------- outside requests

    def expect_takeover(
        self,
        key: str,
        request: PaymentRequest | None,
        from_agent_phone: bool = False,
        agent: KnownAgent | None = None,
    ) -> asyncio.Future[str]:
        """A takeover with this key is on its way (AMI redirect): start ``request`` on it.

        The future gets the payment id once the payment started (or the reason it did not).
        ``from_agent_phone``: the agent keyed ``*7``; without a request (no amount), or when
        it cannot start, their console opens the request form. ``agent``: the account
        already found on the agent's phone.
        """
        started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._expected[key] = _ExpectedTakeover(request, started, from_agent_phone, agent)
        return started

    def place_call(self, key: str, handler: Callable[[Call], Awaitable[None]]) -> Call:
        """A call payivr places itself (outbound) or takes back after a restart: ``handler``
        runs it. Bind its channel ids to the returned call (before originating them)."""
        self._placed[key] = handler
        return self.router.open_call(key)

    def forget_takeover(self, key: str) -> None:
        self._expected.pop(key, None)

    async def agent_name(self, endpoint: str) -> str:
        """The console account whose phone ``endpoint`` (e.g. PJSIP/1001) is: payments, the
        console and the CRM name the agent by it. Without one, the endpoint itself."""
        name = None
        if self._agents is not None:
            try:
                name = await self._agents.agent_on_endpoint(endpoint)
            except Exception as error:  # the database is away: the call goes on unnamed
                log.warning("agent_lookup_failed", error=type(error).__name__)
        if name is not None:
            return name
        return UNASSIGNED_AGENT if has_digit_run(endpoint) else endpoint

    def session_for_agent(self, endpoint: str) -> CallSession | None:
        for session in self.sessions.values():
            if session.agent_endpoint == endpoint and not session.ended.is_set():
                return session
        return None

    async def request_payment(self, call_key: str, request: PaymentRequest) -> str:
        """Start a payment on a call payivr holds; returns the payment id."""
        request.check(self.max_amount_minor)
        session = self.sessions.get(call_key)
        if session is None or session.ended.is_set():
            raise UnknownCall(f"no call {call_key!r} in payivr's hands")
        return await session.request_payment(request)

    @property
    def max_amount_minor(self) -> int:
        return int(self.services.max_amount_minor)

    # ------------------------------------------------------------- routing

    def _assign(self, event: StasisStart) -> str | None:
        args = event.args
        if len(args) >= 3 and args[0] == "takeover" and _SAFE_KEY.match(args[2]):
            return f"takeover-{args[2]}"
        if len(args) >= 2 and args[0] == "dialed":
            return args[1]
        return f"call-{event.channel.id}"

    async def _run_call(self, call: Call) -> None:
        placed = self._placed.pop(call.key, None)
        if placed is not None:
            try:
                await placed(call)
            finally:
                self.sessions.pop(call.key, None)
            return
        first = await call.next_event()
        if not isinstance(first, StasisStart):
            return
        args = first.args
        entry = args[0] if args else ""
        try:
            if entry == "takeover" and len(args) >= 3 and args[1] in ("caller", "agent"):
                await self._takeover(call, first)
            elif entry == "inbound" and len(args) >= 2:
                await self._inbound(call, first, args[1])
            elif entry == "payline":
                await self._payline(call, first, args[1:])
            elif entry == "transfer" and len(args) >= 2:
                await self._transfer(call, first, args[1], args[2:])
            else:
                log.warning("unknown_stasis_entry", channel=first.channel.id, args_count=len(args))
                await refuse_channel(self.ari, first.channel.id, "request-not-understood")
        finally:
            self.sessions.pop(call.key, None)

    # ------------------------------------------------------------- entries

    async def _takeover(self, call: Call, first: StasisStart) -> None:
        legs = {first.args[1]: first}
        try:
            async with asyncio.timeout(LEG_WAIT_SECONDS):
                while len(legs) < 2:
                    event = await call.next_event()
                    if isinstance(event, StasisStart) and len(event.args) >= 2:
                        legs[event.args[1]] = event
                    elif isinstance(event, StasisEnd | ChannelDestroyed | ChannelHangupRequest):
                        break
        except TimeoutError:
            pass
        expected = self._expected.pop(first.args[2], None)
        request = expected.request if expected else None
        started = expected.started if expected else None
        if set(legs) != {"caller", "agent"}:
            log.warning("takeover_incomplete", call=call.key, legs=sorted(legs))
            if started is not None and not started.done():
                started.set_exception(PaymentRefused("only one leg of the call reached payivr"))
            for leg in legs.values():
                await refuse_channel(self.ari, leg.channel.id, "payments-unavailable")
            return
        caller, agent = legs["caller"].channel, legs["agent"].channel
        session = await self.open_session(
            call,
            caller.id,
            agent.id,
            EntryKind.TAKEOVER,
            agent.name,
            caller.caller.number if caller.caller else None,
            expected.agent if expected else None,
            caller_language=caller.language,
        )
        await self.mark_legs(session)
        await session.run(
            first_request=request,
            first_started=started,
            ask_agent=expected is not None and expected.from_agent_phone,
        )

    async def _inbound(self, call: Call, first: StasisStart, endpoint: str) -> None:
        caller = first.channel
        await self.ari.channels.answer(caller.id)
        agent_id = f"payivr-agent-{uuid.uuid4().hex[:12]}"
        call.bind_channel(agent_id)
        try:
            await self.ari.channels.originate(
                endpoint,
                channel_id=agent_id,
                app=self.services.app,
                app_args=["dialed", call.key],
                caller_id=caller.caller.number if caller.caller else None,
                dial_timeout=30,
            )
        except AriError as error:
            log.warning("agent_dial_failed", call=call.key, error=type(error).__name__)
            await refuse_channel(self.ari, caller.id, "payments-unavailable")
            return
        if not await self._wait_for_answer(call, agent_id, caller.id):
            await refuse_channel(self.ari, caller.id, "payments-unavailable")
            return
        session = await self.open_session(
            call,
            caller.id,
            agent_id,
            EntryKind.INBOUND,
            endpoint,
            caller.caller.number if caller.caller else None,
            caller_language=caller.language,
        )
        await self.mark_legs(session)
        await session.run()

    async def _payline(self, call: Call, first: StasisStart, args: Sequence[str]) -> None:
        """The caller pays alone: the amount the IVR sent, or (none sent) one they key."""
        caller = first.channel
        amount = args[0] if args else ""
        reference = args[1] if len(args) > 1 and args[1] else "Payment"
        if not amount:
            await self.ari.channels.answer(caller.id)
            number = caller.caller.number if caller.caller else None
            session = await self.open_session(
                call, caller.id, None, EntryKind.PAYLINE, None, number,
                caller_language=caller.language,
            )
            await session.run(amount_from=AmountFrom.CALLER, reference=reference)
            return
        if not (amount.isascii() and amount.isdigit()) or int(amount) <= 0:
            await refuse_channel(self.ari, caller.id, "request-not-understood")
            return
        await self.ari.channels.answer(caller.id)
        request = PaymentRequest(
            reference,
            int(amount),
            self.services.currency,
            "pay line",
        )
        try:
            request.check(self.max_amount_minor)
        except RequestRefused:
            await refuse_channel(self.ari, caller.id, "request-not-understood")
            return
        session = await self.open_session(
            call,
            caller.id,
            None,
            EntryKind.PAYLINE,
            None,
            caller.caller.number if caller.caller else None,
            caller_language=caller.language,
        )
        await session.run(first_request=request)

    async def _transfer(
        self, call: Call, first: StasisStart, transferrer: str, args: Sequence[str]
    ) -> None:
        """The caller pays alone, then payivr dials the agent who transferred them (named by
        their channel, ``PJSIP/1001-0000002a``, or endpoint). Without an amount, the agent's
        console asks for it while the caller holds."""
        caller = first.channel
        endpoint = endpoint_of(transferrer)
        amount = args[0] if args else ""
        item = args[1] if len(args) > 1 and args[1] else "Payment"
        request = None
        if amount.isascii() and amount.isdigit():
            request = PaymentRequest(
                item,
                int(amount),
                self.services.currency,
                await self.agent_name(endpoint),
            )
        try:
            if request is None and amount:
                raise RequestRefused("the transfer's amount is not a number")
            if request is not None:
                request.check(self.max_amount_minor)
        except RequestRefused as refused:
            log.warning("transfer_refused", call=call.key, reason=str(refused))
            await refuse_channel(self.ari, caller.id, "request-not-understood")
            return
        await self.ari.channels.answer(caller.id)
        session = await self.open_session(
            call,
            caller.id,
            None,
            EntryKind.TRANSFER,
            endpoint,
            caller.caller.number if caller.caller else None,
            caller_language=caller.language,
        )
        session.legs.return_to = endpoint
        if request is None:
            await session.run(amount_from=AmountFrom.AGENT)
        else:
            await session.run(first_request=request)

    # ------------------------------------------------------------- helpers

    async def open_session(
        self,
        call: Call,
        caller: str,
        agent: str | None,
        entry: EntryKind,
        agent_channel: str | None,
        caller_number: str | None,
        known_agent: KnownAgent | None = None,
        *,
        caller_language: str | None = None,
    ) -> CallSession:
        """A session for the call, the agent named by their console account (``known_agent``
        when it is the account of the agent channel's endpoint). ``caller_language``: the
        caller channel's language as payivr got the channel (its ``StasisStart``)."""
        endpoint = endpoint_of(agent_channel) if agent_channel else None
        if known_agent is not None and known_agent.endpoint == endpoint:
            name: str | None = known_agent.name
        else:
            name = await self.agent_name(endpoint) if endpoint else None
        session = CallSession(self.services, call, caller, agent, entry, name, caller_number)
        session.agent_endpoint = endpoint
        session.caller_language = caller_language
        self.sessions[call.key] = session
        return session

    async def mark_legs(self, session: CallSession) -> None:
        """Tag both legs with the call key, so a restarted payivr can pair them again."""
        for role, channel in (("caller", session.legs.caller), ("agent", session.legs.agent)):
            if channel is not None:
                with contextlib.suppress(AriError):
                    await self.ari.channels.set_variable(
                        channel,
                        CALL_KEY_VARIABLE,
                        f"{session.entry.value}/{role}/{session.call.key}",
                    )

    async def _wait_for_answer(self, call: Call, channel_id: str, caller_id: str) -> bool:
        try:
            async with asyncio.timeout(35):
                while True:
                    event = await call.next_event()
                    if isinstance(event, StasisStart) and event.channel.id == channel_id:
                        return True
                    if isinstance(event, StasisEnd | ChannelDestroyed | ChannelHangupRequest):
                        return False
        except (TimeoutError, CallClosed):
            return False

    # ------------------------------------------------------------- reconnects

    async def reconcile(self, snapshot: Snapshot) -> None:
        """After each (re)connect: resume what is ours, release what no one owns."""
        report = self.router.resync(snapshot)
        keep = {session.bridge_id for session in self.sessions.values()}
        with contextlib.suppress(AriError):
            await self.ari.bridges.destroy_leftovers(
                self.services.bridge_prefix, keep=keep, bridges=report.leftover_bridges
            )
        await self._take_back(report.orphan_channels)

    async def _take_back(self, orphans: Sequence[Channel]) -> None:
        """Channels in Stasis that no call holds, left by a payivr that stopped: a caller and
        agent pair is bridged together again; any other channel goes back to the dialplan.

        The payment they were in cannot go on (its digits died with that payivr): the
        recovery ends it from the gateway's answer (:mod:`payivr.calls.recovery`).
        """
        pairs: dict[str, dict[str, Channel]] = {}
        entries: dict[str, EntryKind] = {}
        released: list[Channel] = []
        for channel in orphans:
            try:
                mark = await self.ari.channels.get_variable(channel.id, CALL_KEY_VARIABLE)
            except AriError:
                mark = ""
            entry, role, key = [*mark.split("/", 2), "", ""][:3]
            if role in ("caller", "agent") and _SAFE_KEY.match(key):
                pairs.setdefault(key, {})[role] = channel
                entries[key] = _paired_entry(entry)
            else:
                released.append(channel)
        for key, legs in pairs.items():
            if set(legs) == {"caller", "agent"} and key not in self.router.calls:
                log.info("call_taken_back", call=key)
                resume = functools.partial(
                    self._resume, entry=entries[key], caller=legs["caller"], agent=legs["agent"]
                )
                call = self.place_call(key, resume)
                call.bind_channel(legs["caller"].id)
                call.bind_channel(legs["agent"].id)
            else:
                released.extend(legs.values())
        for channel in released:
            log.info("orphan_channel_released", channel=channel.id)
            await refuse_channel(self.ari, channel.id, "payments-unavailable")

    async def _resume(self, call: Call, entry: EntryKind, caller: Channel, agent: Channel) -> None:
        """Caller and agent of a call taken back: whatever kept the agent from hearing the
        caller's keys is undone, then they talk again and a new payment can be requested."""
        music = self.services.calls.music_on_hold_class
        undo = (
            self.ari.channels.stop_moh(agent.id)
            if music
            else self.ari.channels.stop_silence(agent.id),
            self.ari.channels.unmute(agent.id, "in" if music else "both"),
        )
        for step in undo:
            with contextlib.suppress(AriError):
                await step
        session = await self.open_session(
            call,
            caller.id,
            agent.id,
            entry,
            agent.name,
            caller.caller.number if caller.caller else None,
            caller_language=caller.language,
        )
        await session.run()


__all__ = ["KnownAgent", "PaymentRefused", "RequestRefused", "StasisApplication", "UnknownCall"]
