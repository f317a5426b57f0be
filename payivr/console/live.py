"""Live console events: who may see which, and the fan-out to open WebSockets.

Events arrive as :func:`payivr.calls.notifier.event_json` dicts, from the local notifier or
from the :class:`~payivr.store.ConsoleBus` (every instance's calls). Each event names the
agent (login name or softphone endpoint) and the call; an agent sees the events of their own
calls only, a supervisor sees all. The hub also keeps the latest state of each payment in
progress, so a console that (re)connects mid-payment shows the steps at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from payivr.calls.notifier import Notifier
from payivr.console.accounts import Account

# A console that falls this far behind is dropped. Events arrive in batches (up to
# Notifier.MAX_BATCH from one instance, packed NOTIFYs from the bus) pushed without a pause:
# a batch must fit whole, or a console keeping up is dropped in a burst.
QUEUE_LIMIT = 4 * Notifier.MAX_BATCH

SESSION_ENDED: dict[str, Any] = {"type": "session_ended"}
"""The last item of a listener whose session or API token stopped letting anyone in."""


@dataclass
class LivePayment:
    """What an agent may see of a payment in progress."""

    payment: str
    call: str
    agent: str | None
    started: dict[str, Any]
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    authorizing_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {**self.started, "steps": self.steps, "authorizing_at": self.authorizing_at}

    def note_step(self, event: dict[str, Any]) -> None:
        """The step's latest state, with when the caller started it and when it ended."""
        step = str(event.get("step"))
        status = event.get("status")
        before = self.steps.get(step, {})
        at = event.get("at")
        started_at = before.get("started_at") or (at if status not in _NOT_STARTED else None)
        self.steps[step] = {
            "status": status,
            "digits_entered": event.get("digits_entered"),
            "card": event.get("card"),
            "bank_account": event.get("bank_account"),
            "detail": event.get("detail"),
            "brand": event.get("brand"),
            "last_four": event.get("last_four"),
            "confirming": event.get("confirming"),
            "started_at": started_at,
            "ended_at": at if status in _ENDED and started_at else None,
        }


_NOT_STARTED = ("waiting", "skipped")
_ENDED = ("done", "failed")


class _Listener:
    def __init__(self, account: Account, credential: bytes) -> None:
        self.account = account
        self.credential = credential  # the digest of its session cookie or API token
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_LIMIT)

    def last(self, item: dict[str, Any] | None) -> None:
        """End this listener with ``item``, dropping an event if the queue is full."""
        with contextlib.suppress(asyncio.QueueEmpty):
            if self.queue.full():
                self.queue.get_nowait()
        self.queue.put_nowait(item)


class EventHub:
    def __init__(self) -> None:
        self._listeners: set[_Listener] = set()
        self._call_agents: dict[str, str | None] = {}
        self._payments: dict[str, LivePayment] = {}
        self.closing = False

    def close(self) -> None:
        """Shutting down: every listener gets ``None`` (end of stream) now."""
        self.closing = True
        for listener in list(self._listeners):
            self._listeners.discard(listener)
            listener.last(None)

    @property
    def credentials(self) -> set[bytes]:
        """The session and token digests the open listeners were let in with."""
        return {listener.credential for listener in self._listeners}

    def end_sessions(self, credentials: set[bytes]) -> int:
        """Listeners let in by these digests get :data:`SESSION_ENDED` now; how many."""
        ended = [listener for listener in self._listeners if listener.credential in credentials]
        for listener in ended:
            self._listeners.discard(listener)
            listener.last(SESSION_ENDED)
        return len(ended)

    # -------------------------------------------------------------- visibility

    def may_see(self, account: Account, event: dict[str, Any]) -> bool:
        if account.is_supervisor:
            return True
        labels = account.labels
        if event.get("agent") in labels:
            return True
        return self._call_agents.get(str(event.get("call"))) in labels

    # -------------------------------------------------------------- events in

    async def publish(self, event: dict[str, Any]) -> None:
        """Take one event: update the live state, then hand it to those who may see it."""
        self._remember(event)
        for listener in list(self._listeners):
            if not self.may_see(listener.account, event):
                continue
            try:
                listener.queue.put_nowait(event)
            except asyncio.QueueFull:
                # A console that stopped reading is dropped rather than hold memory.
                self._listeners.discard(listener)
                listener.last(None)
        if event.get("type") == "call_ended":
            self._call_agents.pop(str(event.get("call")), None)

    def _remember(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        call = str(event.get("call"))
        if kind == "call_started":
            self._call_agents[call] = event.get("agent")
        elif kind == "payment_started":
            payment = str(event.get("payment"))
            self._payments[payment] = LivePayment(payment, call, event.get("agent"), dict(event))
            self._call_agents.setdefault(call, event.get("agent"))
        elif kind == "step":
            live = self._payments.get(str(event.get("payment")))
            if live is not None:
                live.note_step(event)
        elif kind == "authorizing":
            live = self._payments.get(str(event.get("payment")))
            if live is not None:
                live.authorizing_at = event.get("at")
        elif kind == "payment_finished":
            self._payments.pop(str(event.get("payment")), None)

    # -------------------------------------------------------------- state out

    def live_payment(self, payment_id: str) -> LivePayment | None:
        return self._payments.get(payment_id)

    def live_payments(self, account: Account) -> list[dict[str, Any]]:
        return [
            live.as_json()
            for live in self._payments.values()
            if self.may_see(account, {"agent": live.agent, "call": live.call})
        ]

    @contextlib.asynccontextmanager
    async def listen(
        self, account: Account, credential: bytes
    ) -> AsyncIterator[asyncio.Queue[dict[str, Any] | None]]:
        """A queue of the events ``account`` may see; ``None`` ends it (too slow, or closing),
        and so does :data:`SESSION_ENDED` (``credential`` no longer lets anyone in)."""
        listener = _Listener(account, credential)
        self._listeners.add(listener)
        try:
            yield listener.queue
        finally:
            self._listeners.discard(listener)
