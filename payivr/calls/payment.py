"""One payment on a call: the agent kept from hearing the keys, the flow driven, the caller
given back.

While the caller keys a card the agent must not hear the keys, in one of two privacy modes:

- **hold**: the caller leaves the bridge; the agent is muted both ways and hears music on
  hold (or silence); the caller is alone with the prompts.
- **talk-through**: the caller is re-added with ``absorbDTMF=true``: they keep talking, the
  digits reach payivr but not the bridge; prompts play on the caller's channel only.

Afterwards the caller is put back with the agent. One task (:meth:`PaymentRun.begin`) drives
the flow and owns the caller's prompts: the session hands it keys, hangups and playback ends
through the :class:`~payivr.calls.driver.FlowDriver`'s queue, never touching the prompts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable
from dataclasses import dataclass

import structlog

from payivr.ari.errors import AriError, ChannelGone, NotFound, Unprocessable
from payivr.ari.router import Call, CallCommand
from payivr.calls.driver import CallGone, FlowDriver
from payivr.calls.legs import Legs
from payivr.calls.media import CallerPrompts
from payivr.calls.notifier import PaymentAuthorizing, PaymentFinished, PaymentStepChanged
from payivr.calls.recording import PausedRecordings, RecordingNotPaused
from payivr.calls.requests import PaymentRequest
from payivr.calls.wiring import CallServices
from payivr.core.errors import PayivrError
from payivr.core.events import (
    AgentUpdate,
    Authorize,
    CallerHangup,
    Finish,
    GatewayAnswer,
    Outcome,
    Prompt,
    PromptFinished,
    PromptPart,
    Step,
    StepStatus,
)
from payivr.core.flow import FlowError, PaymentFlow
from payivr.core.request import PrivacyMode
from payivr.core.steps import STEPS_OF_METHOD

log = structlog.get_logger(__name__)

ANNOUNCEMENT_SECONDS = 30.0
CRASHED_BEFORE_CHARGING = "payivr failed during the payment; nothing was charged"
CRASHED_WHILE_CHARGING = "payivr failed while charging; the gateway will be asked for the outcome"


EVENT_DTMF_MODES = frozenset({"rfc4733", "info", "auto_info"})
"""PJSIP dtmf_mode values whose keys reach Asterisk as events, never as tones in the audio."""


class PaymentRefused(PayivrError):
    """A payment cannot start on this call now; the message says why."""


async def check_talk_through(services: CallServices, caller: str) -> None:
    """Talk-through keeps the agent in the caller's bridge: only keys Asterisk receives as
    events can be absorbed (``absorbDTMF``). A caller whose keys may arrive as tones in the
    audio (PJSIP ``dtmf_mode`` inband, or auto, which falls back to inband when the phone
    offers no RFC 4733) would be heard by the agent, as would any channel whose mode
    cannot be read (not PJSIP), unless the operator vouches for its technology
    (``calls.talk_through_unchecked_technologies``): those pay on hold. Raises
    :class:`PaymentRefused`."""
    calls = services.calls
    if not calls.allow_talk_through:
        raise PaymentRefused("talk-through is turned off here (calls.allow_talk_through)")
    if calls.talk_through_unchecked_technologies:
        try:
            name = (await services.ari.channels.get(caller)).name
        except AriError:
            name = ""  # gone: the mode check below refuses it
        if name.partition("/")[0] in calls.talk_through_unchecked_technologies:
            return
    try:
        mode = await services.ari.channels.get_variable(caller, "PJSIP_DTMF_MODE()")
    except AriError:
        mode = "unknown"
    if mode not in EVENT_DTMF_MODES:
        raise PaymentRefused(
            f"talk-through needs the caller's keys as events, but the caller's DTMF mode is"
            f" {mode} (tones in the audio would reach the agent): ask for it on hold"
        )


@dataclass(frozen=True)
class PaymentOver(CallCommand):
    """Posted to the call by a payment's task as it ends: the session may start another."""


class PaymentProgress:
    """What the agent, the store and the gateway learn of one payment as the flow goes."""

    def __init__(
        self, services: CallServices, call_key: str, payment_id: str, request: PaymentRequest
    ) -> None:
        self._services = services
        self._call_key = call_key
        self._payment_id = payment_id
        self._agent = request.agent
        # A new payment's row has every step of its method waiting already: the flow's
        # opening "waiting" updates need no write (a third of a card payment's writes).
        self._stored_status: dict[Step, StepStatus] = dict.fromkeys(
            STEPS_OF_METHOD[request.method], StepStatus.WAITING
        )

    async def step_changed(self, update: AgentUpdate) -> None:
        records = self._services.records
        # The store keeps each step's status; digit counts only go to the agent's screen.
        if self._stored_status.get(update.step) is not update.status:
            self._stored_status[update.step] = update.status
            await records.step(self._payment_id, update.step, update.status)
        if update.masked_card is not None and update.status is StepStatus.DONE:
            await records.card(
                self._payment_id, update.masked_card.brand.value, update.masked_card.last_four
            )
        if update.masked_bank_account is not None:
            await records.bank_account(self._payment_id, update.masked_bank_account)
        await self._services.notifier.publish(
            PaymentStepChanged(self._payment_id, self._call_key, self._agent, update)
        )

    async def authorize(self, command: Authorize) -> GatewayAnswer:
        """Mark the payment authorizing, then charge: in the authorization's own task, so the
        caller hears "processing" without waiting for the database (the mark waits for the
        progress queued before it, up to a bound)."""
        await self._services.records.authorizing(self._payment_id, command.idempotency_key)
        await self._services.notifier.publish(
            PaymentAuthorizing(self._payment_id, self._call_key, self._agent)
        )
        return await self._services.authorize(command)

    async def finished(self, finish: Finish) -> None:
        await self._services.records.finish(self._payment_id, finish)
        await self._services.notifier.publish(
            PaymentFinished(self._payment_id, self._call_key, self._agent, finish)
        )


class PaymentRun:
    """One payment on a call: the flow's driver, the caller's prompts, the agent's privacy.

    It is the driver's :class:`~payivr.calls.driver.CallMedia`; the agent's view is its
    :class:`PaymentProgress`."""

    def __init__(
        self,
        services: CallServices,
        call: Call,
        legs: Legs,
        payment_id: str,
        request: PaymentRequest,
        language: str,
    ) -> None:
        self.services = services
        self.call = call
        self.legs = legs
        self.payment_id = payment_id
        self.request = request
        self.language = language
        config = services.flow
        if request.offer_card_on_file is not None:
            config = dataclasses.replace(config, offer_card_on_file=request.offer_card_on_file)
        flow = PaymentFlow(
            payment_id,
            request.amount_minor,
            request.currency,
            config,
            services.today(),
            method=request.method,
        )
        flow.agent_present = legs.agent_reachable
        self.progress = PaymentProgress(services, call.key, payment_id, request)
        self.driver = FlowDriver(flow, self, self.progress.authorize, self.progress)
        self.prompts = CallerPrompts(
            services.ari,
            legs.caller,
            playback_prefix=f"payivr-{payment_id}-",
            language=language,
            post=self.driver.post,
        )
        self._task: asyncio.Task[None] | None = None
        self._agent_shielded = False
        self._paused_recordings = PausedRecordings()

    async def begin(self) -> None:
        """Keep the agent from hearing the keys and pause the recordings, then drive the flow
        in the payment's own task (:class:`PaymentOver` is posted at its end). When either
        cannot be done, it is undone, recorded as not started and :class:`PaymentRefused`."""
        call = self.call.key
        try:
            await self._shield_agent()
        except ChannelGone as gone:
            log.info("leg_gone_before_payment", call=call, error=str(gone))
        except AriError as error:
            # Never ask for a card unless the agent is kept from hearing the keys.
            log.warning("privacy_not_established", call=call, error=str(error))
            await self._abandon_before_start(
                "not started: the agent could not be kept from hearing the keys; "
                "nothing was charged"
            )
            raise PaymentRefused(
                "Asterisk refused to keep the agent from hearing the caller's keys; "
                "the payment was not started"
            ) from None
        try:
            await self._pause_recordings()
        except RecordingNotPaused as refused:
            # Never ask for a card into a recording that keeps it.
            log.warning("recording_not_paused", call=call)
            await self._abandon_before_start(f"not started: {refused}; nothing was charged")
            raise PaymentRefused(f"{refused}; the payment was not started") from None
        self._task = asyncio.create_task(self._drive())

    async def wait(self) -> None:
        """Until the payment's task has ended (right after it posted :class:`PaymentOver`)."""
        if self._task is not None:
            await self._task

    # ------------------------------------------------------------- privacy

    async def _pause_recordings(self) -> None:
        """Mute the recordings of both legs before the first prompt (RecordingNotPaused)."""
        guard = self.services.recordings
        if guard is None:
            return
        agent = self.legs.agent_here
        legs = [self.legs.caller] + ([agent] if agent is not None else [])
        self._paused_recordings = await guard.pause(self.payment_id, legs)

    async def _resume_recordings(self) -> None:
        guard = self.services.recordings
        paused, self._paused_recordings = self._paused_recordings, PausedRecordings()
        if guard is not None and paused.channels:
            await guard.resume(self.payment_id, paused)

    async def _shield_agent(self) -> None:
        """Keep the agent from hearing the caller's keys (hold or talk-through)."""
        ari = self.services.ari
        legs = self.legs
        if self.request.privacy_mode is PrivacyMode.TALK_THROUGH:
            await ari.bridges.remove_channel(legs.bridge_id, legs.caller)
            await ari.bridges.add_channel(legs.bridge_id, legs.caller, absorb_dtmf=True)
            return
        await ari.bridges.remove_channel(legs.bridge_id, legs.caller)
        agent = legs.agent_here
        if agent is not None:
            self._agent_shielded = True
            moh = self.services.calls.music_on_hold_class
            with contextlib.suppress(ChannelGone):
                # Muting "out" would silence the music too (it is written to the agent's
                # channel): with music the agent is muted inbound only; the caller is out of
                # the bridge either way, so nothing of theirs can reach the agent.
                await ari.channels.mute(agent, "in" if moh else "both")
                if moh:
                    await ari.channels.start_moh(agent, moh)
                else:
                    await ari.channels.start_silence(agent)

    async def _abandon_before_start(self, reason: str) -> None:
        """Privacy could not be set up: undo what was done, record that nothing happened."""
        ari = self.services.ari
        legs = self.legs
        with contextlib.suppress(AriError):
            await ari.bridges.remove_channel(legs.bridge_id, legs.caller)
        with contextlib.suppress(AriError):
            await ari.bridges.add_channel(legs.bridge_id, legs.caller)
        await self._unshield_agent()
        self.driver.flow.send(CallerHangup())  # ends the flow; it holds no digits yet
        await self.progress.finished(Finish(Outcome.CANCELLED, reason))

    async def _unshield_agent(self) -> None:
        """Music off, agent unmuted; each step on its own so one failure skips no other."""
        ari = self.services.ari
        agent = self.legs.agent_here
        if not self._agent_shielded or agent is None:
            return
        self._agent_shielded = False
        moh = self.services.calls.music_on_hold_class
        for step in (
            ari.channels.stop_moh(agent) if moh else ari.channels.stop_silence(agent),
            ari.channels.unmute(agent, "in" if moh else "both"),
        ):
            try:
                await step
            except ChannelGone:
                return
            except AriError as error:
                log.warning("agent_unshield_failed", call=self.call.key, error=str(error))

    # ------------------------------------------------------------- CallMedia

    async def play(self, parts: tuple[PromptPart, ...], sequence: int) -> None:
        await self._caller_media(self.prompts.play(parts, sequence))

    async def stop(self, sequence: int) -> None:
        await self.prompts.stop(sequence)

    async def playback_finished(self, playback_id: str) -> None:
        await self._caller_media(self.prompts.playback_finished(playback_id))

    async def resync(self) -> None:
        await self._caller_media(self.prompts.resync())

    async def _caller_media(self, request: Awaitable[None]) -> None:
        """A request on the caller's channel; when it finds the channel gone, the legs know
        it (and the driver tells the flow)."""
        try:
            await request
        except CallGone:
            self.legs.caller_gone = True
            raise

    async def reconnect(self, agent_present: bool) -> None:
        try:
            await self._reconnect(agent_present)
        except ChannelGone:
            # Agent-side requests tolerate a gone agent; what escapes is about the caller.
            raise CallGone(self.legs.caller) from None
        except AriError as error:
            # The outcome (Finish) comes next and must be recorded whatever happens here.
            log.error("reconnect_failed", payment_id=self.payment_id, error=str(error))
            await self._back_with_agent()

    async def _back_with_agent(self) -> None:
        """Last resort after a failure: the caller back in the bridge (or the agent dialled
        back), one request at a time, each failure logged."""
        ari = self.services.ari
        legs = self.legs
        if legs.caller_gone:
            return
        await self._unshield_agent()
        if legs.agent_gone and legs.return_to is not None:
            await legs.dial_back(legs.return_to)
            return
        if legs.agent_gone:
            return  # the session hangs the caller up when it ends
        with contextlib.suppress(AriError):
            await ari.bridges.remove_channel(legs.bridge_id, legs.caller)
        try:
            await ari.bridges.add_channel(legs.bridge_id, legs.caller)
        except AriError as error:
            log.error("caller_not_reconnected", call=self.call.key, error=str(error))

    async def _reconnect(self, agent_present: bool) -> None:
        ari = self.services.ari
        legs = self.legs
        await self._unshield_agent()
        if agent_present and not legs.agent_gone:
            if self.request.privacy_mode is PrivacyMode.TALK_THROUGH:
                # Re-added without absorbDTMF: keys reach the bridge again.
                with contextlib.suppress(NotFound, Unprocessable):
                    await ari.bridges.remove_channel(legs.bridge_id, legs.caller)
            await ari.bridges.add_channel(legs.bridge_id, legs.caller)
            return
        if agent_present and legs.return_to is not None:
            await legs.dial_back(legs.return_to)
            return
        # The agent is gone: the caller heard the outcome and "goodbye".
        if self.services.calls.after_agent_hangup == "continue":
            try:
                await ari.channels.continue_in_dialplan(
                    legs.caller,
                    context=self.services.calls.continue_context,
                    extension="s",
                    priority=1,
                )
            except ChannelGone:
                raise CallGone(legs.caller) from None
            legs.caller_gone = True
        else:
            with contextlib.suppress(ChannelGone):
                await ari.channels.hangup(legs.caller, reason="normal")

    # ------------------------------------------------------------- driving

    async def _drive(self) -> None:
        try:
            await self.driver.run()
        except Exception:
            log.exception("payment_crashed", payment_id=self.payment_id)
            await self._end_after_crash()
        finally:
            try:
                # The flow's last prompt has played and the caller is back: recordings resume.
                await self._resume_recordings()
            finally:
                self.call.post(PaymentOver())

    async def _announce_failure(self) -> None:
        """Tell the caller the payment failed before reconnecting them: keys they may still
        be pressing must end before the agent can hear them again."""
        legs = self.legs
        if legs.caller_gone:
            return
        announced = False

        def heard(_: PromptFinished) -> None:
            nonlocal announced
            announced = True

        await self.prompts.stop_playing()
        self.prompts = CallerPrompts(
            self.services.ari,
            legs.caller,
            playback_prefix=f"payivr-{self.payment_id}-failed-",
            language=self.language,
            post=heard,
        )
        closing = Prompt("returning-to-agent" if legs.agent_reachable else "goodbye")
        try:
            await self.prompts.play((Prompt("payment-error"), closing), 0)
            async with asyncio.timeout(ANNOUNCEMENT_SECONDS):
                await self.driver.serve_media(lambda: announced)
        except (CallGone, TimeoutError):
            pass

    async def _end_after_crash(self) -> None:
        """The flow broke: wipe it, record an outcome it could not, give the caller back."""
        with contextlib.suppress(FlowError):
            # Ending the flow wipes every digit it holds; the commands are not wanted now.
            self.driver.flow.send(CallerHangup())
        if self.driver.finished is None:
            if self.driver.authorization_sent:
                finish = Finish(Outcome.PENDING, CRASHED_WHILE_CHARGING)
            else:
                finish = Finish(Outcome.CANCELLED, CRASHED_BEFORE_CHARGING)
            try:
                await self.progress.finished(finish)
            except Exception:
                log.exception("crashed_payment_not_recorded", payment_id=self.payment_id)
        try:
            await self._announce_failure()
            await self._back_with_agent()
        except Exception:
            log.exception("caller_not_reconnected", payment_id=self.payment_id)
