"""The calls and payments in progress, as the console and the API see and act on them."""

from __future__ import annotations

from datetime import UTC, datetime

from payivr.ami.errors import AmiError, InvalidTakeoverRequest
from payivr.calls.requests import PaymentRequest
from payivr.calls.session import CallSession
from payivr.calls.stasis import StasisApplication
from payivr.calls.takeover import AmiTakeover, Takeovers
from payivr.calls.views import CallInfo
from payivr.core.events import Step


def _info(session: CallSession) -> CallInfo:
    return CallInfo(
        call_key=session.call.key,
        agent_endpoint=session.agent_endpoint,
        caller_number=session.caller_number,
        started_at=session.started_at,
        payment_id=session.payment_id,
    )


class CallDesk:
    """:class:`payivr.console.ports.CallControl` over the Stasis application and AMI."""

    def __init__(
        self, stasis: StasisApplication, takeovers: Takeovers, ami: AmiTakeover | None
    ) -> None:
        self._stasis = stasis
        self._takeovers = takeovers
        self._ami = ami

    def _live(self) -> list[CallSession]:
        return [s for s in self._stasis.sessions.values() if not s.ended.is_set()]

    async def current_call(self, agent_endpoint: str) -> CallInfo | None:
        session = self._stasis.session_for_agent(agent_endpoint)
        if session is not None:
            return _info(session)
        if self._ami is None:
            return None
        try:
            call = await self._ami.find_call(agent_endpoint)
        except (AmiError, InvalidTakeoverRequest):
            return None
        if call is None:
            return None
        # Bridged by Dial(), not yet in payivr's hands: a request takes it over.
        return CallInfo(
            call_key=f"dial-{call.bridge_id}",
            agent_endpoint=agent_endpoint,
            caller_number=call.peer.caller_id_num
            if call.peer.caller_id_num != "<unknown>"
            else None,
            started_at=datetime.now(UTC),
        )

    async def call(self, call_key: str) -> CallInfo | None:
        session = self._stasis.sessions.get(call_key)
        return _info(session) if session is not None and not session.ended.is_set() else None

    async def active_calls(self) -> list[CallInfo]:
        return [_info(session) for session in self._live()]

    async def request_for_agent(self, agent_endpoint: str, request: PaymentRequest) -> str:
        return await self._takeovers.request_for_agent(agent_endpoint, request)

    async def request_on_call(self, call_key: str, request: PaymentRequest) -> str:
        return await self._stasis.request_payment(call_key, request)

    async def cancel_payment(self, payment_id: str) -> bool:
        for session in self._live():
            if session.payment_id == payment_id:
                return session.cancel_payment()
        return False

    async def reask_step(self, payment_id: str, step: Step) -> bool:
        for session in self._live():
            if session.payment_id == payment_id:
                return session.reask_step(step)
        return False
