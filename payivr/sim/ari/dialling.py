"""Dialling: originate, ``/channels/create`` then ``dial``, ringing devices and Local pairs."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .dialplan import split_arguments
from .events import SimulatedAriError
from .model import SimChannel, Technology
from .tasks import log_task_failure

if TYPE_CHECKING:
    from .engine import Engine


class Dialler:
    """Channels requested and called until answered (or not)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _ring(self, channel: SimChannel, timeout: float | None) -> asyncio.Future[str]:
        """Alert the device on ``channel``; the future gives the Dial status."""
        future: asyncio.Future[str] = self.engine.clock.loop.create_future()
        channel.dialing = future
        phone = channel.phone
        if phone is None:
            future.set_result("CHANUNAVAIL")
            return future
        phone.ringing = True
        phone.changed()
        if phone.auto_answer:
            channel.ring_timer = self.engine.clock.call_later(
                phone.answer_delay, self.engine.lifecycle.device_answered, channel
            )
        if timeout is not None and timeout > 0:
            self.engine.clock.call_later(timeout, _time_out, channel, future)
        return future

    def originate(
        self,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: str | None = None,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
        caller_id: str | None = None,
        timeout: int = 30,
        variables: dict[str, str] | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        originator: str | None = None,
        formats: str | None = None,
        create_only: bool = False,
    ) -> SimChannel:
        """``POST /channels`` (and ``/channels/create`` with ``create_only``)."""
        self.engine.lifecycle.check_new_id(channel_id)
        self.engine.lifecycle.check_new_id(other_channel_id)
        if not endpoint:
            raise SimulatedAriError(400, "Endpoint must be specified")
        if originator and formats:
            raise SimulatedAriError(400, "Originator and formats can't both be specified")
        tech, _, resource = endpoint.partition("/")
        if not tech or not resource:
            raise SimulatedAriError(400, "Invalid endpoint specified")
        target: tuple[str, str, int] | None = None
        if not create_only and not app:
            if not extension:
                raise SimulatedAriError(400, "Application or extension must be specified")
            target_context = context or "default"
            if label:
                found = (
                    int(label)
                    if label.isdigit()
                    else self.engine.dialplan.find_label(target_context, extension, label)
                )
                if found is None:
                    raise SimulatedAriError(404, "Requested label can not be found")
                target = (target_context, extension, found)
            else:
                target = (target_context, extension, priority or 1)
        if originator and originator not in self.engine.channels:
            raise SimulatedAriError(400, "Provided originator channel was not found")
        channel = self.request(tech, resource, channel_id, other_channel_id)
        if caller_id:
            name, number = _parse_caller_id(caller_id)
            channel.caller_name, channel.caller_number = name, number
            channel.connected_name, channel.connected_number = name, number
        for key, value in (variables or {}).items():
            channel.variables[key] = value
        if app:
            channel.subscribers.add(app)
            if channel.local_peer is not None:
                channel.local_peer.subscribers.add(app)
        if create_only:
            assert app is not None
            args = split_arguments(app_args) if app_args else []
            self.engine.clock.loop.call_soon(self.engine.stasis.enter_now, channel, app, args)
            return channel
        channel.app_name, channel.app_data = "AppDial2", "(Outgoing Line)"
        dialstring = resource
        ring_seconds = None if timeout == -1 else timeout

        def start_dialling() -> None:
            dialling = self._originate_dial(channel, dialstring, app, app_args, target, ring_seconds)
            self.engine.clock.loop.create_task(dialling).add_done_callback(log_task_failure)

        self.engine.clock.loop.call_soon(start_dialling)
        return channel

    def request(
        self, tech: str, resource: str, channel_id: str | None, other_channel_id: str | None
    ) -> SimChannel:
        """``ast_request``: a channel to a phone, a Local pair, or 500 for unknown endpoints."""
        phone = self.engine.phones.get(f"{tech}/{resource}".lower())
        if phone is not None:
            return self.engine.lifecycle.phone_channel(
                phone, channel_id, "Down", f"{tech}/{resource}"
            )
        if tech.lower() == "local":
            exten_context = resource.split("/")[0]
            exten, _, context = exten_context.partition("@")
            context = context or "default"
            number = self.engine.lifecycle.sequence("Local")
            first = self.engine.lifecycle.new_channel(
                Technology.LOCAL, f"Local/{exten}@{context}-{number:08x};1", channel_id, "Down"
            )
            second_id = other_channel_id or (f"{channel_id};2" if channel_id else None)
            second = self.engine.lifecycle.new_channel(
                Technology.LOCAL, f"Local/{exten}@{context}-{number:08x};2", second_id, "Ring"
            )
            first.local_peer, second.local_peer = second, first
            second.linkedid = first.linkedid
            first.context = second.context = context
            first.exten = second.exten = exten
            second.caller_number = first.caller_number
            return first
        # chan_pjsip finds no such endpoint: ast_dial_prerun fails
        raise SimulatedAriError(500, "Allocation failed")

    async def _originate_dial(
        self,
        channel: SimChannel,
        dialstring: str,
        app: str | None,
        app_args: str | None,
        target: tuple[str, str, int] | None,
        ring_seconds: float | None,
    ) -> None:
        if channel.destroyed:
            return
        self.emit_dial(None, channel, "", dialstring)
        status = await self.call(channel, ring_seconds, dialstring=dialstring)
        if channel.destroyed or channel.hanging_up:
            return
        if status != "ANSWER":
            # At its dial timeout ARI's originate hangs the channel up without a last Dial
            # event (dial.c); a refusal is published with its status.
            if not channel.ring_timed_out:
                self.emit_dial(None, channel, status, dialstring)
            self.engine.lifecycle.hangup(
                channel, cause=unanswered_cause(channel, status), initiator="dialer"
            )
            return
        self.engine.router.set_state(channel, "Up")
        self.emit_dial(None, channel, "ANSWER", dialstring)
        if app:
            args = split_arguments(app_args) if app_args else []
            data = app + ("," + app_args if app_args else "")
            channel.app_name, channel.app_data = "Stasis", data
            exit_to = await self.engine.stasis.run(channel, app, args)
            if channel.destroyed or channel.hanging_up:
                return
            if exit_to is None:
                self.engine.lifecycle.hangup(channel, cause=16, initiator="dialplan")
                return
            self.engine.pbx.start(channel, *exit_to)
        elif target is not None:
            self.engine.pbx.start(channel, *target)

    async def call(
        self,
        channel: SimChannel,
        ring_seconds: float | None,
        *,
        caller: SimChannel | None = None,
        dialstring: str = "",
    ) -> str:
        """Call the device behind ``channel`` until answer; returns the Dial status. A
        ringing device is published as Dial RINGING (dial.c and app_dial on
        AST_CONTROL_RINGING), with ``caller`` and ``dialstring``."""
        if channel.technology is Technology.LOCAL and channel.local_peer is not None:
            second = channel.local_peer
            if not self.engine.dialplan.exists(second.context, second.exten):
                return "CHANUNAVAIL"
            future: asyncio.Future[str] = self.engine.clock.loop.create_future()
            channel.dialing = future
            self.engine.pbx.start(second, second.context, second.exten, 1)
            if ring_seconds:
                self.engine.clock.call_later(ring_seconds, _time_out, channel, future)
            return await future
        phone = channel.phone
        if phone is None:
            return "CHANUNAVAIL"
        if any(c.phone is phone for c in self.engine.channels.values() if c is not channel):
            return "BUSY"
        self.engine.router.set_state(channel, "Ringing")
        ringing = self._ring(channel, ring_seconds)
        if not ringing.done():
            self.emit_dial(caller, channel, "RINGING", dialstring)
        return await ringing

    def emit_dial(
        self, caller: SimChannel | None, peer: SimChannel, status: str, dialstring: str
    ) -> None:
        apps = self.engine.router.channel_apps(peer)
        if caller is not None:
            apps |= self.engine.router.channel_apps(caller)
        if not apps:
            return
        fields: dict[str, Any] = {"dialstatus": status, "forward": "", "dialstring": dialstring}
        if caller is not None:
            fields["caller"] = caller.snapshot()
        fields["peer"] = peer.snapshot()
        self.engine.router.emit(apps, "Dial", fields)

    def dial_created(self, channel: SimChannel, caller: str | None, timeout: int) -> None:
        """``POST /channels/{id}/dial`` on a channel from ``/channels/create``."""
        if channel.state not in ("Down",):
            raise SimulatedAriError(409, "Channel is not in the 'Down' state")
        if caller is not None and caller not in self.engine.channels:
            raise SimulatedAriError(404, "Caller channel not found")

        async def run() -> None:
            self.emit_dial(None, channel, "", channel.name)
            status = await self.call(channel, timeout or None, dialstring=channel.name)
            if channel.destroyed or channel.hanging_up:
                return
            if status == "ANSWER":
                self.engine.router.set_state(channel, "Up")
            self.emit_dial(None, channel, status, channel.name)
            if status != "ANSWER":
                self.engine.lifecycle.hangup(
                    channel, cause=unanswered_cause(channel, status), initiator="dialer"
                )

        self.engine.clock.loop.create_task(run()).add_done_callback(log_task_failure)


def dial_status_for_cause(cause: int) -> str:
    """``ast_hangup_cause_to_dial_status``: the Dial status a hangup cause is reported as."""
    return {17: "BUSY", 34: "CONGESTION", 3: "CHANUNAVAIL", 20: "CHANUNAVAIL"}.get(
        cause, "NOANSWER"
    )


def unanswered_cause(channel: SimChannel, status: str) -> int:
    """The hangup cause of a dialled channel that was not answered."""
    if channel.refused_cause is not None:
        return channel.refused_cause
    return {"BUSY": 17, "NOANSWER": 19, "CONGESTION": 34, "CHANUNAVAIL": 20}.get(status, 16)


def _parse_caller_id(text: str) -> tuple[str, str]:
    if "<" in text and text.endswith(">"):
        name, _, number = text[:-1].partition("<")
        return name.strip().strip('"'), number.strip()
    return "", text.strip()


def _time_out(channel: SimChannel, future: asyncio.Future[str]) -> None:
    """The dial timeout of ``channel``'s call: NOANSWER, unless answered or ended before."""
    if not future.done():
        channel.ring_timed_out = True
        future.set_result("NOANSWER")
