"""The ARI simulator as the PBX behind the AMI simulator: one simulated Asterisk, two APIs.

    sim = AriSimulator("payivr", secret)
    ami = AmiSimulator(AriSimulatorPbx(sim), users={"payivr": ami_secret})

The ARI simulator runs the dialplan itself: a phone keying ``*7`` on a call bridged by
``Dial()`` runs the feature's Gosub, whose ``UserEvent`` reaches AMI sessions through
:meth:`AriSimulatorPbx.add_user_event_listener`; an AMI ``Redirect`` moves the channels into
``payivr-takeover``, whose ``Stasis()`` hands them to the ARI application.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from payivr.ami.models import (
    BridgeSnapshot,
    ChannelSnapshot,
    ChannelState,
    Redirect,
)
from payivr.sim.ami.pbx import (
    NoAudiohooks,
    NoSuchChannel,
    PbxUserEvent,
    UserEventListener,
    UserEventListeners,
)
from payivr.sim.ari import AriSimulator, SimChannelNotFound, SimulatorEvent, UserEventRaised
from payivr.sim.ari.model import SimBridge, SimChannel

_STATES = {state.description: state for state in ChannelState}


class AriSimulatorPbx:
    """A :class:`payivr.sim.ami.pbx.PbxModel` over an :class:`AriSimulator`."""

    def __init__(self, sim: AriSimulator) -> None:
        self.sim = sim
        self._listeners = UserEventListeners()
        sim.add_listener(self._on_simulator_event)

    # -- PbxModel -----------------------------------------------------------------------
    def channels(self) -> Sequence[ChannelSnapshot]:
        return [self._snapshot(channel) for channel in self.sim.channels.values()]

    def channel(self, name: str) -> ChannelSnapshot:
        channel = self.sim.engine.lifecycle.named(name)
        if channel is None:
            raise NoSuchChannel(name)
        return self._snapshot(channel)

    def bridges(self) -> Sequence[BridgeSnapshot]:
        return [_bridge_snapshot(bridge) for bridge in self.sim.bridges.values()]

    async def redirect(self, redirect: Redirect) -> None:
        target, extra = redirect.target, redirect.extra_target
        try:  # without an extra target the simulator sends the extra channel to the target
            await self.sim.redirect(
                redirect.channel,
                target.context,
                target.exten,
                target.priority,
                extra_channel=redirect.extra_channel,
                extra_context=extra.context if extra else None,
                extra_exten=extra.exten if extra else None,
                extra_priority=extra.priority if extra else None,
            )
        except SimChannelNotFound as exc:
            raise NoSuchChannel(str(exc)) from None

    def setvar(self, channel: str | None, name: str, value: str) -> None:
        if channel is None:
            self.sim.engine.global_variables[name] = value
            return
        try:
            self.sim.set_variable(channel, name, value)
        except SimChannelNotFound:
            raise NoSuchChannel(channel) from None

    def mute_recording(self, channel: str, read: bool, write: bool, muted: bool) -> int:
        try:
            found = self.sim.find_channel(channel)
        except SimChannelNotFound:
            raise NoSuchChannel(channel) from None
        recording = found.recording
        if recording is None:
            raise NoAudiohooks(channel)
        if read:
            recording.read_muted = muted
        if write:
            recording.write_muted = muted
        return 1

    def getvar(self, channel: str | None, name: str) -> str | None:
        globals_ = self.sim.engine.global_variables
        if channel is None:
            return globals_.get(name)
        try:
            found = self.sim.find_channel(channel)
        except SimChannelNotFound:
            raise NoSuchChannel(channel) from None
        return found.variables.get(name, globals_.get(name))

    def add_user_event_listener(self, listener: UserEventListener) -> Callable[[], None]:
        return self._listeners.add(listener)

    # -- translation --------------------------------------------------------------------
    def _on_simulator_event(self, event: SimulatorEvent) -> None:
        if not isinstance(event, UserEventRaised):
            return
        raised = PbxUserEvent(
            self._snapshot(event.channel), event.name, tuple(event.fields.items())
        )
        self._listeners.tell(raised)

    def _snapshot(self, channel: SimChannel) -> ChannelSnapshot:
        return ChannelSnapshot(
            name=channel.name,
            uniqueid=channel.id,
            linkedid=channel.variables.get("LINKEDID", channel.id),
            state=_STATES.get(channel.state, ChannelState.DOWN),
            caller_id_num=channel.caller_number or "<unknown>",
            caller_id_name=channel.caller_name or "<unknown>",
            connected_line_num=channel.connected_number or "<unknown>",
            connected_line_name=channel.connected_name or "<unknown>",
            language=channel.language,
            context=channel.context,
            exten=channel.exten,
            priority=channel.priority,
            application=channel.app_name,
            application_data=channel.app_data,
            duration_seconds=max(0, int(self.sim.clock.now() - channel.created)),
            bridge_id=channel.bridge.id if channel.bridge is not None else "",
        )


def _bridge_snapshot(bridge: SimBridge) -> BridgeSnapshot:
    return BridgeSnapshot(
        uniqueid=bridge.id,
        channels=tuple(channel.name for channel in bridge.channels),
        bridge_type="stasis" if bridge.stasis else "basic",
        technology=bridge.technology,
        creator="Stasis" if bridge.stasis else "<unknown>",
        name=bridge.name or "<unknown>",
    )
