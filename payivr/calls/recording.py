"""Call recordings keep no card data: recordings are muted while payivr takes a payment.

An operator's dialplan often records calls with ``MixMonitor()``. During a payment the
caller's channel carries what must never be kept: the read-backs (last four, expiry, postal
code) are prompts written to it, and a trunk that sends tones in band puts the keys
themselves in its audio (RFC 4733 digits are events, not audio, but nothing guarantees a
caller's side uses them). So every recorded leg is muted in both directions before the first
prompt and unmuted once the payment is over; the audit trail says so.

ARI cannot reach a MixMonitor; AMI's ``MixMonitorMute`` can (write class ``call``, which
payivr's AMI account has for the takeover's Redirect). A leg is recorded when its channel
variable ``MIXMONITOR_FILENAME`` is set: ``MixMonitor()`` sets it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

import structlog

from payivr.ami.client import AmiClient
from payivr.ami.errors import AmiActionError, AmiError
from payivr.ari.client import AriClient
from payivr.ari.errors import NotFound
from payivr.core.errors import PayivrError
from payivr.store import Origin, PaymentStore

log = structlog.get_logger(__name__)

RECORDED_VARIABLE = "MIXMONITOR_FILENAME"
NO_AUDIOHOOKS = "Cannot set mute flag"  # app_mixmonitor: the channel has no audio hooks


class RecordingNotPaused(PayivrError):
    """A leg is being recorded and its recording could not be muted; the message says why."""


@dataclass(frozen=True)
class PausedRecordings:
    """The channels (AMI names) whose recordings a payment muted."""

    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordingGuard:
    """Mutes the MixMonitor recordings of a payment's legs, and unmutes them after."""

    ari: AriClient
    ami: AmiClient | None
    store: PaymentStore

    async def pause(self, payment_id: str, legs: Iterable[str]) -> PausedRecordings:
        """Mute every recorded leg of ``legs`` (ARI channel ids).

        Raises :class:`RecordingNotPaused` when a recorded leg cannot be muted (AMI off or
        refusing); the legs muted before it are unmuted again, so the payment must not start.
        """
        paused: list[str] = []
        for leg in legs:
            name = await self._recorded_name(leg)
            if name is None:
                continue
            problem = "payivr's AMI connection is off (ami.enabled)" if self.ami is None else ""
            if self.ami is not None:
                try:
                    await self.ami.mute_recording(name, muted=True)
                except AmiActionError as error:
                    if error.message == NO_AUDIOHOOKS:
                        # StopMixMonitor() leaves MIXMONITOR_FILENAME set: nothing records.
                        continue
                    problem = f"Asterisk refused MixMonitorMute: {error.message}"
                except AmiError as error:
                    problem = f"Asterisk's manager interface did not answer: {error}"
            if problem:
                await self._audit(payment_id, "recording.not_paused", False, name, problem)
                await self.resume(payment_id, PausedRecordings(tuple(paused)))
                raise RecordingNotPaused(
                    f"the call is being recorded and the recording could not be paused ({problem})"
                )
            paused.append(name)
            await self._audit(payment_id, "recording.paused", True, name, None)
        return PausedRecordings(tuple(paused))

    async def resume(self, payment_id: str, paused: PausedRecordings) -> None:
        """Unmute what :meth:`pause` muted; a leg that has hung up has nothing left to record."""
        if self.ami is None:
            return
        for name in paused.channels:
            try:
                await self.ami.mute_recording(name, muted=False)
            except AmiError as error:
                log.info("recording_not_resumed", channel=name, error=str(error))
                continue
            await self._audit(payment_id, "recording.resumed", True, name, None)

    async def _recorded_name(self, leg: str) -> str | None:
        """The AMI name of ``leg`` when a MixMonitor records it, else None."""
        try:
            if not await self.ari.channels.get_variable(leg, RECORDED_VARIABLE):
                return None
            return (await self.ari.channels.get(leg)).name
        except NotFound:
            return None  # the variable is unset, or the leg has gone

    async def _audit(
        self, payment_id: str, action: str, success: bool, channel: str, detail: str | None
    ) -> None:
        try:
            await self.store.append_audit(
                actor="payivr",
                action=action,
                success=success,
                origin=Origin.channel(channel),
                resource=f"payment:{payment_id}",
                payment_id=UUID(payment_id),
                detail=detail,
            )
        except Exception as error:  # the database being away must not stop the payment path
            log.error("recording_audit_not_written", action=action, error=type(error).__name__)


__all__ = ["PausedRecordings", "RecordingGuard", "RecordingNotPaused"]
