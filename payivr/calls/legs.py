"""A call's legs: the caller's and the agent's channels in payivr's bridge, and which have left.

The session notes the hangups it sees; its payment moves the caller in and out of the
bridge and may dial the agent back. Both read and change this one record.
"""

from __future__ import annotations

import structlog

from payivr.ari.client import AriClient
from payivr.ari.errors import AriError
from payivr.ari.router import Call

log = structlog.get_logger(__name__)


class Legs:
    def __init__(
        self, ari: AriClient, app: str, call: Call, caller: str, agent: str | None, bridge_id: str
    ) -> None:
        self._ari = ari
        self._app = app
        self._call = call
        self.caller = caller
        self.agent = agent
        self.bridge_id = bridge_id
        self.caller_gone = False
        self.agent_gone = agent is None
        self.return_to: str | None = None  # warm transfer: the agent endpoint to dial back
        self.agent_ringing = False  # dialled back, not bridged yet

    @property
    def agent_here(self) -> str | None:
        """The agent's channel while they are on the call."""
        return None if self.agent_gone else self.agent

    @property
    def agent_reachable(self) -> bool:
        """Whether the caller can be given back to an agent (on the line or dialled back)."""
        return not self.agent_gone or self.return_to is not None

    @property
    def present(self) -> list[str]:
        """The channels of the legs that have not left."""
        legs = [] if self.caller_gone else [self.caller]
        agent = self.agent_here
        return legs + ([agent] if agent is not None else [])

    async def dial_back(self, endpoint: str) -> None:
        """Warm transfer: ring the agent who sent the caller; the session bridges them on
        answer. The caller waits in the bridge."""
        agent_id = f"payivr-agent-{self._call.key[-24:]}"
        self._call.bind_channel(agent_id)
        self.agent = agent_id
        self.agent_gone = False
        self.agent_ringing = True
        self.return_to = None
        await self._ari.bridges.add_channel(self.bridge_id, self.caller)
        try:
            await self._ari.channels.originate(
                endpoint,
                channel_id=agent_id,
                app=self._app,
                app_args=["dialed", self._call.key],
                dial_timeout=30,
            )
        except AriError as error:
            log.warning("dial_back_failed", call=self._call.key, error=type(error).__name__)
            self.agent_gone = True
