"""The simulated Asterisk: what happens to channels, bridges, playbacks and applications.

Everything runs on the event loop without polling: timers are ``loop.call_later`` through
:class:`~.model.Clock` (scaled by ``time_scale``), and only channels running dialplan have a
task. Events go to applications as Asterisk routes them: channel events to the apps
subscribed to the channel (its Stasis app, the app that originated it, explicit
subscriptions), bridge events to the apps subscribed to the bridge. The rules reproduce the
recordings in ``tests/fixtures/ari/traces`` (see the package docstring for the list).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import uuid
import wave
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from .dialplan import (
    Dialplan,
    builtin_function,
    conditional,
    expand,
    split_application,
    split_arguments,
)
from .model import (
    ASTERISK_ID,
    BRIDGE_CAPABILITIES,
    HANGUP_CAUSES,
    SIP_RESPONSE_CAUSES,
    Application,
    Bridge,
    Channel,
    Clock,
    EventSink,
    Playback,
    Recording,
    Technology,
    iso_time,
)
from .phones import SimPhone

log = structlog.get_logger(__name__)

MAX_PUBLIC_UNIQUEID = 149
CONTROLLABLE_SCHEMES = ("sound:", "recording:", "tone:")
SAY_SECONDS_PER_ITEM = 0.6
MEDIA_WAIT_AFTER_ANSWER = 0.5
FEATURE_DIGIT_TIMEOUT = 1.0
TRANSFER_DIGIT_TIMEOUT = 3.0  # features.conf transferdigittimeout's default
BLIND_TRANSFER = "blindxfer"
# AMD() with its default settings (app_amd.c): a person's "Hello?" then 800 ms of silence;
# a machine's greeting talks past the 1500 ms a greeting may last.
AMD_HUMAN_SECONDS = 1.4
AMD_MACHINE_SECONDS = 1.5
_SOUND_EXTENSIONS = (".wav", ".WAV", ".wav16", ".gsm", ".ulaw", ".alaw", ".sln", ".sln16", ".g722")
_BYTES_PER_SECOND = {".gsm": 1650, ".ulaw": 8000, ".alaw": 8000, ".sln": 16000, ".sln16": 32000,
                     ".g722": 8000}


class AriError(Exception):
    """A request Asterisk refuses: the HTTP status and Asterisk's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ChannelNotFound(LookupError):
    """No channel with that id or name (AMI answers ``Channel does not exist``)."""


@dataclass(frozen=True)
class UserEventRaised:
    """Dialplan ``UserEvent()`` ran (what AMI shows as ``Event: UserEvent``)."""

    channel: Channel
    name: str
    fields: dict[str, str]


@dataclass(frozen=True)
class StasisFailed:
    """``Stasis()`` found no connected application: ``STASISSTATUS=FAILED``."""

    channel: Channel
    app: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class ChannelHungUp:
    channel: Channel
    cause: int


@dataclass(frozen=True)
class ChannelContinued:
    """A channel left Stasis for the dialplan (``POST /channels/{id}/continue``)."""

    channel: Channel
    context: str
    exten: str
    priority: int


SimulatorEvent = UserEventRaised | StasisFailed | ChannelHungUp | ChannelContinued


class SoundLibrary:
    """How long media plays, and whether it exists.

    ``durations`` (name -> seconds, or ``None`` for a missing sound) wins; then files under
    ``sounds_dir`` (Asterisk's sounds root: ``<root>/<lang>/<name>.*`` or ``<root>/<name>.*``)
    and under mounted prefixes; a name found nowhere is missing when a directory could have
    held it, else it plays for ``default_duration``.
    """

    def __init__(
        self,
        sounds_dir: Path | None,
        durations: dict[str, float | None] | None = None,
        default_duration: float = 1.0,
    ) -> None:
        self.sounds_dir = sounds_dir
        self.durations: dict[str, float | None] = dict(durations or {})
        self.default_duration = default_duration
        self.mounts: dict[str, Path] = {}
        self._cache: dict[tuple[str, str], float | None] = {}

    def mount(self, prefix: str, directory: Path) -> None:
        """Make ``sound:<prefix>/...`` resolve under ``directory`` (as installing it there)."""
        self.mounts[prefix.strip("/")] = directory
        self._cache.clear()

    def duration(self, name: str, language: str) -> float | None:
        if name in self.durations:
            return self.durations[name]
        key = (name, language)
        if key not in self._cache:
            self._cache[key] = self._lookup(name, language)
        return self._cache[key]

    def _lookup(self, name: str, language: str) -> float | None:
        prefix, _, rest = name.partition("/")
        candidates: list[Path] = []
        if rest and prefix in self.mounts:
            candidates = [self.mounts[prefix] / rest]
        elif self.sounds_dir is not None:
            candidates = [self.sounds_dir / language / name, self.sounds_dir / name]
        else:
            return self.default_duration
        for base in candidates:
            for extension in _SOUND_EXTENSIONS:
                path = base.with_name(base.name + extension)
                if path.is_file():
                    return _file_duration(path)
        return None

    def names(self) -> list[str]:
        found: set[str] = set(n for n, d in self.durations.items() if d is not None)
        roots = [(self.sounds_dir, "")] if self.sounds_dir else []
        roots += [(path, prefix + "/") for prefix, path in self.mounts.items()]
        for root, prefix in roots:
            if root is None or not root.is_dir():
                continue
            for path in root.rglob("*"):
                if path.suffix in _SOUND_EXTENSIONS and path.is_file():
                    found.add(prefix + str(path.relative_to(root).with_suffix("")))
        return sorted(found)


def _file_duration(path: Path) -> float:
    if path.suffix.lower() == ".wav":
        try:
            with wave.open(str(path), "rb") as sound:
                return sound.getnframes() / float(sound.getframerate())
        except (wave.Error, EOFError):
            return path.stat().st_size / 16000
    return path.stat().st_size / _BYTES_PER_SECOND.get(path.suffix, 8000)


def _say_items(uri: str) -> int:
    scheme, _, value = uri.partition(":")
    if scheme == "number":
        return max(1, len(value.lstrip("-")))
    return max(1, len(value))


class Engine:
    """The simulated Asterisk behind the REST and WebSocket front (see :mod:`.server`)."""

    def __init__(self, clock: Clock, sounds: SoundLibrary, dialplan: Dialplan,
                 asterisk_id: str = ASTERISK_ID) -> None:
        self.clock = clock
        self.asterisk_id = asterisk_id  # the entity id (asterisk.conf entityid)
        self.sounds = sounds
        self.dialplan = dialplan
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.playbacks: dict[str, Playback] = {}
        self.apps: dict[str, Application] = {}
        self.phones: dict[str, SimPhone] = {}  # by lower-cased endpoint
        self.global_variables = dialplan.global_variables  # [globals], AMI/ARI setters
        # Read(): the digit timer of each channel reading, and its length
        self._read_timers: dict[str, tuple[asyncio.TimerHandle, float]] = {}
        self._talk_check_pending = False
        self._talk_detectors: set[str] = set()  # ids of channels with TALK_DETECT set
        self.device_states: dict[str, str] = {}
        self.started = 0.0
        self._epoch = 1795290000
        self._uniqueids = itertools.count(1)
        self._name_counters: dict[str, itertools.count[int]] = {}
        self._listeners: list[Callable[[SimulatorEvent], None]] = []
        self._event_observers: list[Callable[[str, dict[str, Any]], None]] = []
        self._dial_bridge_ends: dict[str, asyncio.Future[None]] = {}

    # -- listeners and event delivery -------------------------------------------------------

    def add_listener(self, callback: Callable[[SimulatorEvent], None]) -> None:
        self._listeners.append(callback)

    def add_event_observer(self, callback: Callable[[str, dict[str, Any]], None]) -> None:
        self._event_observers.append(callback)

    def _notify(self, event: SimulatorEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("ari_sim_listener_failed", event=type(event).__name__)

    def _channel_apps(self, channel: Channel) -> set[str]:
        apps = set(channel.subscribers)
        if channel.stasis_app is not None:
            apps.add(channel.stasis_app)
        endpoint = channel.phone.endpoint if channel.phone is not None else None
        apps.update(a.name for a in self.apps.values()
                    if a.subscribe_all or (endpoint and endpoint in a.endpoint_ids))
        return apps

    def _bridge_apps(self, bridge: Bridge) -> set[str]:
        apps = set(bridge.subscribers)
        apps.update(a.name for a in self.apps.values() if a.subscribe_all)
        return apps

    def _emit(self, apps: Iterable[str], event_type: str, fields: dict[str, Any]) -> None:
        timestamp = iso_time(self.clock.now())
        for app in sorted(set(apps)):
            event = {"type": event_type, "timestamp": timestamp, **fields,
                     "asterisk_id": self.asterisk_id, "application": app}
            for observer in self._event_observers:
                observer(app, event)
            application = self.apps.get(app)
            if application is not None and application.sinks:
                text = json.dumps(event)
                for sink in list(application.sinks):
                    sink.deliver(text)

    def _emit_channel(self, channel: Channel, event_type: str, **fields: Any) -> None:
        apps = self._channel_apps(channel)
        if apps:
            self._emit(apps, event_type, {**fields, "channel": channel.snapshot()})

    def _emit_bridge(self, bridge: Bridge, event_type: str, channel: Channel | None = None) -> None:
        apps = self._bridge_apps(bridge)
        if not apps:
            return
        fields: dict[str, Any] = {"bridge": bridge.snapshot()}
        if channel is not None:
            fields["channel"] = channel.snapshot()
        self._emit(apps, event_type, fields)

    def _set_var(self, channel: Channel, name: str, value: str) -> None:
        channel.variables[name] = value
        if name.startswith("__"):
            channel.variables[name[2:]] = value
        elif name.startswith("_"):
            channel.variables[name[1:]] = value
        self._emit(self._channel_apps(channel), "ChannelVarset",
                   {"variable": name, "value": value, "channel": channel.snapshot()})

    def _set_state(self, channel: Channel, state: str) -> None:
        if channel.state != state:
            channel.state = state
            self._emit_channel(channel, "ChannelStateChange")
            if channel.phone is not None:
                channel.phone.changed()

    # -- applications and sockets ---------------------------------------------------------

    def application(self, name: str) -> Application:
        app = self.apps.get(name)
        if app is None:
            app = self.apps[name] = Application(name)
        return app

    def attach(self, app_names: Iterable[str], sink: EventSink, subscribe_all: bool) -> None:
        """A WebSocket connected for ``app_names``; a previous socket of an app is replaced."""
        for name in app_names:
            app = self.application(name)
            for old in list(app.sinks):
                old.deliver(json.dumps({
                    "type": "ApplicationReplaced", "timestamp": iso_time(self.clock.now()),
                    "asterisk_id": self.asterisk_id, "application": name}))
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
            raise AriError(404, "Application not found")
        channel_ids = sorted(
            c.id for c in self.channels.values() if name in c.subscribers or c.stasis_app == name
        )
        bridge_ids = sorted(b.id for b in self.bridges.values() if name in b.subscribers)
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
            raise AriError(404, "Application not found")
        app = self.apps[app_name]
        resolved: list[tuple[str, Any]] = []
        for source in sources:
            scheme, _, target = source.partition(":")
            if scheme == "channel":
                channel = self.channels.get(target)
                if channel is None:
                    raise AriError(422, "Event source does not exist")
                resolved.append((scheme, channel))
            elif scheme == "bridge":
                bridge = self.bridges.get(target)
                if bridge is None:
                    raise AriError(422, "Event source does not exist")
                resolved.append((scheme, bridge))
            elif scheme in ("endpoint", "deviceState"):
                resolved.append((scheme, target))
            else:
                raise AriError(400, "Invalid event source URI scheme")
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

    # -- ids and names --------------------------------------------------------------------

    def _uniqueid(self) -> str:
        while True:
            candidate = f"{self._epoch}.{next(self._uniqueids)}"
            if candidate not in self.channels:
                return candidate

    def _sequence(self, key: str) -> int:
        counter = self._name_counters.setdefault(key, itertools.count())
        return next(counter)

    def _check_new_id(self, channel_id: str | None) -> None:
        if channel_id is not None and len(channel_id) > MAX_PUBLIC_UNIQUEID:
            raise AriError(400, f"Uniqueid length exceeds maximum of {MAX_PUBLIC_UNIQUEID}")
        if channel_id is not None and channel_id in self.channels:
            raise AriError(409, "Channel with given unique ID already exists")

    def _new_channel(self, technology: Technology, name: str, channel_id: str | None,
                     state: str, phone: SimPhone | None = None) -> Channel:
        channel = Channel(
            id=channel_id or self._uniqueid(), name=name, technology=technology,
            created=self.clock.now(), state=state, phone=phone,
        )
        if technology is Technology.SIP:
            channel.protocol_id = str(uuid.uuid4())
        channel.linkedid = channel.id
        self.channels[channel.id] = channel
        if phone is not None:
            phone.channel = channel
            phone.changed()
        return channel

    def find_channel(self, id_or_name: str) -> Channel:
        """A channel by id, or by name as AMI names them."""
        channel = self.channels.get(id_or_name)
        if channel is not None:
            return channel
        for channel in self.channels.values():
            if channel.name == id_or_name:
                return channel
        raise ChannelNotFound(id_or_name)

    def control(self, channel_id: str) -> Channel:
        """``find_control``: 404 when gone, 409 when not in Stasis."""
        channel = self.channels.get(channel_id)
        if channel is None:
            raise AriError(404, "Channel not found")
        if channel.stasis_app is None:
            raise AriError(409, "Channel not in Stasis application")
        return channel

    def control_up(self, channel_id: str) -> Channel:
        """``find_control`` then ``channel_state_invalid`` (412 before answer)."""
        channel = self.control(channel_id)
        if channel.state in ("Down", "Rsrvd", "Ringing"):
            raise AriError(412, "Channel in invalid state")
        return channel

    # -- phones ---------------------------------------------------------------------------

    def add_phone(self, phone: SimPhone) -> None:
        key = phone.endpoint.lower()
        if key in self.phones:
            raise ValueError(f"a phone already uses {phone.endpoint}")
        self.phones[key] = phone

    def reach_phone_at(self, phone: SimPhone, endpoint: str) -> None:
        """Dialling ``endpoint`` (e.g. a number on the trunk) rings ``phone`` too."""
        key = endpoint.lower()
        if key in self.phones:
            raise ValueError(f"a phone already uses {endpoint}")
        self.phones[key] = phone

    def _phone_channel(self, phone: SimPhone, channel_id: str | None, state: str,
                       dialled: str | None = None) -> Channel:
        if phone.technology == "local":
            name = f"Local/{phone.resource}-{self._sequence('Local'):08x};1"
            channel = self._new_channel(Technology.LOCAL, name, channel_id, state, phone)
        else:
            tech, _, resource = (dialled or phone.endpoint).partition("/")
            # PJSIP/<number>@<endpoint> (a number on a trunk) names the channel after the
            # endpoint, as chan_pjsip does: PJSIP/trunk-0000000a.
            device = resource.rpartition("@")[2]
            name = f"{tech}/{device}-{self._sequence(tech):08x}"
            channel = self._new_channel(Technology.SIP, name, channel_id, state, phone)
            channel.context = phone.context
        channel.caller_number = phone.resource
        return channel

    def device_call(self, phone: SimPhone, context: str, exten: str) -> Channel:
        """A phone dials ``exten``: an inbound channel runs the dialplan there."""
        channel = self._phone_channel(phone, None, "Ring")
        channel.connected_number = exten
        self._start_pbx(channel, context, exten, 1)
        return channel

    def device_answered(self, channel: Channel) -> None:
        phone = channel.phone
        if phone is not None:
            phone.ringing = False
        if channel.ring_timer is not None:
            channel.ring_timer.cancel()
            channel.ring_timer = None
        if channel.dialing is not None and not channel.dialing.done():
            channel.dialing.set_result("ANSWER")

    def device_hangup(self, channel: Channel) -> None:
        self.hangup(channel, cause=16, initiator="device")

    def device_refused(self, channel: Channel, sip_status: int) -> None:
        """The ringing device (or the trunk behind it) answered the INVITE with an error:
        chan_pjsip queues a hangup with the mapped cause; the dialer reports it and hangs up."""
        cause = SIP_RESPONSE_CAUSES[sip_status]
        phone = channel.phone
        if phone is not None:
            phone.ringing = False
        if channel.ring_timer is not None:
            channel.ring_timer.cancel()
            channel.ring_timer = None
        channel.refused_cause = cause
        self._emit_channel(channel, "ChannelHangupRequest", cause=cause)
        if channel.dialing is not None and not channel.dialing.done():
            channel.dialing.set_result(dial_status_for_cause(cause))

    def device_dtmf(self, channel: Channel, digit: str, duration_ms: int) -> None:
        self._dtmf_read(channel, digit, duration_ms)

    def _ring(self, channel: Channel, timeout: float | None) -> asyncio.Future[str]:
        """Alert the device on ``channel``; the future gives the Dial status."""
        future: asyncio.Future[str] = self.clock.loop.create_future()
        channel.dialing = future
        phone = channel.phone
        if phone is None:
            future.set_result("CHANUNAVAIL")
            return future
        phone.ringing = True
        phone.changed()
        if phone.auto_answer:
            channel.ring_timer = self.clock.call_later(phone.answer_delay, self.device_answered,
                                                       channel)
        if timeout is not None and timeout > 0:
            self.clock.call_later(timeout, _time_out, channel, future)
        return future

    # -- dtmf -----------------------------------------------------------------------------

    def _dtmf_read(self, channel: Channel, digit: str, duration_ms: int) -> None:
        """A DTMF end frame read from ``channel`` (from its device or its Local peer)."""
        if channel.destroyed or channel.hanging_up:
            return
        bridge = channel.bridge
        if bridge is not None and bridge.native:
            for other in bridge.channels:
                if other is not channel:
                    self._dtmf_write(other, digit, duration_ms)
            return
        self._emit_channel(channel, "ChannelDtmfReceived", digit=digit, duration_ms=duration_ms)
        if channel.recording is not None and not channel.recording.read_muted:
            channel.recording.entries.append(f"dtmf:{digit}")
        if channel.reading is not None:
            self._read_digit(channel, digit)
            return
        if bridge is None:
            return
        if not bridge.stasis and self._feature_codes(channel):
            self._feature_digit(channel, digit, duration_ms)
            return
        self._dtmf_into_bridge(channel, digit, duration_ms)

    def _dtmf_into_bridge(self, channel: Channel, digit: str, duration_ms: int) -> None:
        bridge = channel.bridge
        if bridge is None or channel.absorb_dtmf or bridge.holding:
            return
        for other in list(bridge.channels):
            if other is not channel:
                self._dtmf_write(other, digit, duration_ms)

    def _dtmf_write(self, channel: Channel, digit: str, duration_ms: int) -> None:
        """DTMF written to ``channel``: its device receives it, or its Local peer reads it."""
        if channel.destroyed:
            return
        if channel.phone is not None:
            channel.phone.received_dtmf += digit
            channel.phone.changed()
        elif channel.local_peer is not None:
            self._dtmf_read(channel.local_peer, digit, duration_ms)

    def send_dtmf(self, channel: Channel, dtmf: str, before: int, between: int, duration: int,
                  after: int) -> None:
        """``POST /channels/{id}/dtmf``: digits written to the channel over time."""
        at = before / 1000
        for digit in dtmf:
            if digit == ",":  # a comma is a 500 ms pause in Asterisk's DTMF strings
                at += 0.5
                continue
            at += duration / 1000
            self.clock.call_later(at, self._dtmf_write, channel, digit, duration)
            at += between / 1000

    def _feature_names(self, channel: Channel) -> list[str]:
        wanted = channel.variables.get("DYNAMIC_FEATURES", "")
        return [name for name in wanted.split("#") if name in self.dialplan.features]

    def _feature_codes(self, channel: Channel) -> dict[str, str]:
        """The codes ``channel`` may key in a Dial() bridge: its dynamic features, and the
        blind transfer when Dial()'s ``t``/``T`` armed it."""
        codes = {self.dialplan.features[n][0]: n for n in self._feature_names(channel)}
        blind = self.dialplan.featuremap.get(BLIND_TRANSFER)
        if channel.may_transfer and blind:
            codes[blind] = BLIND_TRANSFER
        return codes

    def _feature_digit(self, channel: Channel, digit: str, duration_ms: int) -> None:
        """Feature detection in a Dial() bridge: code digits are held and swallowed."""
        if channel.feature_timer is not None:
            channel.feature_timer.cancel()
            channel.feature_timer = None
        buffered = channel.feature_buffer + digit
        codes = self._feature_codes(channel)
        if buffered in codes:
            channel.feature_buffer = ""
            if codes[buffered] == BLIND_TRANSFER:
                task = self.clock.loop.create_task(self._blind_transfer(channel))
                task.add_done_callback(_log_task_failure)
            else:
                self._run_feature(channel, codes[buffered])
            return
        if any(code.startswith(buffered) for code in codes):
            channel.feature_buffer = buffered
            channel.feature_timer = self.clock.call_later(
                FEATURE_DIGIT_TIMEOUT, self._flush_feature_digits, channel, duration_ms)
            return
        channel.feature_buffer = ""
        for held in buffered:
            self._dtmf_into_bridge(channel, held, duration_ms)

    def _flush_feature_digits(self, channel: Channel, duration_ms: int) -> None:
        held, channel.feature_buffer = channel.feature_buffer, ""
        channel.feature_timer = None
        for digit in held:
            self._dtmf_into_bridge(channel, digit, duration_ms)

    async def _blind_transfer(self, transferer: Channel) -> None:
        """features.conf ``blindxfer`` (bridge_basic.c): the transferer hears ``pbx-transfer``
        and keys a number (each key within transferdigittimeout, until no longer one can
        match) in its TRANSFER_CONTEXT or its own context; the other party gets BLINDTRANSFER
        (the transferer's channel name) and goes there, the transferer is hung up. A number
        that does not exist: ``pbx-invalid``, and the call goes on."""
        bridge = transferer.bridge
        others = [c for c in bridge.channels if c is not transferer] if bridge else []
        if len(others) != 1:
            return
        transferee = others[0]
        context = transferer.variables.get("TRANSFER_CONTEXT") or transferer.context
        self._media_to(transferer, "sound:pbx-transfer")
        number = ""
        while True:
            digits = asyncio.get_running_loop().create_future()
            transferer.reading = ("PAYIVR_SIM_TRANSFER", 1, digits)
            transferer.variables["PAYIVR_SIM_TRANSFER"] = ""
            self._read_timers[transferer.id] = (
                self.clock.call_later(TRANSFER_DIGIT_TIMEOUT, _resolve_none, digits),
                TRANSFER_DIGIT_TIMEOUT,
            )
            try:
                await digits
            finally:
                self._read_timers.pop(transferer.id)[0].cancel()
                transferer.reading = None
            key = transferer.variables.pop("PAYIVR_SIM_TRANSFER", "")
            if not key:  # the time ran out, or #
                break
            number += key
            if not self.dialplan.matches_more(context, number):
                break
        if transferer.destroyed or transferee.destroyed or transferee.bridge is not bridge:
            return
        if not number or not self.dialplan.exists(context, number):
            self._media_to(transferer, "sound:pbx-invalid")
            return
        self._set_var(transferee, "BLINDTRANSFER", transferer.name)
        self.redirect(transferee, context, number, 1)

    def _run_feature(self, channel: Channel, feature: str) -> None:
        _, context, exten, priority = self.dialplan.features[feature]
        task = self.clock.loop.create_task(self._gosub(channel, context, exten, priority))
        task.add_done_callback(_log_task_failure)

    # -- talk detection -------------------------------------------------------------------

    def _set_talk_detect(self, channel: Channel, value: str | None) -> None:
        """``TALK_DETECT(set)=<silence ms>[,<talking threshold>]``, or ``TALK_DETECT(remove)``."""
        if channel.talk_end_timer is not None:
            channel.talk_end_timer.cancel()
            channel.talk_end_timer = None
        channel.talking_since = None
        if value is None:
            channel.talk_detect = None
            self._talk_detectors.discard(channel.id)
            return
        silence_ms = value.split(",", 1)[0].strip() or "2500"  # func_talkdetect's default
        channel.talk_detect = int(silence_ms) / 1000
        self._talk_detectors.add(channel.id)
        self._talk_changed()

    def _talk_changed(self) -> None:
        """Audio paths changed (a playback, a bridge, a hangup): look again, once."""
        if self._talk_detectors and not self._talk_check_pending:
            self._talk_check_pending = True
            self.clock.loop.call_soon(self._detect_talking)

    def _detect_talking(self) -> None:
        """``TALK_DETECT`` reports the audio a channel reads: here, any playback heard on
        the channel (played to it, or to a channel whose audio reaches it through Local
        pairs and bridges). Talking starts at once and finishes after the silence."""
        self._talk_check_pending = False
        detecting = [c for c in map(self.channels.get, self._talk_detectors)
                     if c is not None and not c.hanging_up]
        if not detecting:
            return
        reading: set[str] = set()
        for source in list(self.channels.values()):
            if source.playing is not None and not source.muted_out and not source.hanging_up:
                self._audio_to(source, [], reading)
        now = self.clock.now()
        for channel in detecting:
            assert channel.talk_detect is not None
            hears = channel.id in reading
            if hears and channel.talk_end_timer is not None:
                channel.talk_end_timer.cancel()  # talking again within the silence
                channel.talk_end_timer = None
            elif hears and channel.talking_since is None:
                channel.talking_since = now
                self._emit_channel(channel, "ChannelTalkingStarted")
            elif not hears and channel.talking_since is not None and channel.talk_end_timer is None:
                channel.talk_end_timer = self.clock.call_later(
                    channel.talk_detect, self._talking_finished, channel)

    def _talking_finished(self, channel: Channel) -> None:
        channel.talk_end_timer = None
        if channel.talking_since is None or channel.hanging_up:
            return
        duration = self.clock.now() - channel.talking_since
        channel.talking_since = None
        self._emit_channel(channel, "ChannelTalkingFinished", duration=round(duration * 1000))

    # -- media ----------------------------------------------------------------------------

    def _listens_to_bridge(self, channel: Channel) -> bool:
        return not (channel.muted_out or channel.playing or channel.moh_class or channel.silence)

    @staticmethod
    def _suspended_from_bridge(channel: Channel) -> bool:
        """A channel playback on a bridged channel runs as a bridge action on Asterisk 22
        (res_stasis_playback → ast_bridge_channel_queue_playfile_sync): the channel is
        suspended from the bridge until the prompt ends, so nothing it says reaches the
        others (and it hears none of them, see :meth:`_listens_to_bridge`)."""
        return channel.playing is not None

    def audible_phones(self, speaker: Channel) -> list[SimPhone]:
        """Phones the voice of ``speaker``'s device reaches right now."""
        if speaker.muted_in or speaker.on_hold:
            return []
        found: list[SimPhone] = []
        self._audio_from(speaker, found, set())
        return found

    def _audio_from(self, channel: Channel, found: list[SimPhone], seen: set[str]) -> None:
        if channel.id in seen:
            return
        seen.add(channel.id)
        bridge = channel.bridge
        if bridge is None or channel.bridge_muted or bridge.moh_class or bridge.holding:
            return  # a holding bridge's participants do not hear each other
        if self._suspended_from_bridge(channel):
            return
        for other in bridge.channels:
            if other is not channel and self._listens_to_bridge(other):
                self._audio_to(other, found, seen)

    def _audio_to(self, channel: Channel, found: list[SimPhone], seen: set[str]) -> None:
        if channel.phone is not None:
            if channel.phone not in found:
                found.append(channel.phone)
        elif channel.local_peer is not None and not channel.local_peer.muted_in:
            self._audio_from(channel.local_peer, found, seen)

    def _media_to(self, channel: Channel, uri: str) -> None:
        """Media played to ``channel``: its device hears it (through Local peers too)."""
        if channel.muted_out:
            return
        if channel.recording is not None and not channel.recording.write_muted:
            channel.recording.entries.append(uri)
        if channel.snoop_target is not None:
            if channel.snoop_whisper in ("out", "both"):
                self._media_to(channel.snoop_target, uri)
            return
        phones: list[SimPhone] = []
        self._audio_to(channel, phones, set())
        for phone in phones:
            phone.heard.append(uri)
            phone.changed()

    def media_duration(self, uri: str, language: str) -> float | None:
        scheme, _, value = uri.partition(":")
        if scheme == "sound":
            return self.sounds.duration(value, language)
        if scheme in ("number", "digits", "characters"):
            if scheme == "number" and not value.lstrip("-").isdigit():
                return None
            return SAY_SECONDS_PER_ITEM * _say_items(uri)
        if scheme == "tone":
            return float("inf")
        return None

    # -- playbacks ------------------------------------------------------------------------

    def play(self, target: Channel | Bridge, media: list[str], language: str | None,
             playback_id: str | None, skipms: int) -> Playback:
        if isinstance(target, Channel):
            kind, lang = "channel", language or target.language
        else:
            kind, lang = "bridge", language or "en"
        playback = Playback(id=playback_id or str(uuid.uuid4()), media=list(media),
                            target_kind=kind, target_id=target.id, language=lang, skipms=skipms)
        self.playbacks[playback.id] = playback
        target.playback_queue.append(playback)
        if target.playing is None:
            self.clock.loop.call_soon(self._next_playback, target)
        return playback

    def _playback_apps(self, playback: Playback) -> set[str]:
        if playback.target_kind == "channel":
            channel = self.channels.get(playback.target_id)
            return self._channel_apps(channel) if channel is not None else set()
        bridge = self.bridges.get(playback.target_id)
        return self._bridge_apps(bridge) if bridge is not None else set()

    def _emit_playback(self, playback: Playback, event_type: str) -> None:
        apps = self._playback_apps(playback)
        if apps:
            self._emit(apps, event_type, {"playback": playback.snapshot()})

    def _playback_target(self, playback: Playback) -> Channel | Bridge | None:
        if playback.target_kind == "channel":
            return self.channels.get(playback.target_id)
        return self.bridges.get(playback.target_id)

    def _next_playback(self, target: Channel | Bridge) -> None:
        if target.playing is not None or not target.playback_queue:
            return
        if isinstance(target, Channel) and (target.destroyed or target.hanging_up):
            return
        playback = target.playback_queue.popleft()
        target.playing = playback
        if isinstance(target, Channel) and target.moh_class:
            target.moh_class = None  # media operations suspend MOH without resuming it
        self._play_item(playback)

    def _play_item(self, playback: Playback) -> None:
        playback.state = "playing"
        self._emit_playback(playback, "PlaybackStarted")
        duration = self.media_duration(playback.media_uri, playback.language)
        if duration is None:
            if playback.index + 1 < len(playback.media):
                self._item_done(playback)
            else:
                self._finish_playback(playback, "failed")
            return
        self._talk_changed()
        target = self._playback_target(playback)
        if isinstance(target, Channel):
            self._media_to(target, playback.media_uri)
        elif isinstance(target, Bridge):
            for member in target.channels:
                self._media_to(member, playback.media_uri)
        if duration != float("inf"):
            playback.item_ends_at = self.clock.now() + duration
            playback.timer = self.clock.call_later(duration, self._item_done, playback)

    def _item_done(self, playback: Playback) -> None:
        playback.timer = None
        if playback.index + 1 < len(playback.media):
            playback.state = "continuing"
            self._emit_playback(playback, "PlaybackContinuing")
            playback.index += 1
            self._play_item(playback)
        else:
            self._finish_playback(playback, "done")

    def _finish_playback(self, playback: Playback, state: str) -> None:
        if playback.timer is not None:
            playback.timer.cancel()
            playback.timer = None
        playback.state = state
        self._emit_playback(playback, "PlaybackFinished")
        self.playbacks.pop(playback.id, None)
        self._talk_changed()
        target = self._playback_target(playback)
        if target is not None and target.playing is playback:
            target.playing = None
            self.clock.loop.call_soon(self._next_playback, target)

    def playback(self, playback_id: str) -> Playback:
        playback = self.playbacks.get(playback_id)
        if playback is None:
            raise AriError(404, "Playback not found")
        return playback

    def stop_playback(self, playback_id: str) -> None:
        playback = self.playback(playback_id)
        target = self._playback_target(playback)
        if playback.state == "queued":
            if target is not None and playback in target.playback_queue:
                target.playback_queue.remove(playback)
            self._finish_playback(playback, "done")
            return
        if not playback.media_uri.startswith(CONTROLLABLE_SCHEMES):
            # res_stasis_playback: number:/digits: are not controllable; the list plays on.
            raise AriError(500, "Could not stop playback")
        self._finish_playback(playback, "done")

    def control_playback(self, playback_id: str, operation: str) -> None:
        playback = self.playback(playback_id)
        if playback.state != "playing":
            raise AriError(409, "Can only control playing playbacks")
        if not playback.media_uri.startswith(CONTROLLABLE_SCHEMES):
            raise AriError(500, "Playback operation failed")
        now = self.clock.now()
        if operation == "pause":
            if playback.paused_remaining is None and playback.timer is not None:
                playback.paused_remaining = max(0.0, playback.item_ends_at - now)
                playback.timer.cancel()
                playback.timer = None
            return
        remaining = playback.paused_remaining
        if remaining is None:
            remaining = max(0.0, playback.item_ends_at - now)
        if operation == "unpause" and playback.paused_remaining is None:
            return
        duration = self.media_duration(playback.media_uri, playback.language) or 0.0
        if operation == "restart":
            remaining = duration
        elif operation == "forward":
            remaining = max(0.0, remaining - playback.skipms / 1000)
        elif operation == "reverse":
            remaining = min(duration, remaining + playback.skipms / 1000)
        playback.paused_remaining = None
        if playback.timer is not None:
            playback.timer.cancel()
        if remaining != float("inf"):
            playback.item_ends_at = now + remaining
            playback.timer = self.clock.call_later(remaining, self._item_done, playback)

    def _stop_all_playbacks(self, target: Channel | Bridge) -> None:
        while target.playback_queue:
            queued = target.playback_queue.popleft()
            self._finish_playback(queued, "done")
        if target.playing is not None:
            playing, target.playing = target.playing, None
            self._finish_playback(playing, "done")

    # -- channel media controls --------------------------------------------------------------

    def answer_now(self, channel: Channel) -> None:
        """``POST /channels/{id}/answer``."""
        if channel.state != "Up":
            self._set_state(channel, "Up")
            peer = channel.local_peer
            if peer is not None and peer.dialing is not None and not peer.dialing.done():
                peer.dialing.set_result("ANSWER")

    def set_variable(self, channel: Channel, name: str, value: str) -> None:
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
                self._set_talk_detect(channel, value if item == "set" else None)
                return
            raise AriError(400, "Failed to execute function")
        self._set_var(channel, name, value)

    def mute(self, channel: Channel, direction: str, mute: bool) -> None:
        had_hook = channel.muted_in or channel.muted_out
        if direction in ("in", "both"):
            channel.muted_in = mute
        if direction in ("out", "both"):
            channel.muted_out = mute
        if had_hook != (channel.muted_in or channel.muted_out) and channel.bridge is not None:
            # attaching/detaching the suppress framehook makes the bridge reconfigure
            self._reconfigure(channel.bridge)

    def start_moh(self, channel: Channel, moh_class: str | None) -> None:
        channel.moh_class = moh_class or "default"
        self._media_to(channel, f"moh:{channel.moh_class}")

    def stop_moh(self, channel: Channel) -> None:
        channel.moh_class = None

    def hold(self, channel: Channel, hold: bool) -> None:
        if channel.on_hold == hold:
            return
        channel.on_hold = hold
        self._emit_channel(channel, "ChannelHold" if hold else "ChannelUnhold")
        if hold and channel.bridge is not None:
            for other in channel.bridge.channels:
                if other is not channel:
                    self._media_to(other, "moh:default")

    def bridge_moh(self, bridge: Bridge, moh_class: str | None) -> None:
        bridge.moh_class = moh_class or "default"
        for member in bridge.channels:
            self._media_to(member, f"moh:{bridge.moh_class}")

    # -- originate ------------------------------------------------------------------------

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
    ) -> Channel:
        """``POST /channels`` (and ``/channels/create`` with ``create_only``)."""
        self._check_new_id(channel_id)
        self._check_new_id(other_channel_id)
        if not endpoint:
            raise AriError(400, "Endpoint must be specified")
        if originator and formats:
            raise AriError(400, "Originator and formats can't both be specified")
        tech, _, resource = endpoint.partition("/")
        if not tech or not resource:
            raise AriError(400, "Invalid endpoint specified")
        target: tuple[str, str, int] | None = None
        if not create_only and not app:
            if not extension:
                raise AriError(400, "Application or extension must be specified")
            target_context = context or "default"
            if label:
                found = int(label) if label.isdigit() else self.dialplan.find_label(
                    target_context, extension, label)
                if found is None:
                    raise AriError(404, "Requested label can not be found")
                target = (target_context, extension, found)
            else:
                target = (target_context, extension, priority or 1)
        if originator and originator not in self.channels:
            raise AriError(400, "Provided originator channel was not found")
        channel = self._request(tech, resource, channel_id, other_channel_id)
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
            self.clock.loop.call_soon(self._enter_stasis_now, channel, app, args)
            return channel
        channel.app_name, channel.app_data = "AppDial2", "(Outgoing Line)"
        dialstring = resource
        self.clock.loop.call_soon(self._originate_dial, channel, dialstring, app, app_args,
                                  target, None if timeout == -1 else timeout)
        return channel

    def _request(self, tech: str, resource: str, channel_id: str | None,
                 other_channel_id: str | None) -> Channel:
        """``ast_request``: a channel to a phone, a Local pair, or 500 for unknown endpoints."""
        phone = self.phones.get(f"{tech}/{resource}".lower())
        if phone is not None:
            return self._phone_channel(phone, channel_id, "Down", f"{tech}/{resource}")
        if tech.lower() == "local":
            exten_context = resource.split("/")[0]
            exten, _, context = exten_context.partition("@")
            context = context or "default"
            number = self._sequence("Local")
            first = self._new_channel(Technology.LOCAL,
                                      f"Local/{exten}@{context}-{number:08x};1",
                                      channel_id, "Down")
            second_id = other_channel_id or (f"{channel_id};2" if channel_id else None)
            second = self._new_channel(Technology.LOCAL,
                                       f"Local/{exten}@{context}-{number:08x};2",
                                       second_id, "Ring")
            first.local_peer, second.local_peer = second, first
            second.linkedid = first.linkedid
            first.context = second.context = context
            first.exten = second.exten = exten
            second.caller_number = first.caller_number
            return first
        # chan_pjsip finds no such endpoint: ast_dial_prerun fails
        raise AriError(500, "Allocation failed")

    def _originate_dial(self, channel: Channel, dialstring: str, app: str | None,
                        app_args: str | None, target: tuple[str, str, int] | None,
                        timeout: float | None) -> None:
        task = self.clock.loop.create_task(
            self._originate_dial_task(channel, dialstring, app, app_args, target, timeout))
        task.add_done_callback(_log_task_failure)

    async def _originate_dial_task(self, channel: Channel, dialstring: str, app: str | None,
                                   app_args: str | None, target: tuple[str, str, int] | None,
                                   ring_seconds: float | None) -> None:
        if channel.destroyed:
            return
        self._emit_dial(None, channel, "", dialstring)
        status = await self._call(channel, ring_seconds)
        if channel.destroyed or channel.hanging_up:
            return
        if status != "ANSWER":
            # At its dial timeout ARI's originate hangs the channel up without a last Dial
            # event (dial.c); a refusal is published with its status.
            if not channel.ring_timed_out:
                self._emit_dial(None, channel, status, dialstring)
            self.hangup(channel, cause=_unanswered_cause(channel, status), initiator="dialer")
            return
        self._set_state(channel, "Up")
        self._emit_dial(None, channel, "ANSWER", dialstring)
        if app:
            args = split_arguments(app_args) if app_args else []
            data = app + ("," + app_args if app_args else "")
            channel.app_name, channel.app_data = "Stasis", data
            exit_to = await self._stasis(channel, app, args)
            if channel.destroyed or channel.hanging_up:
                return
            if exit_to is None:
                self.hangup(channel, cause=16, initiator="dialplan")
                return
            self._start_pbx(channel, *exit_to)
        elif target is not None:
            self._start_pbx(channel, *target)

    async def _call(self, channel: Channel, ring_seconds: float | None) -> str:
        """Call the device behind ``channel`` until answer; returns the Dial status."""
        if channel.technology is Technology.LOCAL and channel.local_peer is not None:
            second = channel.local_peer
            if not self.dialplan.exists(second.context, second.exten):
                return "CHANUNAVAIL"
            future: asyncio.Future[str] = self.clock.loop.create_future()
            channel.dialing = future
            self._start_pbx(second, second.context, second.exten, 1)
            if ring_seconds:
                self.clock.call_later(ring_seconds, _time_out, channel, future)
            return await future
        phone = channel.phone
        if phone is None:
            return "CHANUNAVAIL"
        if any(c.phone is phone for c in self.channels.values() if c is not channel):
            return "BUSY"
        self._set_state(channel, "Ringing")
        return await self._ring(channel, ring_seconds)

    def _emit_dial(self, caller: Channel | None, peer: Channel, status: str,
                   dialstring: str) -> None:
        apps = self._channel_apps(peer)
        if caller is not None:
            apps |= self._channel_apps(caller)
        if not apps:
            return
        fields: dict[str, Any] = {"dialstatus": status, "forward": "", "dialstring": dialstring}
        if caller is not None:
            fields["caller"] = caller.snapshot()
        fields["peer"] = peer.snapshot()
        self._emit(apps, "Dial", fields)

    def dial_created(self, channel: Channel, caller: str | None, timeout: int) -> None:
        """``POST /channels/{id}/dial`` on a channel from ``/channels/create``."""
        if channel.state not in ("Down",):
            raise AriError(409, "Channel is not in the 'Down' state")
        if caller is not None and caller not in self.channels:
            raise AriError(404, "Caller channel not found")

        async def run() -> None:
            self._emit_dial(None, channel, "", channel.name)
            status = await self._call(channel, timeout or None)
            if channel.destroyed or channel.hanging_up:
                return
            if status == "ANSWER":
                self._set_state(channel, "Up")
            self._emit_dial(None, channel, status, channel.name)
            if status != "ANSWER":
                self.hangup(channel, cause=_unanswered_cause(channel, status),
                            initiator="dialer")

        self.clock.loop.create_task(run()).add_done_callback(_log_task_failure)

    # -- stasis ---------------------------------------------------------------------------

    def _enter_stasis_now(self, channel: Channel, app: str, args: list[str]) -> None:
        task = self.clock.loop.create_task(self._stasis(channel, app, args))
        task.add_done_callback(_log_task_failure)

    async def _stasis(self, channel: Channel, app: str, args: list[str]
                      ) -> tuple[str, str, int] | None:
        """Run ``Stasis(app,args)`` on ``channel``: the continue target, or None to go on."""
        self._set_var(channel, "STASISSTATUS", "")
        if not self.app_is_active(app):
            log.info("ari_sim_stasis_failed", app=app, channel=channel.id)
            self._set_var(channel, "STASISSTATUS", "FAILED")
            self._notify(StasisFailed(channel, app, tuple(args)))
            raise _StasisFailedError
        channel.stasis_app = app
        channel.stasis_args = list(args)
        channel.stasis_exit = self.clock.loop.create_future()
        self._emit({app}, "StasisStart", {"args": list(args), "channel": channel.snapshot()})
        _touch(channel)
        exit_to = await channel.stasis_exit
        if not channel.hanging_up and not channel.destroyed:
            self._set_var(channel, "STASISSTATUS", "SUCCESS")
        return exit_to

    def _leave_stasis(self, channel: Channel, exit_to: tuple[str, str, int] | None) -> None:
        app = channel.stasis_app
        if app is None:
            return
        self._stop_all_playbacks(channel)
        self._emit({app}, "StasisEnd", {"channel": channel.snapshot()})
        channel.stasis_app = None
        channel.stasis_args = []
        if channel.stasis_exit is not None and not channel.stasis_exit.done():
            channel.stasis_exit.set_result(exit_to)
        channel.stasis_exit = None
        _touch(channel)

    def continue_in_dialplan(self, channel: Channel, context: str | None, extension: str | None,
                             priority: int | None, label: str | None) -> None:
        if context:
            target_context, exten = context, extension or "s"
        else:
            target_context, exten = channel.context, extension or channel.exten
        if label:
            if label.isdigit():
                target_priority = int(label)
            else:
                found = self.dialplan.find_label(target_context, exten, label)
                if found is None:
                    raise AriError(404, "Requested label can not be found")
                target_priority = found
            if target_priority == 0:
                raise AriError(400, "Requested priority is illegal")
        elif priority:
            target_priority = priority
        elif not context and not extension:
            target_priority = channel.priority + 1
        else:
            target_priority = 1
        target = (target_context, exten, target_priority)
        channel.continued_to = target
        if channel.phone is not None:
            channel.phone.continued_to = target
            channel.phone.changed()
        if channel.bridge is not None:
            self._leave_bridge(channel)
        self._notify(ChannelContinued(channel, *target))
        self._leave_stasis(channel, target)

    def move(self, channel: Channel, app: str, app_args: list[str]) -> None:
        old = channel.stasis_app
        if not self.app_is_active(app):
            if old is not None:
                self._emit({old}, "ApplicationMoveFailed",
                           {"destination": app, "args": app_args, "channel": channel.snapshot()})
            return
        if channel.bridge is not None:
            self._leave_bridge(channel)
        self._stop_all_playbacks(channel)
        if old is not None:
            self._emit({old}, "StasisEnd", {"channel": channel.snapshot()})
        channel.stasis_app = app
        channel.stasis_args = list(app_args)
        self._emit({app}, "StasisStart", {"args": list(app_args), "channel": channel.snapshot()})

    # -- dialplan (pbx) -------------------------------------------------------------------

    def _start_pbx(self, channel: Channel, context: str, exten: str, priority: int,
                   after_dial: bool = False) -> None:
        channel.has_pbx = True
        if channel.pbx_task is not None and not channel.pbx_task.done():
            channel.pbx_task.cancel()
        channel.pbx_task = self.clock.loop.create_task(
            self._pbx(channel, context, exten, priority, after_dial))
        channel.pbx_task.add_done_callback(_log_task_failure)

    async def _pbx(self, channel: Channel, context: str, exten: str, priority: int,
                   after_dial: bool) -> None:
        """Run the dialplan from a place; ``after_dial``: redirected out of ``Dial()``,
        whose return Asterisk announces with the old application's name."""
        while not channel.destroyed and not channel.hanging_up:
            extension = self.dialplan.find_extension(context, exten)
            step = extension.steps.get(priority) if extension is not None else None
            if step is None:
                # falling off the end of the dialplan hangs the channel up
                self.hangup(channel, cause=16, initiator="dialplan")
                return
            channel.context, channel.exten, channel.priority = context, exten, priority
            data = self.expand(channel, step.data)
            if after_dial:
                self._emit_channel(channel, "ChannelDialplan", dialplan_app=channel.app_name,
                                   dialplan_app_data=channel.app_data)
                self._set_var(channel, "DIALSTATUS",
                              channel.variables.get("DIALSTATUS") or "ANSWER")
                after_dial = False
            else:
                self._emit_channel(channel, "ChannelDialplan",
                                   dialplan_app=step.app, dialplan_app_data=data)
            channel.app_name, channel.app_data = step.app, data
            try:
                outcome = await self._execute(channel, step.app, data)
            except _HangupError:
                self.hangup(channel, cause=16, initiator="dialplan")
                return
            if channel.destroyed or channel.hanging_up:
                return
            if outcome is None:
                priority += 1
            else:
                context, exten, priority = outcome

    async def _gosub(self, channel: Channel, context: str, exten: str, priority: int) -> None:
        """A feature's ``Gosub``: runs on the channel without moving its dialplan position."""
        saved = (channel.context, channel.exten, channel.priority)
        while not channel.destroyed:
            extension = self.dialplan.find_extension(context, exten)
            step = extension.steps.get(priority) if extension is not None else None
            if step is None:
                break
            channel.context, channel.exten, channel.priority = context, exten, priority
            if step.app.lower() == "return":
                self._set_var(channel, "GOSUB_RETVAL", self.expand(channel, step.data))
                break
            outcome = await self._execute(channel, step.app, self.expand(channel, step.data))
            if outcome is None:
                priority += 1
            else:
                context, exten, priority = outcome
        channel.context, channel.exten, channel.priority = saved

    def expand(self, channel: Channel, text: str) -> str:
        def lookup(name: str) -> str | None:
            return self._variable(channel, name)

        def function(name: str, args: str) -> str | None:
            return self._function(channel, name, args)

        return expand(text, lookup, function)

    @staticmethod
    def _special_variables(channel: Channel) -> dict[str, str]:
        return {
            "CHANNEL": channel.name, "UNIQUEID": channel.id, "EXTEN": channel.exten,
            "CONTEXT": channel.context, "PRIORITY": str(channel.priority),
            "CALLERID(num)": channel.caller_number, "LANGUAGE": channel.language,
        }

    def _variable(self, channel: Channel, name: str) -> str | None:
        special = self._special_variables(channel)
        if name in special:
            return special[name]
        value = channel.variables.get(name)
        if value is None:
            value = self.global_variables.get(name)
        return value

    def _function(self, channel: Channel, name: str, args: str) -> str | None:
        if name == "CHANNEL":
            item = args.strip().lower()
            return {"name": channel.name, "language": channel.language,
                    "uniqueid": channel.id, "state": channel.state,
                    "channeltype": channel.technology.value}.get(item, "")
        if name == "CALLERID":
            item = args.strip().lower()
            return {"num": channel.caller_number, "name": channel.caller_name,
                    "all": f'"{channel.caller_name}" <{channel.caller_number}>'}.get(item, "")
        if name == "CONNECTEDLINE":
            item = args.strip().lower()
            return {"num": channel.connected_number, "name": channel.connected_name}.get(item, "")
        if name == "LOCAL":
            return channel.variables.get(args, "")
        if name == "PJSIP_DTMF_MODE":
            # func_pjsip_dtmf_mode: the endpoint's dtmf_mode; fails on any other channel type.
            if channel.technology is not Technology.SIP or channel.phone is None:
                return None
            return channel.phone.dtmf_mode
        # CUT(EXTEN,...) reads variables by name, the channel's own (EXTEN...) included.
        return builtin_function(name, args, {**self.global_variables, **channel.variables,
                                             **self._special_variables(channel)})

    async def _execute(self, channel: Channel, app: str, data: str
                       ) -> tuple[str, str, int] | None:
        """Run one dialplan application; returns a new position or None for the next one."""
        name = app.lower()
        args = split_arguments(data)
        if name in ("noop", "progress", "ringing", "return", "verbose", "log"):
            return None
        if name == "answer":
            await self._answer(channel)
            return None
        if name == "wait":
            await self.clock.sleep(_number(args[0], 0.0))
            return None
        if name == "set":
            variable, _, value = data.partition("=")
            variable = variable.strip()
            if variable.upper() == "CHANNEL(LANGUAGE)":
                channel.language = value  # func_channel's write: no VarSet
            elif variable.startswith("LOCAL(") and variable.endswith(")"):
                channel.variables[variable[6:-1]] = value  # Gosub-local: no event
            else:
                self._set_var(channel, variable, value)
            return None
        if name == "execif":
            truth, if_true, if_false = conditional(data)
            chosen = if_true if truth else if_false
            if chosen:
                sub_app, sub_data = split_application(chosen)
                return await self._execute(channel, sub_app, sub_data)
            return None
        if name in ("goto", "gotoif", "gosub"):
            if name == "gotoif":
                truth, if_true, if_false = conditional(data)
                destination = if_true if truth else if_false
                if not destination:
                    return None
            else:
                destination = data
            target = self._goto_target(channel, destination)
            if name == "gosub":
                await self._gosub(channel, *target)
                return None
            return target
        if name == "hangup":
            raise _HangupError
        if name == "userevent":
            event_name = args[0]
            fields: dict[str, str] = {}
            for item in args[1:]:
                key, _, value = item.partition(":")
                fields[key.strip()] = value.strip()
            self._emit_channel(channel, "ChannelUserevent", eventname=event_name,
                               userevent=fields)
            self._notify(UserEventRaised(channel, event_name, fields))
            return None
        if name == "stasis":
            try:
                exit_to = await self._stasis(channel, args[0], args[1:])
            except _StasisFailedError:
                return None
            return exit_to
        if name == "dial":
            await self._dial_app(channel, args)
            return None
        if name == "bridge":
            await self._bridge_app(channel, args[0])
            return None
        if name == "playback":
            await self._answer(channel)
            for item in args[0].split("&"):
                duration = self.sounds.duration(item, channel.language)
                if duration is None:
                    self._set_var(channel, "PLAYBACKSTATUS", "FAILED")
                    return None
                self._media_to(channel, f"sound:{item}")
                await self.clock.sleep(duration)
            self._set_var(channel, "PLAYBACKSTATUS", "SUCCESS")
            return None
        if name == "musiconhold":
            self.start_moh(channel, args[0] or None)
            seconds = _number(args[1], 0.0) if len(args) > 1 else 0.0
            await self.clock.sleep(seconds if seconds > 0 else 86400)
            self.stop_moh(channel)
            return None
        if name == "read":
            await self._read(channel, args)
            return None
        if name == "amd":
            await self._amd(channel)
            return None
        if name == "mixmonitor":
            # app_mixmonitor: records the channel (both directions) to the file named, and
            # sets MIXMONITOR_FILENAME; the file itself is not modelled, its contents are.
            channel.recording = Recording(args[0])
            self._set_var(channel, "MIXMONITOR_FILENAME", args[0])
            return None
        if name == "stopmixmonitor":
            channel.recording = None
            return None
        log.warning("ari_sim_unknown_application", app=app)
        raise _HangupError

    async def _read(self, channel: Channel, args: list[str]) -> None:
        """``Read(var,prompt,maxdigits,options,attempts,timeout)``: digits until # or max."""
        variable = args[0]
        prompt = args[1] if len(args) > 1 else ""
        max_digits = int(_number(args[2], 0)) if len(args) > 2 and args[2] else 0
        timeout = _number(args[5], 0.0) if len(args) > 5 and args[5] else 5.0
        if prompt:
            for item in prompt.split("&"):
                if self.sounds.duration(item, channel.language) is not None:
                    self._media_to(channel, f"sound:{item}")
        future: asyncio.Future[None] = self.clock.loop.create_future()
        channel.reading = (variable, max_digits, future)
        channel.variables[variable] = ""
        self._arm_read_timer(channel, timeout)
        try:
            await future
        finally:
            self._read_timers.pop(channel.id)[0].cancel()
            channel.reading = None
        self._set_var(channel, variable, channel.variables[variable])

    def _arm_read_timer(self, channel: Channel, timeout: float) -> None:
        """As app_read (``ast_app_getdata_terminator``): the timeout is for the first digit
        and again after each digit, not for the whole entry."""
        assert channel.reading is not None
        previous = self._read_timers.get(channel.id)
        if previous is not None:
            previous[0].cancel()
        timer = self.clock.call_later(timeout, _resolve_none, channel.reading[2])
        self._read_timers[channel.id] = (timer, timeout)

    async def _amd(self, channel: Channel) -> None:
        """``AMD()`` with its defaults: listens to the answered far end, then sets AMDSTATUS
        and AMDCAUSE. The simulated far end is a person (``Hello?``) unless its phone is an
        answering machine; a channel with no phone behind it stays silent (initial silence)."""
        await self._answer(channel)
        phone = channel.phone
        if phone is None:
            await self.clock.sleep(2.5)
            status, cause = "MACHINE", "INITIALSILENCE-2500-2500"
        elif phone.answering_machine:
            await self.clock.sleep(AMD_MACHINE_SECONDS)
            status, cause = "MACHINE", "LONGGREETING-1500-1500"
        else:
            await self.clock.sleep(AMD_HUMAN_SECONDS)
            status, cause = "HUMAN", "HUMAN-800-800"
        if channel.destroyed or channel.hanging_up:
            return
        self._set_var(channel, "AMDSTATUS", status)
        self._set_var(channel, "AMDCAUSE", cause)

    def _read_digit(self, channel: Channel, digit: str) -> None:
        assert channel.reading is not None
        variable, max_digits, future = channel.reading
        if digit == "#":
            _resolve_none(future)
            return
        channel.variables[variable] += digit
        if max_digits and len(channel.variables[variable]) >= max_digits:
            _resolve_none(future)
        else:
            self._arm_read_timer(channel, self._read_timers[channel.id][1])

    def _goto_target(self, channel: Channel, destination: str) -> tuple[str, str, int]:
        parts = [part.strip() for part in split_arguments(destination.replace("^", ","))]
        if len(parts) == 1:
            context, exten, priority = channel.context, channel.exten, parts[0]
        elif len(parts) == 2:
            context, (exten, priority) = channel.context, parts
        else:
            context, exten, priority = parts[0], parts[1], parts[2]
        if priority.isdigit():
            return context, exten, int(priority)
        found = self.dialplan.find_label(context, exten, priority)
        if found is None:
            raise _HangupError
        return context, exten, found

    async def _answer(self, channel: Channel) -> None:
        if channel.state == "Up":
            return
        self._set_state(channel, "Up")
        peer = channel.local_peer
        if peer is not None and peer.dialing is not None and not peer.dialing.done():
            peer.dialing.set_result("ANSWER")
        await self.clock.sleep(MEDIA_WAIT_AFTER_ANSWER)

    async def _dial_app(self, channel: Channel, args: list[str]) -> None:
        """``Dial(target[,timeout[,options]])``: ring, answer, a basic bridge until it ends."""
        for variable in ("DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME",
                         "ANSWEREDTIME_MS", "DIALEDTIME", "DIALEDTIME_MS", "RINGTIME",
                         "RINGTIME_MS", "PROGRESSTIME", "PROGRESSTIME_MS"):
            self._set_var(channel, variable, "")
        target = args[0].split("&")[0] if args and args[0] else ""
        timeout = _number(args[1], 0.0) if len(args) > 1 and args[1] else None
        tech, _, resource = target.partition("/")
        try:
            peer = self._request(tech, resource, None, None) if tech and resource else None
        except AriError:
            peer = None
        if peer is None:
            self._set_var(channel, "DIALSTATUS", "CHANUNAVAIL")
            return
        for key, value in channel.variables.items():
            if key.startswith("__"):
                peer.variables[key] = value
                peer.variables[key[2:]] = value
            elif key.startswith("_"):
                peer.variables[key[1:]] = value
        peer.linkedid = channel.linkedid
        if peer.local_peer is not None:
            peer.local_peer.linkedid = channel.linkedid
        peer.caller_number = peer.caller_number or channel.caller_number
        peer.connected_number = channel.caller_number
        channel.connected_number = peer.caller_number
        peer.app_name, peer.app_data = "AppDial", "(Outgoing Line)"
        options = args[2] if len(args) > 2 else ""
        letters = re.sub(r"\([^)]*\)", "", options)  # the options without their arguments
        peer.may_transfer = "t" in letters
        channel.may_transfer = "T" in letters
        if "b(" in options:
            handler = options[options.index("b(") + 2 :].split(")")[0]
            await self._gosub(peer, *self._goto_target(peer, handler))
        self._emit_dial(channel, peer, "", resource)
        status = await self._call(peer, timeout)
        if channel.destroyed or channel.hanging_up:
            if not peer.destroyed:
                self.hangup(peer, cause=16, initiator="dialer")
            return
        if status != "ANSWER":
            self._set_var(channel, "DIALSTATUS", status)
            self._emit_dial(channel, peer, status, "")
            if not peer.destroyed:
                self.hangup(peer, cause=_unanswered_cause(peer, status), initiator="dialer")
            return
        if peer.state != "Up":
            self._set_state(peer, "Up")
        if channel.state != "Up":
            self._set_state(channel, "Up")
        self._set_var(channel, "DIALSTATUS", "ANSWER")
        self._set_var(channel, "DIALEDPEERNAME", peer.name)
        self._set_var(channel, "DIALEDPEERNUMBER", resource)
        self._emit_dial(channel, peer, "ANSWER", "")
        bridge = Bridge(id=str(uuid.uuid4()), name="", types=frozenset({"mixing"}),
                        created=self.clock.now(), stasis=False)
        self.bridges[bridge.id] = bridge
        ended: asyncio.Future[None] = self.clock.loop.create_future()
        self._dial_bridge_ends[bridge.id] = ended
        self._join_bridge(bridge, channel)
        self._join_bridge(bridge, peer)
        await ended

    async def _bridge_app(self, channel: Channel, target_name: str) -> None:
        """``Bridge(channel)``: pull the named channel out of its dialplan into a basic bridge
        with this one; ``BRIDGERESULT`` says how it went."""
        try:
            peer = self.find_channel(target_name)
        except ChannelNotFound:
            self._set_var(channel, "BRIDGERESULT", "NONEXISTENT")
            return
        if peer is channel or peer.stasis_app is not None or peer.hanging_up:
            self._set_var(channel, "BRIDGERESULT", "FAILURE")
            return
        if peer.pbx_task is not None and not peer.pbx_task.done():
            peer.pbx_task.cancel()
        peer.moh_class = None
        if peer.bridge is not None:
            self._leave_bridge(peer)
        self._set_var(channel, "BRIDGERESULT", "SUCCESS")
        bridge = Bridge(id=str(uuid.uuid4()), name="", types=frozenset({"mixing"}),
                        created=self.clock.now(), stasis=False)
        self.bridges[bridge.id] = bridge
        ended: asyncio.Future[None] = self.clock.loop.create_future()
        self._dial_bridge_ends[bridge.id] = ended
        self._join_bridge(bridge, channel)
        self._join_bridge(bridge, peer)
        await ended

    # -- bridges --------------------------------------------------------------------------

    def create_bridge(self, bridge_type: str | None, bridge_id: str | None,
                      name: str | None) -> Bridge:
        requested = {t.strip() for t in (bridge_type or "mixing").split(",") if t.strip()}
        if not requested & BRIDGE_CAPABILITIES:
            raise AriError(500, "Unable to create bridge")
        if not requested & {"mixing", "holding"}:
            requested.add("mixing")
        if bridge_id is not None and bridge_id in self.bridges:
            existing = self.bridges[bridge_id]
            if not existing.stasis:
                raise AriError(409, f"Bridge with id '{bridge_id}' already exists")
            return existing
        bridge = Bridge(id=bridge_id or str(uuid.uuid4()), name=name or "",
                        types=frozenset(requested & BRIDGE_CAPABILITIES),
                        created=self.clock.now())
        self.bridges[bridge.id] = bridge
        return bridge

    def stasis_bridge(self, bridge_id: str) -> Bridge:
        bridge = self.bridges.get(bridge_id)
        if bridge is None:
            raise AriError(404, "Bridge not found")
        if not bridge.stasis:
            raise AriError(409, "Bridge not in Stasis application")
        return bridge

    def bridge_controls(self, channel_ids: list[str]) -> list[Channel]:
        """``control_list_create``: 400 for an unknown channel, 422 when not in Stasis."""
        ids = [c for c in channel_ids if c]
        if not ids:
            raise AriError(400, "Missing parameter channel")
        found = []
        for channel_id in ids:
            channel = self.channels.get(channel_id)
            if channel is None:
                raise AriError(400, "Channel not found")
            if channel.stasis_app is None:
                raise AriError(422, "Channel not in Stasis application")
            found.append(channel)
        return found

    def add_to_bridge(self, bridge: Bridge, channel: Channel, *, absorb_dtmf: bool = False,
                      mute: bool = False, role: str = "") -> None:
        channel.role = role
        if channel.bridge is bridge:
            channel.absorb_dtmf, channel.bridge_muted = absorb_dtmf, mute
            return
        if channel.bridge is not None:
            self._leave_bridge(channel)
        channel.absorb_dtmf, channel.bridge_muted = absorb_dtmf, mute
        self._join_bridge(bridge, channel)

    def remove_from_bridge(self, bridge: Bridge, channels: list[Channel]) -> None:
        for channel in channels:
            if channel.bridge is not bridge:
                raise AriError(422, "Channel not in this bridge")
        for channel in channels:
            self._leave_bridge(channel)

    def _join_bridge(self, bridge: Bridge, channel: Channel) -> None:
        if channel.stasis_app is not None:
            bridge.subscribers.add(channel.stasis_app)
        bridge.channels.append(channel)
        channel.bridge = bridge
        self._talk_changed()
        self._emit_bridge(bridge, "ChannelEnteredBridge", channel)
        self._reconfigure(bridge)
        for member in bridge.channels:
            _touch(member)
        if bridge.moh_class:
            self._media_to(channel, f"moh:{bridge.moh_class}")

    def _reconfigure(self, bridge: Bridge) -> None:
        """Re-evaluate the technology and set BRIDGEPEER (three rounds when going native)."""
        native = bridge.can_bridge_natively()
        rounds = 3 if native and not bridge.native else 1
        bridge.native = native
        if len(bridge.channels) < 2:
            return
        for _ in range(rounds):
            for member in list(bridge.channels):
                others = [c for c in bridge.channels if c is not member]
                self._set_var(member, "BRIDGEPEER", ",".join(o.name for o in others))
                if member.is_sip and len(others) == 1 and others[0].is_sip:
                    self._set_var(member, "BRIDGEPVTCALLID", others[0].protocol_id)

    def _leave_bridge(self, channel: Channel) -> None:
        bridge = channel.bridge
        if bridge is None:
            return
        self._set_var(channel, "BRIDGEPEER", "")
        if channel.variables.get("BRIDGEPVTCALLID"):
            self._set_var(channel, "BRIDGEPVTCALLID", "")
        self._emit_bridge(bridge, "ChannelLeftBridge", channel)
        bridge.channels.remove(channel)
        channel.bridge = None
        self._talk_changed()
        channel.absorb_dtmf = channel.bridge_muted = False
        for member in (channel, *bridge.channels):
            _touch(member)
        if channel.feature_timer is not None:
            channel.feature_timer.cancel()
            channel.feature_timer = None
        channel.feature_buffer = ""
        bridge.native = bridge.can_bridge_natively()
        if len(bridge.channels) >= 2:
            self._reconfigure(bridge)
        if not bridge.stasis:
            self._dissolve_basic(bridge)

    def _dissolve_basic(self, bridge: Bridge) -> None:
        """A Dial() bridge ends when a party leaves: the others are hung up, Dial returns."""
        for member in list(bridge.channels):
            if not member.hanging_up:
                self._leave_bridge(member)
                self.hangup(member, cause=16, initiator="bridge")
        if not bridge.channels:
            self.bridges.pop(bridge.id, None)
            bridge.destroyed = True
            ended = self._dial_bridge_ends.pop(bridge.id, None)
            if ended is not None and not ended.done():
                ended.set_result(None)

    def destroy_bridge(self, bridge: Bridge) -> None:
        self._stop_all_playbacks(bridge)
        for member in list(bridge.channels):
            self._leave_bridge(member)
        self._emit_bridge(bridge, "BridgeDestroyed")
        bridge.destroyed = True
        self.bridges.pop(bridge.id, None)

    # -- hangup ---------------------------------------------------------------------------

    def hangup(self, channel: Channel, *, cause: int = 16, initiator: str = "ari") -> None:
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
        if channel.talk_end_timer is not None:
            channel.talk_end_timer.cancel()
        self._talk_changed()
        self._talk_detectors.discard(channel.id)
        if channel.ring_timer is not None:
            channel.ring_timer.cancel()
        if channel.dialing is not None and not channel.dialing.done():
            channel.dialing.set_result("CANCEL")
        if initiator == "ari":
            self._emit_channel(channel, "ChannelHangupRequest", cause=32, soft=True)
        elif initiator == "device":
            if channel.is_sip:
                self._rtp_quality_variables(channel)
            self._emit_channel(channel, "ChannelHangupRequest", cause=cause)
        elif initiator == "local":
            self._emit_channel(channel, "ChannelHangupRequest", cause=cause)
        self._stop_all_playbacks(channel)
        if channel.bridge is not None:
            self._leave_bridge(channel)
        if channel.stasis_app is not None:
            self._leave_stasis(channel, None)
            self._set_var(channel, "STASISSTATUS", "SUCCESS")
        if channel.has_pbx:
            self._emit_channel(channel, "ChannelHangupRequest", cause=cause, soft=True)
        if channel.pbx_task is not None and channel.pbx_task is not _current_task():
            channel.pbx_task.cancel()
        for snoop in list(channel.snoops):
            self.hangup(snoop, cause=16, initiator="local")
        peer = channel.local_peer
        if peer is not None and not peer.hanging_up and not peer.destroyed:
            if channel.name.endswith(";2") and "DIALSTATUS" in channel.variables:
                self._set_var(peer, "CHANLOCALSTATUS", channel.variables["DIALSTATUS"])
            self.hangup(peer, cause=16, initiator="local")
        self._emit_channel(channel, "ChannelDestroyed", cause=cause,
                           cause_txt=HANGUP_CAUSES.get(cause, "Unknown"))
        channel.destroyed = True
        self.channels.pop(channel.id, None)
        if channel.snoop_target is not None and channel in channel.snoop_target.snoops:
            channel.snoop_target.snoops.remove(channel)
        phone = channel.phone
        if phone is not None and phone.channel is channel:
            phone.channel = None
            phone.ringing = False
            phone.changed()
        self._notify(ChannelHungUp(channel, cause))

    def _rtp_quality_variables(self, channel: Channel) -> None:
        peer = None
        if channel.bridge is not None and len(channel.bridge.channels) == 2:
            peer = next(c for c in channel.bridge.channels if c is not channel)
        for suffix, value in (
            ("", "ssrc=1;themssrc=2;lp=0;rxjitter=0.000000;rxcount=0;txjitter=0.000000;"
                 "txcount=0;rlp=0;rtt=0.000000;rxmes=0.000000;txmes=0.000000"),
            ("JITTER", "minrxjitter=000.000000;maxrxjitter=000.000000;"),
            ("LOSS", "minrxlost=000.000000;maxrxlost=000.000000;"),
            ("RTT", "minrtt=000.000000;maxrtt=000.000000;"),
            ("MES", "minrxmes=000.000000;maxrxmes=000.000000;"),
        ):
            self._set_var(channel, f"RTPAUDIOQOS{suffix}", value)
            if peer is not None:
                self._set_var(peer, f"RTPAUDIOQOS{suffix}BRIDGED", value)

    # -- snoop ----------------------------------------------------------------------------

    def snoop(self, target: Channel, spy: str, whisper: str, app: str, app_args: str | None,
              snoop_id: str | None) -> Channel:
        self._check_new_id(snoop_id)
        name = f"Snoop/{target.id}-{self._sequence('Snoop'):08x}"
        snoop = self._new_channel(Technology.SNOOP, name, snoop_id, "Up")
        snoop.snoop_target = target
        snoop.snoop_whisper = whisper
        target.snoops.append(snoop)
        snoop.subscribers.add(app)
        args = split_arguments(app_args) if app_args else []

        async def run() -> None:
            with contextlib.suppress(_StasisFailedError):
                await self._stasis(snoop, app, args)
            if not snoop.destroyed:
                self.hangup(snoop, cause=16, initiator="dialplan")

        self.clock.loop.create_task(run()).add_done_callback(_log_task_failure)
        return snoop

    # -- control API entry points -----------------------------------------------------------

    def enter_stasis(self, channel: Channel, app: str, args: list[str]) -> None:
        """Run ``Stasis(app,args...)`` on a channel, as dialplan would (for tests, AMI)."""
        data = ",".join([app, *args])
        if channel.bridge is not None:
            self._leave_bridge(channel)

        async def run() -> None:
            channel.app_name, channel.app_data = "Stasis", data
            try:
                exit_to = await self._stasis(channel, app, args)
            except _StasisFailedError:
                return  # stays in the dialplan where it was
            if channel.destroyed or channel.hanging_up:
                return
            if exit_to is None:
                self.hangup(channel, cause=16, initiator="dialplan")
            else:
                self._start_pbx(channel, *exit_to)

        if channel.pbx_task is not None and not channel.pbx_task.done():
            channel.pbx_task.cancel()
        channel.has_pbx = True
        channel.pbx_task = self.clock.loop.create_task(run())
        channel.pbx_task.add_done_callback(_log_task_failure)

    def redirect(self, channel: Channel, context: str, exten: str, priority: int) -> None:
        """AMI ``Redirect``: an async goto; the channel leaves its bridge and Stasis."""
        if channel.stasis_app is not None:
            if channel.bridge is not None:
                self._leave_bridge(channel)
            self._leave_stasis(channel, (context, exten, priority))
            return
        was_dialing = channel.bridge is not None and not channel.bridge.stasis and (
            channel.app_name == "Dial")
        if channel.bridge is not None:
            bridge = channel.bridge
            self._set_var(channel, "BRIDGEPEER", "")
            if channel.variables.get("BRIDGEPVTCALLID"):
                self._set_var(channel, "BRIDGEPVTCALLID", "")
            self._emit_bridge(bridge, "ChannelLeftBridge", channel)
            bridge.channels.remove(channel)
            channel.bridge = None
            bridge.native = bridge.can_bridge_natively()
            self.clock.loop.call_soon(self._dissolve_basic, bridge)
        channel.context, channel.exten, channel.priority = context, exten, priority
        if channel.pbx_task is not None and not channel.pbx_task.done():
            channel.pbx_task.cancel()
        self._start_pbx(channel, context, exten, priority, after_dial=was_dialing)


class _StasisFailedError(Exception):
    pass


class _HangupError(Exception):
    pass


def dial_status_for_cause(cause: int) -> str:
    """``ast_hangup_cause_to_dial_status``: the Dial status a hangup cause is reported as."""
    return {17: "BUSY", 34: "CONGESTION", 3: "CHANUNAVAIL", 20: "CHANUNAVAIL"}.get(
        cause, "NOANSWER")


def _unanswered_cause(channel: Channel, status: str) -> int:
    """The hangup cause of a dialled channel that was not answered."""
    if channel.refused_cause is not None:
        return channel.refused_cause
    return {"BUSY": 17, "NOANSWER": 19, "CONGESTION": 34, "CHANUNAVAIL": 20}.get(status, 16)


def _time_out(channel: Channel, future: asyncio.Future[str]) -> None:
    """The dial timeout of ``channel``'s call: NOANSWER, unless answered or ended before."""
    if not future.done():
        channel.ring_timed_out = True
        future.set_result("NOANSWER")


def _touch(channel: Channel) -> None:
    if channel.phone is not None:
        channel.phone.changed()


def _resolve_none(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _number(text: str, default: float) -> float:
    try:
        return float(text)
    except ValueError:
        return default


def _parse_caller_id(text: str) -> tuple[str, str]:
    if "<" in text and text.endswith(">"):
        name, _, number = text[:-1].partition("<")
        return name.strip().strip('"'), number.strip()
    return "", text.strip()


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def _log_task_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None and not isinstance(error, _StasisFailedError):
        log.error("ari_sim_task_failed", error=repr(error))


__all__ = [
    "AriError",
    "ChannelContinued",
    "ChannelHungUp",
    "ChannelNotFound",
    "Engine",
    "SimulatorEvent",
    "SoundLibrary",
    "StasisFailed",
    "UserEventRaised",
]
