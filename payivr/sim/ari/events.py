"""What the simulator tells: ARI events to applications' sockets, and listeners' events."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from payivr.core.errors import PayivrError

from .model import EventSink, SimApplication, SimBridge, SimChannel, iso_time

if TYPE_CHECKING:
    from .engine import Engine

log = structlog.get_logger(__name__)


class SimulatedAriError(PayivrError):
    """A request the simulated Asterisk refuses: the HTTP status and Asterisk's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SimChannelNotFound(PayivrError, LookupError):
    """No channel with that id or name (AMI answers ``Channel does not exist``)."""


class StasisFailedError(PayivrError):
    """``Stasis()`` could not start: the application is not connected."""


@dataclass(frozen=True)
class UserEventRaised:
    """Dialplan ``UserEvent()`` ran (what AMI shows as ``Event: UserEvent``)."""

    channel: SimChannel
    name: str
    fields: dict[str, str]


@dataclass(frozen=True)
class StasisFailed:
    """``Stasis()`` found no connected application: ``STASISSTATUS=FAILED``."""

    channel: SimChannel
    app: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class ChannelHungUp:
    channel: SimChannel
    cause: int


@dataclass(frozen=True)
class ChannelContinued:
    """A channel left Stasis for the dialplan (``POST /channels/{id}/continue``)."""

    channel: SimChannel
    context: str
    exten: str
    priority: int


SimulatorEvent = UserEventRaised | StasisFailed | ChannelHungUp | ChannelContinued


class EventDelivery:
    """Applications, their sockets and subscriptions; events routed to them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.apps: dict[str, SimApplication] = {}
        self._listeners: list[Callable[[SimulatorEvent], None]] = []
        self._event_observers: list[Callable[[str, dict[str, Any]], None]] = []

    def add_listener(self, callback: Callable[[SimulatorEvent], None]) -> None:
        self._listeners.append(callback)

    def add_event_observer(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        self._event_observers.append(callback)

    def notify(self, event: SimulatorEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("ari_sim_listener_failed", event=type(event).__name__)

    def channel_apps(self, channel: SimChannel) -> set[str]:
        apps = set(channel.subscribers)
        if channel.stasis_app is not None:
            apps.add(channel.stasis_app)
        endpoint = channel.phone.endpoint if channel.phone is not None else None
        apps.update(
            a.name
            for a in self.apps.values()
            if a.subscribe_all or (endpoint and endpoint in a.endpoint_ids)
        )
        return apps

    def bridge_apps(self, bridge: SimBridge) -> set[str]:
        apps = set(bridge.subscribers)
        apps.update(a.name for a in self.apps.values() if a.subscribe_all)
        return apps

    def emit(self, apps: Iterable[str], event_type: str, fields: dict[str, Any]) -> None:
        timestamp = iso_time(self.engine.clock.now())
        for app in sorted(set(apps)):
            event = {
                "type": event_type,
                "timestamp": timestamp,
                **fields,
                "asterisk_id": self.engine.asterisk_id,
                "application": app,
            }
            for observer in self._event_observers:
                observer(app, event)
            application = self.apps.get(app)
            if application is not None and application.sinks:
                text = json.dumps(event)
                for sink in list(application.sinks):
                    sink.deliver(text)

    def emit_channel(self, channel: SimChannel, event_type: str, **fields: Any) -> None:
        apps = self.channel_apps(channel)
        if apps:
            self.emit(apps, event_type, {**fields, "channel": channel.snapshot()})

    def emit_bridge(self, bridge: SimBridge, event_type: str, channel: SimChannel | None = None) -> None:
        apps = self.bridge_apps(bridge)
        if not apps:
            return
        fields: dict[str, Any] = {"bridge": bridge.snapshot()}
        if channel is not None:
            fields["channel"] = channel.snapshot()
        self.emit(apps, event_type, fields)

    def set_var(self, channel: SimChannel, name: str, value: str) -> None:
        channel.variables[name] = value
        if name.startswith("__"):
            channel.variables[name[2:]] = value
        elif name.startswith("_"):
            channel.variables[name[1:]] = value
        self.emit(
            self.channel_apps(channel),
            "ChannelVarset",
            {"variable": name, "value": value, "channel": channel.snapshot()},
        )

    def set_state(self, channel: SimChannel, state: str) -> None:
        if channel.state != state:
            channel.state = state
            self.emit_channel(channel, "ChannelStateChange")
            if channel.phone is not None:
                channel.phone.changed()

    def application(self, name: str) -> SimApplication:
        app = self.apps.get(name)
        if app is None:
            app = self.apps[name] = SimApplication(name)
        return app

    def attach(self, app_names: Iterable[str], sink: EventSink, subscribe_all: bool) -> None:
        """A WebSocket connected for ``app_names``; a previous socket of an app is replaced."""
        for name in app_names:
            app = self.application(name)
            for old in list(app.sinks):
                old.deliver(
                    json.dumps(
                        {
                            "type": "ApplicationReplaced",
                            "timestamp": iso_time(self.engine.clock.now()),
                            "asterisk_id": self.engine.asterisk_id,
                            "application": name,
                        }
                    )
                )
                app.sinks.remove(old)
            app.sinks.append(sink)
            app.subscribe_all = subscribe_all

    def detach(self, sink: EventSink) -> None:
        for app in self.apps.values():
            if sink in app.sinks:
                app.sinks.remove(sink)

    def app_is_active(self, name: str) -> bool:
        app = self.apps.get(name)
        return app is not None and app.active

    def app_snapshot(self, name: str) -> dict[str, Any]:
        app = self.apps.get(name)
        if app is None:
            raise SimulatedAriError(404, "Application not found")
        channel_ids = sorted(
            c.id
            for c in self.engine.channels.values()
            if name in c.subscribers or c.stasis_app == name
        )
        bridge_ids = sorted(b.id for b in self.engine.bridges.values() if name in b.subscribers)
        return {
            "name": name,
            "channel_ids": channel_ids,
            "bridge_ids": bridge_ids,
            "endpoint_ids": sorted(app.endpoint_ids),
            "device_names": sorted(app.device_names),
            "events_allowed": [],
            "events_disallowed": [],
        }

    def list_apps(self) -> list[dict[str, Any]]:
        return [self.app_snapshot(name) for name in sorted(self.apps)]

    def subscribe(self, app_name: str, sources: list[str], subscribe: bool) -> dict[str, Any]:
        if app_name not in self.apps:
            raise SimulatedAriError(404, "Application not found")
        app = self.apps[app_name]
        resolved: list[tuple[str, Any]] = []
        for source in sources:
            scheme, _, target = source.partition(":")
            if scheme == "channel":
                channel = self.engine.channels.get(target)
                if channel is None:
                    raise SimulatedAriError(422, "Event source does not exist")
                resolved.append((scheme, channel))
            elif scheme == "bridge":
                bridge = self.engine.bridges.get(target)
                if bridge is None:
                    raise SimulatedAriError(422, "Event source does not exist")
                resolved.append((scheme, bridge))
            elif scheme in ("endpoint", "deviceState"):
                resolved.append((scheme, target))
            else:
                raise SimulatedAriError(400, "Invalid event source URI scheme")
        for scheme, target in resolved:
            if scheme in ("channel", "bridge"):
                if subscribe:
                    target.subscribers.add(app_name)
                else:
                    target.subscribers.discard(app_name)
            elif scheme == "endpoint":
                (app.endpoint_ids.add if subscribe else app.endpoint_ids.discard)(target)
            else:
                (app.device_names.add if subscribe else app.device_names.discard)(target)
        return self.app_snapshot(app_name)
