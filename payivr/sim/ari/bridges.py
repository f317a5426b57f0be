"""Bridges: Stasis bridges, the basic bridges of ``Dial()`` and ``Bridge()``, native RTP."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

from .events import SimulatedAriError
from .model import BRIDGE_CAPABILITIES, SimBridge, SimChannel

if TYPE_CHECKING:
    from .engine import Engine


class Bridging:
    """Channels in and out of bridges."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._basic_bridge_ends: dict[str, asyncio.Future[None]] = {}

    def create_bridge(
        self, bridge_type: str | None, bridge_id: str | None, name: str | None
    ) -> SimBridge:
        requested = {t.strip() for t in (bridge_type or "mixing").split(",") if t.strip()}
        if not requested & BRIDGE_CAPABILITIES:
            raise SimulatedAriError(500, "Unable to create bridge")
        if not requested & {"mixing", "holding"}:
            requested.add("mixing")
        if bridge_id is not None and bridge_id in self.engine.bridges:
            existing = self.engine.bridges[bridge_id]
            if not existing.stasis:
                raise SimulatedAriError(409, f"Bridge with id '{bridge_id}' already exists")
            return existing
        bridge = SimBridge(
            id=bridge_id or str(uuid.uuid4()),
            name=name or "",
            types=frozenset(requested & BRIDGE_CAPABILITIES),
            created=self.engine.clock.now(),
        )
        self.engine.bridges[bridge.id] = bridge
        return bridge

    def stasis_bridge(self, bridge_id: str) -> SimBridge:
        bridge = self.engine.bridges.get(bridge_id)
        if bridge is None:
            raise SimulatedAriError(404, "Bridge not found")
        if not bridge.stasis:
            raise SimulatedAriError(409, "Bridge not in Stasis application")
        return bridge

    def bridge_controls(self, channel_ids: list[str]) -> list[SimChannel]:
        """``control_list_create``: 400 for an unknown channel, 422 when not in Stasis."""
        ids = [c for c in channel_ids if c]
        if not ids:
            raise SimulatedAriError(400, "Missing parameter channel")
        found = []
        for channel_id in ids:
            channel = self.engine.channels.get(channel_id)
            if channel is None:
                raise SimulatedAriError(400, "Channel not found")
            if channel.stasis_app is None:
                raise SimulatedAriError(422, "Channel not in Stasis application")
            found.append(channel)
        return found

    def add_to_bridge(
        self,
        bridge: SimBridge,
        channel: SimChannel,
        *,
        absorb_dtmf: bool = False,
        mute: bool = False,
        role: str = "",
    ) -> None:
        channel.role = role
        if channel.bridge is bridge:
            channel.absorb_dtmf, channel.bridge_muted = absorb_dtmf, mute
            return
        if channel.bridge is not None:
            self.leave_bridge(channel)
        channel.absorb_dtmf, channel.bridge_muted = absorb_dtmf, mute
        self.join_bridge(bridge, channel)

    def remove_from_bridge(self, bridge: SimBridge, channels: list[SimChannel]) -> None:
        for channel in channels:
            if channel.bridge is not bridge:
                raise SimulatedAriError(422, "Channel not in this bridge")
        for channel in channels:
            self.leave_bridge(channel)

    def join_bridge(self, bridge: SimBridge, channel: SimChannel) -> None:
        if channel.stasis_app is not None:
            bridge.subscribers.add(channel.stasis_app)
        bridge.channels.append(channel)
        channel.bridge = bridge
        self.engine.talk.changed()
        self.engine.router.emit_bridge(bridge, "ChannelEnteredBridge", channel)
        self.reconfigure(bridge)
        for member in bridge.channels:
            member.wake_phone()
        if bridge.moh_class:
            self.engine.media.media_to(channel, f"moh:{bridge.moh_class}")

    def reconfigure(self, bridge: SimBridge) -> None:
        """Re-evaluate the technology and set BRIDGEPEER (three rounds when going native)."""
        native = bridge.can_bridge_natively()
        rounds = 3 if native and not bridge.native else 1
        bridge.native = native
        if len(bridge.channels) < 2:
            return
        for _ in range(rounds):
            for member in list(bridge.channels):
                others = [c for c in bridge.channels if c is not member]
                self.engine.router.set_var(member, "BRIDGEPEER", ",".join(o.name for o in others))
                if member.is_sip and len(others) == 1 and others[0].is_sip:
                    self.engine.router.set_var(member, "BRIDGEPVTCALLID", others[0].protocol_id)

    def take_out(self, channel: SimChannel, bridge: SimBridge) -> None:
        """``channel`` leaves ``bridge`` as Asterisk reports it: ``BRIDGEPEER`` cleared,
        ``ChannelLeftBridge``; what follows for the bridge is the caller's to do."""
        self.engine.router.set_var(channel, "BRIDGEPEER", "")
        if channel.variables.get("BRIDGEPVTCALLID"):
            self.engine.router.set_var(channel, "BRIDGEPVTCALLID", "")
        self.engine.router.emit_bridge(bridge, "ChannelLeftBridge", channel)
        bridge.channels.remove(channel)
        channel.bridge = None

    def leave_bridge(self, channel: SimChannel) -> None:
        bridge = channel.bridge
        if bridge is None:
            return
        self.take_out(channel, bridge)
        self.engine.talk.changed()
        channel.absorb_dtmf = channel.bridge_muted = False
        for member in (channel, *bridge.channels):
            member.wake_phone()
        if channel.feature_timer is not None:
            channel.feature_timer.cancel()
            channel.feature_timer = None
        channel.feature_buffer = ""
        bridge.native = bridge.can_bridge_natively()
        if len(bridge.channels) >= 2:
            self.reconfigure(bridge)
        if not bridge.stasis:
            self.dissolve_basic(bridge)

    def dissolve_basic(self, bridge: SimBridge) -> None:
        """A Dial() bridge ends when a party leaves: the others are hung up, Dial returns."""
        for member in list(bridge.channels):
            if not member.hanging_up:
                self.leave_bridge(member)
                self.engine.lifecycle.hangup(member, cause=16, initiator="bridge")
        if not bridge.channels:
            self.engine.bridges.pop(bridge.id, None)
            bridge.destroyed = True
            ended = self._basic_bridge_ends.pop(bridge.id, None)
            if ended is not None and not ended.done():
                ended.set_result(None)

    def destroy_bridge(self, bridge: SimBridge) -> None:
        self.engine.media.stop_all_playbacks(bridge)
        for member in list(bridge.channels):
            self.leave_bridge(member)
        self.engine.router.emit_bridge(bridge, "BridgeDestroyed")
        bridge.destroyed = True
        self.engine.bridges.pop(bridge.id, None)

    async def basic_bridge(self, channel: SimChannel, peer: SimChannel) -> None:
        """``channel`` and ``peer`` in a basic bridge, as ``Dial()`` and ``Bridge()`` make
        one; returns once it dissolves."""
        bridge = SimBridge(
            id=str(uuid.uuid4()),
            name="",
            types=frozenset({"mixing"}),
            created=self.engine.clock.now(),
            stasis=False,
        )
        self.engine.bridges[bridge.id] = bridge
        ended: asyncio.Future[None] = self.engine.clock.loop.create_future()
        self._basic_bridge_ends[bridge.id] = ended
        self.join_bridge(bridge, channel)
        self.join_bridge(bridge, peer)
        await ended
