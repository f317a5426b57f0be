"""The simulator's ARI operations: one handler per operation, from parsed arguments to the
engine and back to ARI's JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from payivr.core.errors import PayivrError

from .engine import Engine
from .events import SimulatedAriError
from .model import ASTERISK_VERSION, HANGUP_REASONS, iso_time
from .spec import ApiSpec

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class RestReply(PayivrError):
    """A status and body other than ``200`` with JSON: raised by the front, or returned by a
    handler (``201`` with a ``Location``, ``204``)."""

    def __init__(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def build_handlers(engine: Engine, spec: ApiSpec) -> dict[str, Handler]:
    """A handler per ARI operation the simulator implements, by ``nickname@resource``."""
    spec_ops = {f"{op.nickname}@{op.resource}" for op in spec.operations}

    async def channels_list(a: dict[str, Any]) -> Any:
        return [c.snapshot() for c in engine.channels.values()]

    async def originate(a: dict[str, Any]) -> Any:
        channel = engine.dialler.originate(
            a["endpoint"],
            app=a.get("app"),
            app_args=a.get("appArgs"),
            context=a.get("context"),
            extension=a.get("extension"),
            priority=a.get("priority"),
            label=a.get("label"),
            caller_id=a.get("callerId"),
            timeout=int(a["timeout"]) if a.get("timeout") is not None else 30,
            variables=_variables(a.get("variables")),
            channel_id=a.get("channelId"),
            other_channel_id=a.get("otherChannelId"),
            originator=a.get("originator"),
            formats=a.get("formats"),
        )
        return channel.snapshot()

    async def create(a: dict[str, Any]) -> Any:
        channel = engine.dialler.originate(
            a["endpoint"],
            app=a["app"],
            app_args=a.get("appArgs"),
            variables=_variables(a.get("variables")),
            channel_id=a.get("channelId"),
            other_channel_id=a.get("otherChannelId"),
            originator=a.get("originator"),
            formats=a.get("formats"),
            create_only=True,
        )
        return channel.snapshot()

    async def channel_get(a: dict[str, Any]) -> Any:
        channel = engine.channels.get(a["channelId"])
        if channel is None:
            raise SimulatedAriError(404, "Channel not found")
        return channel.snapshot()

    async def hangup(a: dict[str, Any]) -> Any:
        channel = engine.channels.get(a["channelId"])
        if channel is None:
            raise SimulatedAriError(404, "Channel not found")
        reason_code, reason = a.get("reason_code"), a.get("reason")
        if reason_code and reason:
            raise SimulatedAriError(400, "The reason and reason_code can't both be specified")
        if reason_code:
            cause = int(reason_code) if reason_code.isdigit() else 0
        else:
            cause = HANGUP_REASONS.get(reason or "normal", 16)
        engine.lifecycle.hangup(channel, cause=cause, initiator="ari")
        return _no_content()

    async def continue_in_dialplan(a: dict[str, Any]) -> Any:
        channel = engine.lifecycle.control_up(a["channelId"])
        engine.stasis.continue_in_dialplan(
            channel, a.get("context"), a.get("extension"), a.get("priority"), a.get("label")
        )
        return _no_content()

    async def move(a: dict[str, Any]) -> Any:
        channel = engine.lifecycle.control(a["channelId"])
        args = a["appArgs"].split(",") if a.get("appArgs") else []
        engine.stasis.move(channel, a["app"], args)
        return _no_content()

    async def answer(a: dict[str, Any]) -> Any:
        channel = engine.lifecycle.control_up(a["channelId"])
        engine.lifecycle.answer_now(channel)
        return _no_content()

    async def plain_control(a: dict[str, Any]) -> Any:
        engine.lifecycle.control_up(a["channelId"])
        return _no_content()

    async def send_dtmf(a: dict[str, Any]) -> Any:
        channel = engine.lifecycle.control_up(a["channelId"])
        if not a.get("dtmf"):
            raise SimulatedAriError(400, "DTMF is required")
        engine.dtmf.send_dtmf(
            channel,
            a["dtmf"],
            a["before"] or 0,
            a["between"] or 100,
            a["duration"] or 100,
            a["after"] or 0,
        )
        return _no_content()

    def muter(mute: bool) -> Handler:
        async def handler(a: dict[str, Any]) -> Any:
            channel = engine.lifecycle.control_up(a["channelId"])
            engine.media.mute(channel, a.get("direction") or "both", mute)
            return _no_content()

        return handler

    def holder(hold: bool) -> Handler:
        async def handler(a: dict[str, Any]) -> Any:
            engine.media.hold(engine.lifecycle.control_up(a["channelId"]), hold)
            return _no_content()

        return handler

    async def start_moh(a: dict[str, Any]) -> Any:
        engine.media.start_moh(engine.lifecycle.control_up(a["channelId"]), a.get("mohClass"))
        return _no_content()

    async def stop_moh(a: dict[str, Any]) -> Any:
        engine.media.stop_moh(engine.lifecycle.control_up(a["channelId"]))
        return _no_content()

    def silencer(on: bool) -> Handler:
        async def handler(a: dict[str, Any]) -> Any:
            engine.lifecycle.control_up(a["channelId"]).silence = on
            return _no_content()

        return handler

    async def play(a: dict[str, Any]) -> Any:
        channel = engine.lifecycle.control_up(a["channelId"])
        return _play(engine, channel, a)

    async def get_channel_var(a: dict[str, Any]) -> Any:
        channel = engine.channels.get(a["channelId"])
        if channel is None:
            raise SimulatedAriError(404, "Provided channel was not found")
        name: str = a["variable"]
        if name.endswith(")"):
            function, _, arguments = name[:-1].partition("(")
            value = engine.pbx.function(channel, function.upper(), arguments)
            if value is None:
                raise SimulatedAriError(500, "Unable to read provided function")
            return {"value": value}
        value = engine.pbx.variable(channel, name)
        if value is None:
            raise SimulatedAriError(404, "Provided variable was not found")
        return {"value": value}

    async def set_channel_var(a: dict[str, Any]) -> Any:
        channel = engine.lifecycle.control(a["channelId"])
        engine.lifecycle.set_variable(channel, a["variable"], a.get("value") or "")
        return _no_content()

    async def get_channel_vars(a: dict[str, Any]) -> Any:
        channel = engine.channels.get(a["channelId"])
        if channel is None:
            raise SimulatedAriError(404, "Provided channel was not found")
        values = {}
        for name in a["variables"]:
            value = engine.pbx.variable(channel, name)
            if value is None:
                raise SimulatedAriError(404, "Provided variable was not found")
            values[name] = value
        return {"variables": values}

    async def set_channel_vars(a: dict[str, Any]) -> Any:
        channel = engine.lifecycle.control(a["channelId"])
        for name, value in (a.get("variables") or {}).items():
            engine.lifecycle.set_variable(channel, name, value)
        return _no_content()

    async def snoop(a: dict[str, Any]) -> Any:
        spy, whisper = a.get("spy") or "none", a.get("whisper") or "none"
        if spy == "none" and whisper == "none":
            raise SimulatedAriError(400, "Direction must be specified for at least spy or whisper")
        target = engine.channels.get(a["channelId"])
        if target is None:
            raise SimulatedAriError(404, "Provided channel was not found")
        channel = engine.lifecycle.snoop(
            target, spy, whisper, a["app"], a.get("appArgs"), a.get("snoopId")
        )
        return channel.snapshot()

    async def dial(a: dict[str, Any]) -> Any:
        channel = engine.lifecycle.control(a["channelId"])
        engine.dialler.dial_created(channel, a.get("caller"), a.get("timeout") or 0)
        return _no_content()

    async def bridges_list(a: dict[str, Any]) -> Any:
        return [b.snapshot() for b in engine.bridges.values()]

    async def bridge_create(a: dict[str, Any]) -> Any:
        bridge = engine.bridging.create_bridge(a.get("type"), a.get("bridgeId"), a.get("name"))
        for name, value in (a.get("variables") or {}).items():
            bridge.variables[name] = value
        return bridge.snapshot()

    async def bridge_get(a: dict[str, Any]) -> Any:
        bridge = engine.bridges.get(a["bridgeId"])
        if bridge is None:
            raise SimulatedAriError(404, "Bridge not found")
        return bridge.snapshot()

    async def bridge_destroy(a: dict[str, Any]) -> Any:
        engine.bridging.destroy_bridge(engine.bridging.stasis_bridge(a["bridgeId"]))
        return _no_content()

    async def add_channel(a: dict[str, Any]) -> Any:
        bridge = engine.bridging.stasis_bridge(a["bridgeId"])
        for channel in engine.bridging.bridge_controls(a["channel"]):
            engine.bridging.add_to_bridge(
                bridge,
                channel,
                absorb_dtmf=bool(a.get("absorbDTMF")),
                mute=bool(a.get("mute")),
                role=a.get("role") or "",
            )
        return _no_content()

    async def remove_channel(a: dict[str, Any]) -> Any:
        bridge = engine.bridging.stasis_bridge(a["bridgeId"])
        engine.bridging.remove_from_bridge(bridge, engine.bridging.bridge_controls(a["channel"]))
        return _no_content()

    async def bridge_start_moh(a: dict[str, Any]) -> Any:
        engine.media.bridge_moh(engine.bridging.stasis_bridge(a["bridgeId"]), a.get("mohClass"))
        return _no_content()

    async def bridge_stop_moh(a: dict[str, Any]) -> Any:
        engine.bridging.stasis_bridge(a["bridgeId"]).moh_class = None
        return _no_content()

    async def bridge_play(a: dict[str, Any]) -> Any:
        return _play(engine, engine.bridging.stasis_bridge(a["bridgeId"]), a)

    async def get_bridge_var(a: dict[str, Any]) -> Any:
        bridge = engine.bridges.get(a["bridgeId"])
        if bridge is None:
            raise SimulatedAriError(404, "Bridge not found")
        if a["variable"] not in bridge.variables:
            raise SimulatedAriError(404, "Provided variable was not found")
        return {"value": bridge.variables[a["variable"]]}

    async def set_bridge_var(a: dict[str, Any]) -> Any:
        engine.bridging.stasis_bridge(a["bridgeId"]).variables[a["variable"]] = a.get("value") or ""
        return _no_content()

    async def apps_list(a: dict[str, Any]) -> Any:
        return engine.router.list_apps()

    async def app_get(a: dict[str, Any]) -> Any:
        return engine.router.app_snapshot(a["applicationName"])

    def subscriber(subscribe: bool) -> Handler:
        async def handler(a: dict[str, Any]) -> Any:
            return engine.router.subscribe(a["applicationName"], a["eventSource"], subscribe)

        return handler

    async def info(a: dict[str, Any]) -> Any:
        started = iso_time(engine.started)
        full = {
            "build": {
                "os": "Linux",
                "kernel": "6.1.0",
                "options": "",
                "machine": "x86_64",
                "date": "2026-01-01 00:00:00 UTC",
                "user": "payivr-simulator",
            },
            "system": {"version": ASTERISK_VERSION, "entity_id": engine.asterisk_id},
            "config": {
                "name": "payivr-simulator",
                "default_language": "en",
                "setid": {"user": "asterisk", "group": "asterisk"},
            },
            "status": {"startup_time": started, "last_reload_time": started},
        }
        only = [part for part in (a.get("only") or [])]
        if only:
            return {key: value for key, value in full.items() if key in only}
        return full

    async def ping(a: dict[str, Any]) -> Any:
        return {
            "asterisk_id": engine.asterisk_id,
            "ping": "pong",
            "timestamp": iso_time(engine.clock.now()),
        }

    async def get_global_var(a: dict[str, Any]) -> Any:
        return {"value": engine.global_variables.get(a["variable"], "")}

    async def set_global_var(a: dict[str, Any]) -> Any:
        engine.global_variables[a["variable"]] = a.get("value") or ""
        return _no_content()

    async def playback_get(a: dict[str, Any]) -> Any:
        return engine.media.playback(a["playbackId"]).snapshot()

    async def playback_stop(a: dict[str, Any]) -> Any:
        engine.media.stop_playback(a["playbackId"])
        return _no_content()

    async def playback_control(a: dict[str, Any]) -> Any:
        engine.media.control_playback(a["playbackId"], a["operation"])
        return _no_content()

    async def sounds_list(a: dict[str, Any]) -> Any:
        language = a.get("lang") or "en"
        return [
            {"id": name, "formats": [{"language": language, "format": "wav"}]}
            for name in engine.sounds.names()
        ]

    async def sound_get(a: dict[str, Any]) -> Any:
        if a["soundId"] not in engine.sounds.names():
            raise SimulatedAriError(404, "Sound not found")
        return {"id": a["soundId"], "formats": [{"language": "en", "format": "wav"}]}

    async def endpoints_list(a: dict[str, Any]) -> Any:
        return [_endpoint(engine, phone) for phone in engine.phones.values()]

    async def endpoints_by_tech(a: dict[str, Any]) -> Any:
        found = [
            _endpoint(engine, p)
            for p in engine.phones.values()
            if p.endpoint.split("/")[0].lower() == a["tech"].lower()
        ]
        if not found:
            raise SimulatedAriError(404, f"No Endpoints found - invalid tech {a['tech']}")
        return found

    async def endpoint_get(a: dict[str, Any]) -> Any:
        phone = engine.phones.get(f"{a['tech']}/{a['resource']}".lower())
        if phone is None:
            raise SimulatedAriError(404, "Endpoint not found")
        return _endpoint(engine, phone)

    async def empty_list(a: dict[str, Any]) -> Any:
        return []

    async def recording_not_found(a: dict[str, Any]) -> Any:
        raise SimulatedAriError(404, "Recording not found")

    handlers: dict[str, Handler] = {
        "list@channels": channels_list,
        "originate@channels": originate,
        "originateWithId@channels": originate,
        "create@channels": create,
        "get@channels": channel_get,
        "hangup@channels": hangup,
        "continueInDialplan@channels": continue_in_dialplan,
        "move@channels": move,
        "answer@channels": answer,
        "ring@channels": plain_control,
        "ringStop@channels": plain_control,
        "progress@channels": plain_control,
        "sendDTMF@channels": send_dtmf,
        "mute@channels": muter(True),
        "unmute@channels": muter(False),
        "hold@channels": holder(True),
        "unhold@channels": holder(False),
        "startMoh@channels": start_moh,
        "stopMoh@channels": stop_moh,
        "startSilence@channels": silencer(True),
        "stopSilence@channels": silencer(False),
        "play@channels": play,
        "playWithId@channels": play,
        "getChannelVar@channels": get_channel_var,
        "setChannelVar@channels": set_channel_var,
        "getChannelVars@channels": get_channel_vars,
        "setChannelVars@channels": set_channel_vars,
        "snoopChannel@channels": snoop,
        "snoopChannelWithId@channels": snoop,
        "dial@channels": dial,
        "list@bridges": bridges_list,
        "create@bridges": bridge_create,
        "createWithId@bridges": bridge_create,
        "get@bridges": bridge_get,
        "destroy@bridges": bridge_destroy,
        "addChannel@bridges": add_channel,
        "removeChannel@bridges": remove_channel,
        "startMoh@bridges": bridge_start_moh,
        "stopMoh@bridges": bridge_stop_moh,
        "play@bridges": bridge_play,
        "playWithId@bridges": bridge_play,
        "getBridgeVar@bridges": get_bridge_var,
        "setBridgeVar@bridges": set_bridge_var,
        "list@applications": apps_list,
        "get@applications": app_get,
        "subscribe@applications": subscriber(True),
        "unsubscribe@applications": subscriber(False),
        "getInfo@asterisk": info,
        "ping@asterisk": ping,
        "getGlobalVar@asterisk": get_global_var,
        "setGlobalVar@asterisk": set_global_var,
        "get@playbacks": playback_get,
        "stop@playbacks": playback_stop,
        "control@playbacks": playback_control,
        "list@sounds": sounds_list,
        "get@sounds": sound_get,
        "list@endpoints": endpoints_list,
        "listByTech@endpoints": endpoints_by_tech,
        "get@endpoints": endpoint_get,
        "listStored@recordings": empty_list,
        "getStored@recordings": recording_not_found,
        "deleteStored@recordings": recording_not_found,
        "getStoredFile@recordings": recording_not_found,
        "copyStored@recordings": recording_not_found,
        "getLive@recordings": recording_not_found,
        "cancel@recordings": recording_not_found,
        "stop@recordings": recording_not_found,
        "pause@recordings": recording_not_found,
        "unpause@recordings": recording_not_found,
        "mute@recordings": recording_not_found,
        "unmute@recordings": recording_not_found,
        "list@deviceStates": empty_list,
        "list@mailboxes": empty_list,
    }
    unknown = set(handlers) - spec_ops
    if unknown:
        raise RuntimeError(f"handlers for operations the spec lacks: {sorted(unknown)}")
    return handlers


def _play(engine: Engine, target: Any, a: dict[str, Any]) -> RestReply:
    if (a.get("skipms") or 0) < 0:
        raise SimulatedAriError(400, "skipms cannot be negative")
    if (a.get("offsetms") or 0) < 0:
        raise SimulatedAriError(400, "offsetms cannot be negative")
    playback = engine.media.play(
        target, a["media"], a.get("lang"), a.get("playbackId"), a.get("skipms") or 3000
    )
    return RestReply(201, playback.snapshot(), {"Location": f"/playbacks/{playback.id}"})


def _endpoint(engine: Engine, phone: Any) -> dict[str, Any]:
    tech, resource = phone.endpoint.split("/", 1)
    return {
        "technology": tech,
        "resource": resource,
        "state": "online",
        "channel_ids": [phone.channel_id] if phone.channel_id else [],
    }


def _variables(value: Any) -> dict[str, str] | None:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return None


def _no_content() -> RestReply:
    return RestReply(204)
