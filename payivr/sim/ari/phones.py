"""Simulated phones: the caller's and the agent's handsets that a test or the demo drives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from payivr.core.errors import PayivrError

from .model import SIP_RESPONSE_CAUSES

if TYPE_CHECKING:
    from .engine import Engine
    from .model import SimChannel


class PhoneError(PayivrError):
    """A test asked a phone for something a real handset could not do (we broke it)."""


class SimPhone:
    """One handset on one endpoint (``PJSIP/1001`` by default).

    It records what reached it: ``heard`` (media URIs and ``moh:<class>`` in order),
    ``heard_voices`` (``(speaker, text)`` said by other phones it could hear) and
    ``received_dtmf`` (digits that reached the handset). ``technology="local"`` makes a
    Local-like phone, whose channel never bridges natively.
    """

    def __init__(
        self,
        engine: Engine,
        name: str,
        endpoint: str,
        technology: str,
        auto_answer: bool,
        answer_delay: float,
        answering_machine: bool = False,
        context: str = "default",
    ) -> None:
        if technology not in ("sip", "local"):
            raise PhoneError(f"technology must be 'sip' or 'local', not {technology!r}")
        if "/" not in endpoint:
            raise PhoneError(f"endpoint {endpoint!r} is not tech/resource")
        self._engine = engine
        self.name = name
        self.endpoint = endpoint
        self.technology = technology
        self.auto_answer = auto_answer
        self.answer_delay = answer_delay
        self.answering_machine = answering_machine  # AMD() hears a long greeting
        # pjsip.conf's dtmf_mode of the endpoint, as PJSIP_DTMF_MODE() reads it.
        self.dtmf_mode = "rfc4733"
        self.context = context  # pjsip.conf's context of the endpoint: its channels run there
        self.heard: list[str] = []
        self.heard_voices: list[tuple[str, str]] = []
        self.received_dtmf = ""
        self.continued_to: tuple[str, str, int] | None = None
        self.channel: SimChannel | None = None
        self.ringing = False
        self._waiters: list[tuple[Callable[[SimPhone], bool], asyncio.Future[None]]] = []

    def __repr__(self) -> str:
        return f"SimPhone({self.name!r}, {self.endpoint!r}, channel={self.channel_id!r})"

    @property
    def resource(self) -> str:
        return self.endpoint.split("/", 1)[1]

    @property
    def channel_id(self) -> str | None:
        return self.channel.id if self.channel is not None else None

    @property
    def in_call(self) -> bool:
        return self.channel is not None and self.channel.state == "Up"

    async def answer(self) -> None:
        """Pick up a ringing call."""
        if self.channel is None or not self.ringing:
            raise PhoneError(f"{self.name} is not ringing")
        self._engine.lifecycle.device_answered(self.channel)

    async def refuse(self, sip_status: int = 486) -> None:
        """Refuse the ringing call with a SIP error response: 486 Busy Here, 603 Decline,
        404 Not Found, 480 Temporarily Unavailable, 503 Service Unavailable..."""
        if self.channel is None or not self.ringing:
            raise PhoneError(f"{self.name} is not ringing")
        if sip_status not in SIP_RESPONSE_CAUSES:
            raise PhoneError(f"{sip_status} is not one of {sorted(SIP_RESPONSE_CAUSES)}")
        self._engine.lifecycle.device_refused(self.channel, sip_status)

    async def press(self, digits: str, duration_ms: int = 100, gap_ms: int = 150) -> None:
        """Key ``digits``, each held ``duration_ms`` with ``gap_ms`` between (simulated ms).

        Every key's moment is scheduled at once on the simulated clock, so the keys keep their
        spacing relative to Asterisk's own digit timers (featuredigittimeout, Read()) however
        late the event loop runs: a busy machine cannot turn ``*7`` into ``*`` and ``7``."""
        for digit in digits:
            if digit not in "0123456789*#ABCD":
                raise PhoneError(f"{digit!r} is not a DTMF digit")
        if self.channel is None:
            raise PhoneError(f"{self.name} has no call")
        if not digits:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        at = 0.0
        for index, digit in enumerate(digits):
            at += (gap_ms if index else 0) / 1000 + duration_ms / 1000
            last = index == len(digits) - 1
            self._engine.clock.call_later(at, self._key, digit, duration_ms, done if last else None)
        await done

    def _key(self, digit: str, duration_ms: int, done: asyncio.Future[None] | None) -> None:
        if self.channel is not None:
            self._engine.dtmf.device_dtmf(self.channel, digit, duration_ms)
        if done is not None and not done.done():
            if self.channel is None:
                done.set_exception(PhoneError(f"{self.name} has no call"))
            else:
                done.set_result(None)

    async def say(self, text: str) -> None:
        """Speak; every phone that can hear this one records ``(self.name, text)``."""
        if self.channel is None:
            raise PhoneError(f"{self.name} has no call")
        for listener in self._engine.media.audible_phones(self.channel):
            listener.heard_voices.append((self.name, text))
            listener.changed()

    def can_hear(self, other: SimPhone) -> bool:
        """Whether ``other``'s voice reaches this phone right now."""
        if other.channel is None or self.channel is None:
            return False
        return self in self._engine.media.audible_phones(other.channel)

    async def hangup(self) -> None:
        """Hang up (a far-end hangup, as a softphone's BYE)."""
        if self.channel is None:
            raise PhoneError(f"{self.name} has no call")
        self._engine.lifecycle.device_hangup(self.channel)

    async def call(self, exten: str, context: str = "sim-phones") -> str:
        """Place a call into the dialplan at ``exten@context``; returns the channel id."""
        if self.channel is not None:
            raise PhoneError(f"{self.name} is already in a call")
        return self._engine.lifecycle.device_call(self, context, exten).id

    async def wait_for(self, predicate: Callable[[SimPhone], bool], within: float = 5.0) -> None:
        """Wait up to ``within`` real seconds until ``predicate(self)`` holds; no polling."""
        if predicate(self):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, within)
        finally:
            if entry in self._waiters:
                self._waiters.remove(entry)

    def changed(self) -> None:
        """Wake the waiters whose condition now holds (called by the engine)."""
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(self):
                future.set_result(None)
