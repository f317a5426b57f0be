"""What the AMI simulator needs to know about a PBX, and a small in-memory PBX that provides it.

The AMI simulator (``payivr.sim.ami.server``) speaks the wire protocol; everything it reports
or changes (channels, bridges, variables, redirects, UserEvents raised by the dialplan) goes
through the :class:`PbxModel` protocol, so it can sit on the ARI simulator (see
``payivr.sim.ami.ari_pbx``) or on :class:`InMemoryPbx` in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from payivr.ami.models import BridgeSnapshot, ChannelSnapshot, DialplanLocation, Redirect
from payivr.core.errors import PayivrError


@dataclass(frozen=True)
class PbxUserEvent:
    """``UserEvent(name,Key: value,...)`` ran on ``channel`` (snapshot taken at that moment)."""

    channel: ChannelSnapshot
    name: str
    fields: tuple[tuple[str, str], ...]


class NoSuchChannel(PayivrError, LookupError):
    def __init__(self, channel: str) -> None:
        super().__init__(channel)
        self.channel = channel


UserEventListener = Callable[[PbxUserEvent], None]


class UserEventListeners:
    """Who hears a PBX's UserEvents (an AMI simulator's sessions)."""

    def __init__(self) -> None:
        self._listeners: list[UserEventListener] = []

    def add(self, listener: UserEventListener) -> Callable[[], None]:
        """Add ``listener``; the function returned removes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def tell(self, event: PbxUserEvent) -> None:
        for listener in list(self._listeners):
            listener(event)


class NoAudiohooks(PayivrError):
    """The channel has no audio hooks (no MixMonitor, no spy) to mute."""


class PbxModel(Protocol):
    """The PBX behind an AMI simulator. Channel arguments are channel names, as on AMI."""

    def channels(self) -> Sequence[ChannelSnapshot]: ...

    def channel(self, name: str) -> ChannelSnapshot:
        """The channel called ``name``; raises :class:`NoSuchChannel`."""

    def bridges(self) -> Sequence[BridgeSnapshot]: ...

    async def redirect(self, redirect: Redirect) -> None:
        """Move the channel (and the extra channel) out of their bridge into the dialplan.

        Raises :class:`NoSuchChannel` naming the first channel that does not exist; checks
        both before moving either.
        """

    def setvar(self, channel: str | None, name: str, value: str) -> None:
        """Set a channel variable (a global one when ``channel`` is None)."""

    def getvar(self, channel: str | None, name: str) -> str | None: ...

    def mute_recording(self, channel: str, read: bool, write: bool, muted: bool) -> int:
        """``MixMonitorMute``: (un)mute the directions named of ``channel``'s MixMonitors.

        Returns how many were changed; raises :class:`NoSuchChannel`, or
        :class:`NoAudiohooks` when the channel has none (Asterisk: "Cannot set mute flag").
        """

    def add_user_event_listener(self, listener: UserEventListener) -> Callable[[], None]:
        """Call ``listener`` for every UserEvent the dialplan raises; returns an unsubscriber."""


@dataclass
class _Channel:
    snapshot: ChannelSnapshot
    variables: dict[str, str] = field(default_factory=dict)


class InMemoryPbx:
    """A :class:`PbxModel` holding channels and bridges in dictionaries.

    It runs no dialplan: a redirect only moves the channel (``redirects`` records each one and
    ``on_redirect`` hooks can act on it, e.g. put the channel into Stasis).
    """

    def __init__(self) -> None:
        self._channels: dict[str, _Channel] = {}
        self._bridges: dict[str, BridgeSnapshot] = {}
        self._globals: dict[str, str] = {}
        self._listeners = UserEventListeners()
        self.redirects: list[tuple[str, DialplanLocation]] = []
        self.on_redirect: list[Callable[[ChannelSnapshot], None]] = []

    # -- building the scene -------------------------------------------------------------
    def add_channel(self, snapshot: ChannelSnapshot) -> None:
        self._channels[snapshot.name] = _Channel(snapshot)

    def remove_channel(self, name: str) -> None:
        self._leave_bridge(name)
        del self._channels[name]

    def add_bridge(self, uniqueid: str, channels: Sequence[str], **details: str) -> None:
        for name in channels:
            self._leave_bridge(name)
            self._update(name, bridge_id=uniqueid)
        self._bridges[uniqueid] = BridgeSnapshot(uniqueid, tuple(channels), **details)
        self._set_bridge_peers(uniqueid)

    def move(self, name: str, location: DialplanLocation, application: str = "") -> None:
        self._update(
            name,
            context=location.context,
            exten=location.exten,
            priority=location.priority,
            application=application,
        )

    def channel(self, name: str) -> ChannelSnapshot:
        try:
            return self._channels[name].snapshot
        except KeyError:
            raise NoSuchChannel(name) from None

    def raise_user_event(
        self, channel: str, name: str, fields: Sequence[tuple[str, str]]
    ) -> None:
        """What ``UserEvent(name,Key: value,...)`` in the dialplan of ``channel`` does."""
        event = PbxUserEvent(self.channel(channel), name, tuple(fields))
        self._listeners.tell(event)

    # -- PbxModel -----------------------------------------------------------------------
    def channels(self) -> Sequence[ChannelSnapshot]:
        return [c.snapshot for c in self._channels.values()]

    def bridges(self) -> Sequence[BridgeSnapshot]:
        return list(self._bridges.values())

    async def redirect(self, redirect: Redirect) -> None:
        moves = [(redirect.channel, redirect.target)]
        if redirect.extra_channel is not None:
            moves.append((redirect.extra_channel, redirect.extra_target or redirect.target))
        for name, _ in moves:
            self.channel(name)
        for name, location in moves:
            self._leave_bridge(name)
            self.move(name, location)
            self.redirects.append((name, location))
        for name, _ in moves:
            for hook in list(self.on_redirect):
                hook(self.channel(name))

    def setvar(self, channel: str | None, name: str, value: str) -> None:
        if channel is None:
            self._globals[name] = value
            return
        self._get(channel).variables[name] = value

    def getvar(self, channel: str | None, name: str) -> str | None:
        if channel is None:
            return self._globals.get(name)
        return self._get(channel).variables.get(name, self._globals.get(name))

    def mute_recording(self, channel: str, read: bool, write: bool, muted: bool) -> int:
        self._get(channel)
        raise NoAudiohooks(channel)  # the recorded calls ran no MixMonitor

    def add_user_event_listener(self, listener: UserEventListener) -> Callable[[], None]:
        return self._listeners.add(listener)

    # -- internals ----------------------------------------------------------------------
    def _get(self, name: str) -> _Channel:
        try:
            return self._channels[name]
        except KeyError:
            raise NoSuchChannel(name) from None

    def _update(self, name: str, **changes: object) -> None:
        channel = self._get(name)
        channel.snapshot = replace(channel.snapshot, **changes)  # type: ignore[arg-type]

    def _leave_bridge(self, name: str) -> None:
        bridge_id = self._get(name).snapshot.bridge_id
        if not bridge_id:
            return
        self._update(name, bridge_id="")
        self._get(name).variables["BRIDGEPEER"] = ""
        bridge = self._bridges.get(bridge_id)
        if bridge is None:
            return
        remaining = tuple(c for c in bridge.channels if c != name)
        if remaining:
            self._bridges[bridge_id] = replace(bridge, channels=remaining)
            self._set_bridge_peers(bridge_id)
        else:
            del self._bridges[bridge_id]

    def _set_bridge_peers(self, bridge_id: str) -> None:
        """Asterisk's ``BRIDGEPEER``: each member's other parties, comma-separated (as the ARI
        simulator sets it: a member left alone keeps the last value)."""
        members = self._bridges[bridge_id].channels
        if len(members) < 2:
            return
        for name in members:
            others = ",".join(other for other in members if other != name)
            self._get(name).variables["BRIDGEPEER"] = others
