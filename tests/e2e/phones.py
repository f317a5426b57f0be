"""The phones a scenario drives, whichever Asterisk answers them.

Scenarios only use :class:`Phone`. On the ARI simulator a phone is a simulated SIP handset
(:class:`SimulatedPhone`); against a real Asterisk it is the harness-owned half of a Local
channel (:class:`tests.e2e.asterisk_target.LocalPhone`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from payivr.sim.ari.phones import SimPhone

PROMPT_PREFIX = "sound:payivr/en/"
SIMULATOR_TIME_SCALE = 0.01  # real seconds per second of call audio: prompts 100 times faster
AUDIO_ALLOWANCE = 60.0
"""Seconds of call audio any wait allows for: the prompts that may play before what it waits
for (the longest prompt is 6.7 s; a read-back with its digits and question ~15 s)."""


def real_seconds(within: float, time_scale: float, audio: float = AUDIO_ALLOWANCE) -> float:
    """How long to wait, in real seconds: ``within`` plus ``audio`` seconds of call audio
    played at ``time_scale`` (the target's)."""
    return within + audio * time_scale


class Phone(Protocol):
    name: str

    @property
    def endpoint(self) -> str:
        """What Dial() or payivr dials to ring this phone (``PJSIP/1001``, ``Local/...``)."""

    @property
    def leg(self) -> str | None:
        """Id of the channel payivr handles for this phone (None when not in a call)."""

    @property
    def heard(self) -> Sequence[str]:
        """Media played to this phone, in order (``sound:payivr/en/intro``, ``number:137``)."""

    @property
    def received_dtmf(self) -> str:
        """Digits that reached the handset."""

    @property
    def ringing(self) -> bool:
        """A call rings on this phone, not answered yet."""

    @property
    def caller_number(self) -> str | None:
        """The caller ID this phone shows for its call (None when not in a call)."""

    async def press(self, digits: str, duration_ms: int = 100, gap_ms: int = 150) -> None: ...

    async def refuse(self, sip_status: int = 486) -> None:
        """Refuse the ringing call as a SIP phone (or trunk) answering ``sip_status`` would:
        with the hangup cause chan_pjsip maps it to."""

    async def hangup(self) -> None: ...

    async def wait_for(self, predicate: Callable[[Phone], bool], within: float = 5.0) -> None:
        """Wait until ``predicate(self)`` holds (``within`` real seconds and
        :data:`AUDIO_ALLOWANCE` of call audio, see :func:`real_seconds`)."""


def prompts(phone: Phone) -> list[str]:
    """The payivr prompt ids the phone heard, in order (numbers, digits, music left out)."""
    return [uri.removeprefix(PROMPT_PREFIX) for uri in phone.heard if uri.startswith(PROMPT_PREFIX)]


class SimulatedPhone:
    """A :class:`Phone` on the ARI simulator: a SIP handset (bridged natively when allowed)."""

    def __init__(self, phone: SimPhone, time_scale: float = SIMULATOR_TIME_SCALE) -> None:
        self.sim_phone = phone
        self.name = phone.name
        self.time_scale = time_scale

    def __repr__(self) -> str:
        return f"SimulatedPhone({self.name!r}, {self.endpoint!r})"

    @property
    def endpoint(self) -> str:
        return self.sim_phone.endpoint

    @property
    def leg(self) -> str | None:
        return self.sim_phone.channel_id

    @property
    def heard(self) -> Sequence[str]:
        return self.sim_phone.heard

    @property
    def received_dtmf(self) -> str:
        return self.sim_phone.received_dtmf

    @property
    def ringing(self) -> bool:
        return self.sim_phone.ringing

    @property
    def caller_number(self) -> str | None:
        channel = self.sim_phone.channel
        return channel.caller_number if channel is not None else None

    async def press(self, digits: str, duration_ms: int = 100, gap_ms: int = 150) -> None:
        await self.sim_phone.press(digits, duration_ms=duration_ms, gap_ms=gap_ms)

    async def refuse(self, sip_status: int = 486) -> None:
        await self.sim_phone.refuse(sip_status)

    async def hangup(self) -> None:
        await self.sim_phone.hangup()

    async def wait_for(self, predicate: Callable[[Phone], bool], within: float = 5.0) -> None:
        await self.sim_phone.wait_for(
            lambda _: predicate(self), within=real_seconds(within, self.time_scale)
        )
