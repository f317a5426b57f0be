"""Taking over a call bridged by ``Dial()``: the ``*7`` feature code, FastAGI and the console.

Either way the same thing happens: payivr registers the payment request under a fresh key,
then one AMI ``Redirect`` (with ``ExtraChannel``) moves both legs into
``Stasis(payivr,takeover,caller|agent,<key>)``, where the key pairs them with the request.
A call payivr already holds in Stasis needs no redirect.

A ``*7`` request (AMI UserEvent, FastAGI) names its channels and amount itself, so anyone
able to raise the event (an AMI account with ``write = user``) or to reach the FastAGI port
could forge one. Nothing is redirected unless the agent channel is the softphone of an
enabled console account, Asterisk says now (each channel's ``BRIDGEPEER`` is the other) that
exactly the agent and the peer are bridged together, and the amount is within ``flow.max_amount_minor`` (the one
check of :mod:`payivr.core.amounts`).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import structlog

from payivr.ami.client import ActiveCall
from payivr.ami.errors import AmiError, InvalidTakeoverRequest
from payivr.ami.takeover import RequestSource, TakeoverRequest
from payivr.calls.notifier import PaymentFormRequested
from payivr.calls.payment import PaymentRefused
from payivr.calls.requests import PaymentRequest, RequestRefused, feature_code_request
from payivr.calls.stasis import AgentDirectory, KnownAgent, StasisApplication, UnknownCall
from payivr.config import CallSettings
from payivr.core.channels import endpoint_of
from payivr.core.errors import PayivrError

log = structlog.get_logger(__name__)

TAKEOVER_SECONDS = 15.0


class AmiTakeover(Protocol):
    async def find_call(self, endpoint: str) -> ActiveCall | None: ...

    async def bridged_together(self, agent_channel: str, peer_channel: str) -> bool: ...

    async def take_over(self, request: TakeoverRequest) -> None: ...


class TakeoverRefused(PayivrError):
    """A ``*7`` request that does not hold up; the message says why (no channel names)."""


class AmountRefused(TakeoverRefused):
    """The amount keyed after ``*7`` cannot be paid (``agent``: whose phone keyed it)."""

    def __init__(self, reason: str, agent: str) -> None:
        super().__init__(reason)
        self.agent = agent


class Takeovers:
    def __init__(
        self,
        stasis: StasisApplication,
        ami: AmiTakeover | None,
        calls: CallSettings,
        currency: str,
        *,
        agents: AgentDirectory,
    ) -> None:
        self._stasis = stasis
        self._ami = ami
        self._calls = calls
        self._currency = currency
        self._agents = agents

    async def on_feature_code(self, takeover: TakeoverRequest) -> None:
        """``*7`` (AMI UserEvent or FastAGI): take the call over; with an amount, start paying.

        Without an amount the call is taken over and the console asks the agent for item and
        amount (the agent's screen shows the call as ready for a payment). A request that
        does not hold up (see the module doc) is logged and dropped: nothing is redirected.
        """
        try:
            request, agent = await self._checked_request(takeover)
            await self._redirect(takeover, request, agent)
        except TakeoverRefused as refused:
            log.warning(
                "feature_code_takeover_refused",
                key=takeover.key,
                source=takeover.source.value,
                reason=str(refused),
            )
            if isinstance(refused, AmountRefused):
                # The call stays as it was, with the agent, whose console opens the request
                # with the amount keyed and why it was refused.
                await self._stasis.services.notifier.publish(
                    PaymentFormRequested(
                        None, refused.agent, takeover.amount_minor, self._currency, str(refused)
                    )
                )
        except (PaymentRefused, AmiError) as error:
            log.warning("feature_code_takeover_failed", key=takeover.key, error=str(error))

    async def _checked_request(
        self, takeover: TakeoverRequest
    ) -> tuple[PaymentRequest | None, KnownAgent]:
        """The payment ``takeover`` asks for (None: no amount), once it holds up, and the
        account on the agent's phone."""
        if self._ami is None:
            raise TakeoverRefused("AMI is off: nothing can be redirected")
        endpoint = endpoint_of(takeover.agent_channel)
        agent = await self._agents.agent_on_endpoint(endpoint)
        if agent is None:
            raise TakeoverRefused("the agent channel is not the softphone of a console account")
        if not await self._ami.bridged_together(takeover.agent_channel, takeover.caller_channel):
            raise TakeoverRefused("Asterisk does not have the agent and the peer bridged together")
        known = KnownAgent(endpoint, agent)
        if takeover.amount_minor is None:
            return None, known
        request = feature_code_request(takeover.amount_minor, self._currency, agent, self._calls)
        try:
            request.check(self._stasis.max_amount_minor)
        except RequestRefused as refused:
            raise AmountRefused(str(refused), agent) from None
        return request, known

    async def request_for_agent(self, endpoint: str, request: PaymentRequest) -> str:
        """Start ``request`` on the agent's current call; returns the payment id.

        Raises :class:`UnknownCall` when the agent is on no call payivr can take over, and
        :class:`PaymentRefused` when the payment cannot start.
        """
        session = self._stasis.session_for_agent(endpoint)
        if session is not None:
            return await self._stasis.request_payment(session.call.key, request)
        if self._ami is None:
            raise UnknownCall(f"{endpoint} is on no call payivr holds (and AMI is off)")
        try:
            call = await self._ami.find_call(endpoint)
        except InvalidTakeoverRequest as error:
            raise UnknownCall(str(error)) from None
        except AmiError as error:
            raise PaymentRefused(f"Asterisk's manager interface did not answer: {error}") from None
        if call is None:
            raise UnknownCall(f"{endpoint} is on no two-party call right now")
        takeover = TakeoverRequest.new(call.agent.name, call.peer.name, None, RequestSource.CONSOLE)
        return await self._redirect(takeover, request)

    async def _redirect(
        self,
        takeover: TakeoverRequest,
        request: PaymentRequest | None,
        agent: KnownAgent | None = None,
    ) -> str:
        assert self._ami is not None
        started = self._stasis.expect_takeover(
            takeover.key,
            request,
            from_agent_phone=takeover.source is not RequestSource.CONSOLE,
            agent=agent,
        )
        try:
            await self._ami.take_over(takeover)
        except AmiError:
            self._stasis.forget_takeover(takeover.key)
            raise
        if request is None:
            return ""
        try:
            async with asyncio.timeout(TAKEOVER_SECONDS):
                return await started
        except TimeoutError:
            self._stasis.forget_takeover(takeover.key)
            raise PaymentRefused("the call did not reach payivr after the redirect") from None
