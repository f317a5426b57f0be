"""Runs one :class:`~payivr.core.flow.PaymentFlow` on asyncio.

The flow is pure; this driver is the edge that gives it time and I/O: it turns
``StartTimer`` into ``loop.call_later``, ``PlayPrompt`` into a call on the :class:`CallMedia`
the caller hears (ARI in production, the terminal in the rehearsal), ``Authorize`` into a
gateway request, and ``AgentUpdate``/``Finish`` into notifications. Events reach the flow
through one bounded queue, one at a time, in order.

The media's own events (a playback's end, a gap in the events) come through the same queue:
the driver's task is then the only one that touches the caller's prompts, so a stop is never
sent before the play it stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import structlog

from payivr.core.errors import PayivrError
from payivr.core.events import (
    AgentUpdate,
    Authorize,
    CallerHangup,
    CancelTimer,
    Command,
    Event,
    Finish,
    FlowStart,
    GatewayAnswer,
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

Authorizer = Callable[[Authorize], Awaitable[GatewayAnswer]]

# A caller can key far faster than anyone reads a card; past this many waiting events,
# further key presses are dropped (the entry then fails validation, as it would anyway).
MAX_QUEUED_EVENTS = 64


class CallGone(PayivrError):
    """The caller's channel disappeared while we were talking to it."""


@dataclass(frozen=True)
class PlaybackEnded:
    """A playback on the caller's channel ended (done or failed)."""

    playback_id: str


@dataclass(frozen=True)
class EventsResumed:
    """The events came back after a gap: timers start again, the media checks what it missed."""


MediaEvent = PlaybackEnded | EventsResumed


@dataclass
class _Timer:
    """A flow's running timer: ``command`` rings at ``due`` (the loop's time) through
    ``handle`` (None once it rang)."""

    command: StartTimer
    due: float
    handle: asyncio.TimerHandle | None = None

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


class CallMedia(Protocol):
    """What the driver needs from the caller's side of the call."""

    async def play(self, parts: tuple[PromptPart, ...], sequence: int) -> None:
        """Start playing; later ``driver.post(PromptFinished(sequence))``."""

    async def stop(self, sequence: int) -> None: ...

    async def reconnect(self, agent_present: bool) -> None:
        """Give the caller back to the agent (or release them when the agent is gone)."""

    async def playback_finished(self, playback_id: str) -> None:
        """A :class:`PlaybackEnded` posted to the driver."""

    async def resync(self) -> None:
        """After a gap in the events: find out whether what was playing ended unseen."""


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
        self._queue: asyncio.Queue[Event | FlowStart | MediaEvent] = asyncio.Queue()
        # Queued first, so keys the caller presses before run() starts come after it.
        self._queue.put_nowait(FlowStart())
        self._timers: dict[str, _Timer] = {}
        self._authorization: asyncio.Task[None] | None = None
        self._finish: Finish | None = None
        self.keys_dropped = 0

    def post(self, event: Event | MediaEvent) -> None:
        """Hand the flow (or the media) an event. Never blocks; safe to call from any
        callback."""
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
    def queued(self) -> int:
        """Events posted and not taken yet."""
        return self._queue.qsize()

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
                if isinstance(event, PlaybackEnded | EventsResumed):
                    await self._media_event(event)
                else:
                    for command in self.flow.send(event):
                        await self._execute(command)
                self._queue.task_done()
        finally:
            for timer in self._timers.values():
                timer.stop()
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
                running.stop()
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

    async def serve_media(self, over: Callable[[], bool]) -> None:
        """Once the flow is left behind (it crashed): deliver the media's events until
        ``over()`` or the caller hangs up; the flow's events are dropped."""
        while not over():
            event = await self._queue.get()
            if isinstance(event, CallerHangup):
                return
            if isinstance(event, PlaybackEnded | EventsResumed):
                await self._media_event(event)

    async def _media_event(self, event: MediaEvent) -> None:
        if isinstance(event, PlaybackEnded):
            await self._media_call(self._media.playback_finished(event.playback_id))
            return
        # After a gap in the events the caller's keys of the gap are lost: running timers
        # start again, so the caller gets the whole time rather than fail for unseen keys.
        for timer in list(self._timers.values()):
            self._start_timer(timer.command)
        await self._media_call(self._media.resync())

    def _start_timer(self, command: StartTimer) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + command.seconds
        timer = self._timers.get(command.name)
        if timer is not None and timer.handle is not None and timer.handle.when() <= due:
            # Restarted before it rang (each key of an entry restarts the inter-digit timer):
            # its loop timer, due no later, moves on to the new time when it goes off.
            timer.command, timer.due = command, due
            return
        if timer is not None:
            timer.stop()
        timer = _Timer(command, due)
        timer.handle = loop.call_at(due, self._timer_due, timer)
        self._timers[command.name] = timer

    def _timer_due(self, timer: _Timer) -> None:
        loop = asyncio.get_running_loop()
        if timer.due > loop.time():
            timer.handle = loop.call_at(timer.due, self._timer_due, timer)
            return
        timer.handle = None
        self.post(TimerExpiry(timer.command.name, timer.command.token))

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
