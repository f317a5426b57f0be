"""Runs one :class:`~payivr.core.flow.PaymentFlow` on asyncio.

The flow is pure; this driver is the edge that gives it time and I/O: it turns
``StartTimer`` into ``loop.call_later``, ``PlayPrompt`` into a call on the :class:`CallMedia`
the caller hears (ARI in production, the terminal in the rehearsal), ``Authorize`` into a
gateway request, and ``AgentUpdate``/``Finish`` into notifications. Events reach the flow
through one bounded queue, one at a time, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from payivr.core.events import (
    AgentUpdate,
    Authorize,
    CallerHangup,
    CancelTimer,
    Command,
    Event,
    Finish,
    FlowStart,
    GatewayApproval,
    GatewayDecline,
    GatewayFailure,
    GatewayOutcomeUnknown,
    KeyPress,
    PlayPrompt,
    PromptPart,
    Reconnect,
    StartTimer,
    StopPrompt,
    TimerExpiry,
)
from payivr.core.flow import PaymentFlow

log = structlog.get_logger(__name__)

GatewayAnswer = GatewayApproval | GatewayDecline | GatewayFailure | GatewayOutcomeUnknown
Authorizer = Callable[[Authorize], Awaitable[GatewayAnswer]]

# A caller can key far faster than anyone reads a card; past this many waiting events,
# further key presses are dropped (the entry then fails validation, as it would anyway).
MAX_QUEUED_EVENTS = 64


class CallGone(Exception):
    """The caller's channel disappeared while we were talking to it."""


class CallMedia(Protocol):
    """What the driver needs from the caller's side of the call."""

    async def play(self, parts: tuple[PromptPart, ...], sequence: int) -> None:
        """Start playing; later ``driver.post(PromptFinished(sequence))``."""

    async def stop(self, sequence: int) -> None: ...

    async def reconnect(self, agent_present: bool) -> None:
        """Give the caller back to the agent (or release them when the agent is gone)."""


class AgentView(Protocol):
    async def step_changed(self, update: AgentUpdate) -> None: ...

    async def finished(self, finish: Finish) -> None: ...


class FlowDriver:
    def __init__(
        self,
        flow: PaymentFlow,
        media: CallMedia,
        authorize: Authorizer,
        agent_view: AgentView,
    ) -> None:
        self.flow = flow
        self._media = media
        self._authorize = authorize
        self._agent_view = agent_view
        self._queue: asyncio.Queue[Event | FlowStart] = asyncio.Queue()
        # Queued first, so keys the caller presses before run() starts come after it.
        self._queue.put_nowait(FlowStart())
        self._timers: dict[str, tuple[asyncio.TimerHandle, StartTimer]] = {}
        self._authorization: asyncio.Task[None] | None = None
        self._finish: Finish | None = None
        self.keys_dropped = 0

    def post(self, event: Event) -> None:
        """Hand the flow an event. Never blocks; safe to call from any callback."""
        if self._finish is not None:
            return
        if isinstance(event, KeyPress) and self._queue.qsize() >= MAX_QUEUED_EVENTS:
            self.keys_dropped += 1
            return
        self._queue.put_nowait(event)

    def post_if_acted_on(self, event: Event) -> bool:
        """Post ``event`` if the flow, as it is now, would act on it (an agent's request
        that may be refused); whether it was posted."""
        if self._finish is not None or not self.flow.would_act_on(event):
            return False
        self.post(event)
        return True

    @property
    def finished(self) -> Finish | None:
        return self._finish

    async def caught_up(self) -> None:
        """Return once every event posted so far was taken and its commands carried out."""
        await self._queue.join()

    @property
    def authorization_sent(self) -> bool:
        """Whether the card went to the gateway (its outcome may then be known there)."""
        return self._authorization is not None

    async def run(self) -> Finish:
        """Drive the flow from its start to its ``Finish``; returns that ``Finish``."""
        try:
            while self._finish is None:
                event = await self._queue.get()
                for command in self.flow.send(event):
                    await self._execute(command)
                self._queue.task_done()
        finally:
            for handle, _ in self._timers.values():
                handle.cancel()
            self._timers.clear()
            if self._authorization is not None and not self._authorization.done():
                # A charge in flight is never abandoned: wait for its answer to be recorded.
                await asyncio.shield(self._authorization)
        return self._finish

    async def _execute(self, command: Command) -> None:
        if isinstance(command, StartTimer):
            self._start_timer(command)
        elif isinstance(command, CancelTimer):
            running = self._timers.pop(command.name, None)
            if running is not None:
                running[0].cancel()
        elif isinstance(command, PlayPrompt):
            await self._media_call(self._media.play(command.parts, command.sequence))
        elif isinstance(command, StopPrompt):
            await self._media_call(self._media.stop(command.sequence))
        elif isinstance(command, Authorize):
            self._authorization = asyncio.create_task(self._run_authorization(command))
        elif isinstance(command, AgentUpdate):
            await self._agent_view.step_changed(command)
        elif isinstance(command, Reconnect):
            await self._media_call(self._media.reconnect(command.agent_present))
        else:
            self._finish = command
            await self._agent_view.finished(command)

    def restart_timers(self) -> None:
        """Run every running timer again from its start.

        After a gap in the events the caller's keys of the gap are lost: they get the whole
        time again rather than fail for keys payivr never saw.
        """
        for _, command in list(self._timers.values()):
            self._start_timer(command)

    def _start_timer(self, command: StartTimer) -> None:
        previous = self._timers.pop(command.name, None)
        if previous is not None:
            previous[0].cancel()
        event = TimerExpiry(command.name, command.token)
        loop = asyncio.get_running_loop()
        handle = loop.call_later(command.seconds, self.post, event)
        self._timers[command.name] = (handle, command)

    async def _media_call(self, call: Awaitable[None]) -> None:
        try:
            await call
        except CallGone:
            self.post(CallerHangup())

    async def _run_authorization(self, command: Authorize) -> None:
        try:
            answer = await self._authorize(command)
        except Exception:
            log.exception("authorization_crashed", payment_id=command.payment_id)
            answer = GatewayOutcomeUnknown("the gateway request failed unexpectedly")
        finally:
            command.details.wipe()
        self.post(answer)
