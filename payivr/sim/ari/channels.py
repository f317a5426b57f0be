"""Channels: their ids and names, the phones behind them, hang-ups and snoops."""

from __future__ import annotations

import contextlib
import itertools
import uuid
from typing import TYPE_CHECKING

from .dialling import dial_status_for_cause
from .dialplan import split_arguments
from .events import ChannelHungUp, SimChannelNotFound, SimulatedAriError, StasisFailedError
from .model import HANGUP_CAUSES, SIP_RESPONSE_CAUSES, SimChannel, Technology
from .tasks import current_task, log_task_failure

if TYPE_CHECKING:
    from .engine import Engine
    from .phones import SimPhone

MAX_PUBLIC_UNIQUEID = 149


class ChannelLifecycle:
    """Channels from creation to ``ChannelDestroyed``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.epoch = 1795290000  # channel ids are <epoch>.<n>
        self._uniqueids = itertools.count(1)
        self._name_counters: dict[str, itertools.count[int]] = {}
        self._by_name: dict[str, SimChannel] = {}

    def _uniqueid(self) -> str:
        while True:
            candidate = f"{self.epoch}.{next(self._uniqueids)}"
            if candidate not in self.engine.channels:
                return candidate

    def sequence(self, key: str) -> int:
        counter = self._name_counters.setdefault(key, itertools.count())
        return next(counter)

    def check_new_id(self, channel_id: str | None) -> None:
        if channel_id is not None and len(channel_id) > MAX_PUBLIC_UNIQUEID:
            raise SimulatedAriError(
                400, f"Uniqueid length exceeds maximum of {MAX_PUBLIC_UNIQUEID}"
            )
        if channel_id is not None and channel_id in self.engine.channels:
            raise SimulatedAriError(409, "Channel with given unique ID already exists")

    def new_channel(
        self,
        technology: Technology,
        name: str,
        channel_id: str | None,
        state: str,
        phone: SimPhone | None = None,
    ) -> SimChannel:
        channel = SimChannel(
            id=channel_id or self._uniqueid(),
            name=name,
            technology=technology,
            created=self.engine.clock.now(),
            state=state,
            phone=phone,
        )
        if technology is Technology.SIP:
            channel.protocol_id = str(uuid.uuid4())
        channel.linkedid = channel.id
        self.engine.channels[channel.id] = channel
        self._by_name.setdefault(channel.name, channel)
        if phone is not None:
            phone.channel = channel
            phone.changed()
        return channel

    def find_channel(self, id_or_name: str) -> SimChannel:
        """A channel by id, or by name as AMI names them."""
        channel = self.engine.channels.get(id_or_name) or self.named(id_or_name)
        if channel is None:
            raise SimChannelNotFound(id_or_name)
        return channel

    def named(self, name: str) -> SimChannel | None:
        """The first channel (in order of creation) called ``name``.

        Looked up in an index, not by a walk over every channel: AMI names channels in
        each Setvar, Getvar and Redirect, and thousands of calls make thousands of channels.
        The walk remains for a name the index lost (its first holder gone, a namesake left).
        """
        channel = self._by_name.get(name)
        if channel is None:
            channel = next((c for c in self.engine.channels.values() if c.name == name), None)
            if channel is not None:
                self._by_name[name] = channel
        return channel

    def control(self, channel_id: str) -> SimChannel:
        """``find_control``: 404 when gone, 409 when not in Stasis."""
        channel = self.engine.channels.get(channel_id)
        if channel is None:
            raise SimulatedAriError(404, "Channel not found")
        if channel.stasis_app is None:
            raise SimulatedAriError(409, "Channel not in Stasis application")
        return channel

    def control_up(self, channel_id: str) -> SimChannel:
        """``find_control`` then ``channel_state_invalid`` (412 before answer)."""
        channel = self.control(channel_id)
        if channel.state in ("Down", "Rsrvd", "Ringing"):
            raise SimulatedAriError(412, "Channel in invalid state")
        return channel

    def add_phone(self, phone: SimPhone) -> None:
        key = phone.endpoint.lower()
        if key in self.engine.phones:
            raise ValueError(f"a phone already uses {phone.endpoint}")
        self.engine.phones[key] = phone

    def reach_phone_at(self, phone: SimPhone, endpoint: str) -> None:
        """Dialling ``endpoint`` (e.g. a number on the trunk) rings ``phone`` too."""
        key = endpoint.lower()
        if key in self.engine.phones:
            raise ValueError(f"a phone already uses {endpoint}")
        self.engine.phones[key] = phone

    def phone_channel(
        self, phone: SimPhone, channel_id: str | None, state: str, dialled: str | None = None
    ) -> SimChannel:
        if phone.technology == "local":
            name = f"Local/{phone.resource}-{self.sequence('Local'):08x};1"
            channel = self.new_channel(Technology.LOCAL, name, channel_id, state, phone)
        else:
            tech, _, resource = (dialled or phone.endpoint).partition("/")
            # PJSIP/<number>@<endpoint> (a number on a trunk) names the channel after the
            # endpoint, as chan_pjsip does: PJSIP/trunk-0000000a.
            device = resource.rpartition("@")[2]
            name = f"{tech}/{device}-{self.sequence(tech):08x}"
            channel = self.new_channel(Technology.SIP, name, channel_id, state, phone)
            channel.context = phone.context
        channel.caller_number = phone.resource
        return channel

    def device_call(self, phone: SimPhone, context: str, exten: str) -> SimChannel:
        """A phone dials ``exten``: an inbound channel runs the dialplan there."""
        channel = self.phone_channel(phone, None, "Ring")
        channel.connected_number = exten
        self.engine.pbx.start(channel, context, exten, 1)
        return channel

    def device_answered(self, channel: SimChannel) -> None:
        _stop_ringing(channel)
        if channel.dialing is not None and not channel.dialing.done():
            channel.dialing.set_result("ANSWER")

    def device_hangup(self, channel: SimChannel) -> None:
        self.hangup(channel, cause=16, initiator="device")

    def device_refused(self, channel: SimChannel, sip_status: int) -> None:
        """The ringing device (or the trunk behind it) answered the INVITE with an error:
        chan_pjsip queues a hangup with the mapped cause; the dialer reports it and hangs up."""
        cause = SIP_RESPONSE_CAUSES[sip_status]
        _stop_ringing(channel)
        channel.refused_cause = cause
        self.engine.router.emit_channel(channel, "ChannelHangupRequest", cause=cause)
        if channel.dialing is not None and not channel.dialing.done():
            channel.dialing.set_result(dial_status_for_cause(cause))

    def answer_now(self, channel: SimChannel) -> None:
        """``POST /channels/{id}/answer``."""
        if channel.state != "Up":
            self.engine.router.set_state(channel, "Up")
            peer = channel.local_peer
            if peer is not None and peer.dialing is not None and not peer.dialing.done():
                peer.dialing.set_result("ANSWER")

    def set_variable(self, channel: SimChannel, name: str, value: str) -> None:
        """A variable or a writable function (``CALLERID(num)``...) as ARI sets them."""
        if name.endswith(")"):
            function, _, argument = name[:-1].partition("(")
            item = argument.strip().lower()
            if function.upper() == "CALLERID" and item in ("num", "name"):
                if item == "num":
                    channel.caller_number = value
                else:
                    channel.caller_name = value
                return
            if function.upper() == "CHANNEL" and item == "language":
                channel.language = value
                return
            if function.upper() == "TALK_DETECT" and item in ("set", "remove"):
                self.engine.talk.set(channel, value if item == "set" else None)
                return
            raise SimulatedAriError(400, "Failed to execute function")
        self.engine.router.set_var(channel, name, value)

    def hangup(self, channel: SimChannel, *, cause: int = 16, initiator: str = "ari") -> None:
        """Tear a channel down as Asterisk does; ``initiator`` decides the first events.

        ``ari``: ``DELETE /channels`` (soft hangup, cause 32 in the request event);
        ``device``: the far end hung up (SIP BYE: RTP QoS variables, then a hard request);
        ``local``: the other half of a Local pair went away; ``dialplan``, ``bridge``,
        ``dialer``: Asterisk ended it itself.
        """
        if channel.hanging_up or channel.destroyed:
            return
        channel.hanging_up = True
        channel.hangup_cause = cause
        self.engine.talk.hanging_up(channel)
        if channel.ring_timer is not None:
            channel.ring_timer.cancel()
        if channel.dialing is not None and not channel.dialing.done():
            channel.dialing.set_result("CANCEL")
        if initiator == "ari":
            self.engine.router.emit_channel(channel, "ChannelHangupRequest", cause=32, soft=True)
        elif initiator == "device":
            if channel.is_sip:
                self._rtp_quality_variables(channel)
            self.engine.router.emit_channel(channel, "ChannelHangupRequest", cause=cause)
        elif initiator == "local":
            self.engine.router.emit_channel(channel, "ChannelHangupRequest", cause=cause)
        self.engine.media.stop_all_playbacks(channel)
        if channel.bridge is not None:
            self.engine.bridging.leave_bridge(channel)
        if channel.stasis_app is not None:
            self.engine.stasis.leave(channel, None)
            self.engine.router.set_var(channel, "STASISSTATUS", "SUCCESS")
        if channel.has_pbx:
            self.engine.router.emit_channel(channel, "ChannelHangupRequest", cause=cause, soft=True)
        if channel.pbx_task is not None and channel.pbx_task is not current_task():
            channel.pbx_task.cancel()
        for snoop in list(channel.snoops):
            self.hangup(snoop, cause=16, initiator="local")
        peer = channel.local_peer
        if peer is not None and not peer.hanging_up and not peer.destroyed:
            if channel.name.endswith(";2") and "DIALSTATUS" in channel.variables:
                self.engine.router.set_var(peer, "CHANLOCALSTATUS", channel.variables["DIALSTATUS"])
            self.hangup(peer, cause=16, initiator="local")
        self.engine.router.emit_channel(
            channel, "ChannelDestroyed", cause=cause, cause_txt=HANGUP_CAUSES.get(cause, "Unknown")
        )
        channel.destroyed = True
        self.engine.channels.pop(channel.id, None)
        if self._by_name.get(channel.name) is channel:
            del self._by_name[channel.name]
        if channel.snoop_target is not None and channel in channel.snoop_target.snoops:
            channel.snoop_target.snoops.remove(channel)
        phone = channel.phone
        if phone is not None and phone.channel is channel:
            phone.channel = None
            phone.ringing = False
            phone.changed()
        self.engine.router.notify(ChannelHungUp(channel, cause))

    def _rtp_quality_variables(self, channel: SimChannel) -> None:
        peer = None
        if channel.bridge is not None and len(channel.bridge.channels) == 2:
            peer = next(c for c in channel.bridge.channels if c is not channel)
        for suffix, value in (
            (
                "",
                "ssrc=1;themssrc=2;lp=0;rxjitter=0.000000;rxcount=0;txjitter=0.000000;"
                "txcount=0;rlp=0;rtt=0.000000;rxmes=0.000000;txmes=0.000000",
            ),
            ("JITTER", "minrxjitter=000.000000;maxrxjitter=000.000000;"),
            ("LOSS", "minrxlost=000.000000;maxrxlost=000.000000;"),
            ("RTT", "minrtt=000.000000;maxrtt=000.000000;"),
            ("MES", "minrxmes=000.000000;maxrxmes=000.000000;"),
        ):
            self.engine.router.set_var(channel, f"RTPAUDIOQOS{suffix}", value)
            if peer is not None:
                self.engine.router.set_var(peer, f"RTPAUDIOQOS{suffix}BRIDGED", value)

    def snoop(
        self,
        target: SimChannel,
        spy: str,
        whisper: str,
        app: str,
        app_args: str | None,
        snoop_id: str | None,
    ) -> SimChannel:
        self.check_new_id(snoop_id)
        name = f"Snoop/{target.id}-{self.sequence('Snoop'):08x}"
        snoop = self.new_channel(Technology.SNOOP, name, snoop_id, "Up")
        snoop.snoop_target = target
        snoop.snoop_whisper = whisper
        target.snoops.append(snoop)
        snoop.subscribers.add(app)
        args = split_arguments(app_args) if app_args else []

        async def run() -> None:
            with contextlib.suppress(StasisFailedError):
                await self.engine.stasis.run(snoop, app, args)
            if not snoop.destroyed:
                self.hangup(snoop, cause=16, initiator="dialplan")

        self.engine.clock.loop.create_task(run()).add_done_callback(log_task_failure)
        return snoop


def _stop_ringing(channel: SimChannel) -> None:
    """The device answered the INVITE: its phone stops ringing, its auto-answer is off."""
    if channel.phone is not None:
        channel.phone.ringing = False
    if channel.ring_timer is not None:
        channel.ring_timer.cancel()
        channel.ring_timer = None
