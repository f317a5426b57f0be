"""The HTTP and WebSocket front: ARI's URLs, auth, errors and connection limit as Asterisk's
``res_ari`` and ``http.conf`` give them, over the engine."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

import structlog
from aiohttp import WSMsgType, web
from aiohttp.web_protocol import RequestHandler

from .engine import AriError, Engine
from .model import ASTERISK_VERSION, HANGUP_REASONS, iso_time
from .spec import ApiSpec, Operation, RequestRejected

log = structlog.get_logger(__name__)

AUTH_REALM = "Asterisk REST Interface"
NOT_IMPLEMENTED = "Not implemented by the payivr ARI simulator"
_NOT_FOUND_PAGE = (
    "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\r\n<html><head>\r\n"
    "<title>404 Not Found</title>\r\n</head><body>\r\n<h1>Not Found</h1>\r\n"
    "<p>The requested URL was not found on this server.</p>\r\n<hr />\r\n"
    "<address>Asterisk Server</address>\r\n</body></html>\r\n"
)


@dataclass
class Fault:
    """The next ``count`` requests matching ``method`` and ``path`` answer ``status``."""

    method: str
    path: str  # an operation path ("/channels/{channelId}/play") or a concrete one
    count: int
    status: int
    message: str

    def matches(self, method: str, operation: Operation, concrete: str) -> bool:
        return self.method == method and self.path in (operation.path, concrete)


class _Response(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


class EventSocket:
    """One ``/ari/events`` WebSocket: events queue here and a writer task sends them."""

    def __init__(self, ws: web.WebSocketResponse, apps: list[str],
                 transport: asyncio.BaseTransport | None) -> None:
        self.ws = ws
        self.transport = transport
        self.apps = apps
        self.silent = False
        self._queue: deque[str] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False

    def deliver(self, text: str) -> None:
        if self.silent or self._closed:
            return
        self._queue.append(text)
        self._wakeup.set()

    async def write_forever(self) -> None:
        while not self._closed:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue and not self.ws.closed:
                await self.ws.send_str(self._queue.popleft())

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()


class _RefusingProtocol(asyncio.Protocol):
    """Beyond ``sessionlimit`` Asterisk closes the connection at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class _LimitedServer(web.Server):
    def __init__(self, handler: Any, session_limit: int, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.session_limit = session_limit
        self.open_sessions = 0
        self.refused = 0

    def __call__(self) -> RequestHandler:
        if self.open_sessions >= self.session_limit:
            self.refused += 1
            return _RefusingProtocol()  # type: ignore[return-value]
        self.open_sessions += 1
        return super().__call__()

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        self.open_sessions -= 1
        super().connection_lost(handler, exc)


Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class AriFront:
    """Routes HTTP requests through the spec to the engine; owns the WebSockets."""

    def __init__(self, engine: Engine, spec: ApiSpec, username: str, password: str,
                 session_limit: int) -> None:
        self.engine = engine
        self.spec = spec
        self.username = username
        self.password = password
        self.session_limit = session_limit
        self.sockets: list[EventSocket] = []
        self.faults: list[Fault] = []
        # method, operation path, status of the latest requests (bounded for long demos)
        self.requests: deque[tuple[str, str, int]] = deque(maxlen=100_000)
        self.request_observers: list[Callable[[str, str, bytes], None]] = []
        self._handlers: dict[str, Handler] = self._build_handlers()

    def make_server(self) -> _LimitedServer:
        return _LimitedServer(self.handle, self.session_limit)

    # -- the request pipeline ---------------------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if self.request_observers:
            content = await request.read()  # cached: the pipeline reads it again
            for observer in self.request_observers:
                observer(request.method, request.raw_path, content)
        raw_path = request.raw_path.split("?", 1)[0]
        if raw_path != "/ari" and not raw_path.startswith("/ari/"):
            return web.Response(status=404, text=_NOT_FOUND_PAGE, content_type="text/html")
        try:
            return await self._handle_ari(request, raw_path[len("/ari/"):])
        except _Response as response:
            return _json_response(response.status, response.body, response.headers)

    async def _handle_ari(self, request: web.BaseRequest, uri: str) -> web.StreamResponse:
        query = [(unquote(k), v) for k, v in request.query.items()]
        body: Any = None
        content = await request.read()
        content_type = request.content_type
        if content and content_type == "application/x-www-form-urlencoded":
            query += parse_qsl(content.decode("utf-8", "replace"), keep_blank_values=True)
        elif content and content_type == "application/json":
            try:
                body = json.loads(content)
            except ValueError:
                raise _Response(400, {"message": "Error parsing request body"}) from None
        if not self._authenticated(request, query):
            raise _Response(401, {"message": "Authentication required"},
                            {"WWW-Authenticate": f'Basic realm="{AUTH_REALM}"'})
        if uri.endswith("/"):
            slashless = uri[:-1]
            raise _Response(404, {"message": f"ARI URLs do not end with a slash. Try /ari/{slashless}"})
        if uri.startswith("api-docs/"):
            if request.method != "GET":
                raise _Response(405, {"message": "Unsupported method"})
            return self._api_docs(request, uri[len("api-docs/"):])
        segments = [unquote(segment) for segment in uri.split("/")] if uri else []
        try:
            route = self.spec.route(request.method, segments)
        except RequestRejected as rejected:
            headers = {"Allow": ", ".join(rejected.allow)} if rejected.allow else {}
            raise _Response(rejected.status, {"message": rejected.message}, headers) from None
        operation = route.operation
        concrete = "/" + "/".join(segments)
        for fault in list(self.faults):
            if fault.matches(request.method, operation, concrete):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                self.requests.append((request.method, operation.path, fault.status))
                raise _Response(fault.status, {"message": fault.message})
        try:
            arguments = self.spec.parse_arguments(operation, route.path_arguments, query, body)
        except RequestRejected as rejected:
            if operation.websocket and rejected.message.endswith(": app"):
                # the events WebSocket answers a missing app with a MissingParams message
                return await self._websocket(request, {"app": []})
            self.requests.append((request.method, operation.path, rejected.status))
            raise _Response(rejected.status, {"message": rejected.message}) from None
        if operation.websocket:
            return await self._websocket(request, arguments)
        handler = self._handlers.get(operation.nickname + "@" + operation.resource)
        try:
            if handler is None:
                raise AriError(501, NOT_IMPLEMENTED)
            result = await handler(arguments)
        except AriError as error:
            self.requests.append((request.method, operation.path, error.status))
            raise _Response(error.status, {"message": error.message}) from None
        if isinstance(result, _Response):
            self.requests.append((request.method, operation.path, result.status))
            return _json_response(result.status, result.body, result.headers)
        self.requests.append((request.method, operation.path, 200))
        return _json_response(200, result)

    def _authenticated(self, request: web.BaseRequest, query: list[tuple[str, str]]) -> bool:
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, encoded = header.partition(" ")
            if scheme.lower() != "basic":
                return False
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            user, _, password = decoded.partition(":")
            return (user, password) == (self.username, self.password)
        for name, value in query:
            if name.lower() == "api_key":
                user, separator, password = value.partition(":")
                return bool(separator) and (user, password) == (self.username, self.password)
        return False

    def _api_docs(self, request: web.BaseRequest, name: str) -> web.Response:
        if "/" in name or not name.endswith(".json") or name[:-5] not in self.spec.documents:
            raise _Response(404, {"message": "Resource not found"})
        document = dict(self.spec.documents[name[:-5]])
        if "basePath" in document:
            host = request.headers.get("Host")
            if host:
                document["basePath"] = f"http://{host}/ari"
            else:
                del document["basePath"]
        return _json_response(200, document)

    # -- WebSockets -------------------------------------------------------------------------

    async def _websocket(self, request: web.BaseRequest, arguments: dict[str, Any]
                         ) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise _Response(426, {"message": "Upgrade Required"})
        ws = web.WebSocketResponse(protocols=("ari",), autoping=False)
        await ws.prepare(request)
        apps: list[str] = arguments["app"]
        if not apps:
            await ws.send_str(json.dumps({"type": "MissingParams", "params": ["app"]}))
            await ws.close()
            return ws
        socket = EventSocket(ws, apps, request.transport)
        self.sockets.append(socket)
        self.engine.attach(apps, socket, bool(arguments.get("subscribeAll")))
        writer = asyncio.get_running_loop().create_task(socket.write_forever())
        try:
            async for message in ws:
                if message.type == WSMsgType.PING and not socket.silent:
                    await ws.pong(message.data)
        finally:
            socket.close()
            writer.cancel()
            self.engine.detach(socket)
            if socket in self.sockets:
                self.sockets.remove(socket)
        return ws

    async def drop_websockets(self, app: str | None, mode: str) -> int:
        """Drop the event sockets of ``app`` (all when None); returns how many."""
        if mode not in ("close", "abort", "silent"):
            raise ValueError("mode must be 'close', 'abort' or 'silent'")
        dropped = [s for s in self.sockets if app is None or app in s.apps]
        for socket in dropped:
            if mode == "silent":
                socket.silent = True
                continue
            self.engine.detach(socket)
            socket.close()
            if mode == "abort":
                if isinstance(socket.transport, asyncio.Transport):
                    socket.transport.abort()
            else:
                await socket.ws.close(code=1001, message=b"Going away")
        return len(dropped)

    # -- handlers -----------------------------------------------------------------------------

    def _build_handlers(self) -> dict[str, Handler]:
        engine = self.engine
        spec_ops = {f"{op.nickname}@{op.resource}" for op in self.spec.operations}

        async def channels_list(a: dict[str, Any]) -> Any:
            return [c.snapshot() for c in engine.channels.values()]

        async def originate(a: dict[str, Any]) -> Any:
            channel = engine.originate(
                a["endpoint"], app=a.get("app"), app_args=a.get("appArgs"),
                context=a.get("context"), extension=a.get("extension"),
                priority=a.get("priority"), label=a.get("label"), caller_id=a.get("callerId"),
                timeout=int(a["timeout"]) if a.get("timeout") is not None else 30,
                variables=_variables(a.get("variables")), channel_id=a.get("channelId"),
                other_channel_id=a.get("otherChannelId"), originator=a.get("originator"),
                formats=a.get("formats"))
            return channel.snapshot()

        async def create(a: dict[str, Any]) -> Any:
            channel = engine.originate(
                a["endpoint"], app=a["app"], app_args=a.get("appArgs"),
                variables=_variables(a.get("variables")), channel_id=a.get("channelId"),
                other_channel_id=a.get("otherChannelId"), originator=a.get("originator"),
                formats=a.get("formats"), create_only=True)
            return channel.snapshot()

        async def channel_get(a: dict[str, Any]) -> Any:
            channel = engine.channels.get(a["channelId"])
            if channel is None:
                raise AriError(404, "Channel not found")
            return channel.snapshot()

        async def hangup(a: dict[str, Any]) -> Any:
            channel = engine.channels.get(a["channelId"])
            if channel is None:
                raise AriError(404, "Channel not found")
            reason_code, reason = a.get("reason_code"), a.get("reason")
            if reason_code and reason:
                raise AriError(400, "The reason and reason_code can't both be specified")
            if reason_code:
                cause = int(reason_code) if reason_code.isdigit() else 0
            else:
                cause = HANGUP_REASONS.get(reason or "normal", 16)
            engine.hangup(channel, cause=cause, initiator="ari")
            return _no_content()

        async def continue_in_dialplan(a: dict[str, Any]) -> Any:
            channel = engine.control_up(a["channelId"])
            engine.continue_in_dialplan(channel, a.get("context"), a.get("extension"),
                                        a.get("priority"), a.get("label"))
            return _no_content()

        async def move(a: dict[str, Any]) -> Any:
            channel = engine.control(a["channelId"])
            args = a["appArgs"].split(",") if a.get("appArgs") else []
            engine.move(channel, a["app"], args)
            return _no_content()

        async def answer(a: dict[str, Any]) -> Any:
            channel = engine.control_up(a["channelId"])
            engine.answer_now(channel)
            return _no_content()

        async def plain_control(a: dict[str, Any]) -> Any:
            engine.control_up(a["channelId"])
            return _no_content()

        async def send_dtmf(a: dict[str, Any]) -> Any:
            channel = engine.control_up(a["channelId"])
            if not a.get("dtmf"):
                raise AriError(400, "DTMF is required")
            engine.send_dtmf(channel, a["dtmf"], a["before"] or 0, a["between"] or 100,
                             a["duration"] or 100, a["after"] or 0)
            return _no_content()

        def muter(mute: bool) -> Handler:
            async def handler(a: dict[str, Any]) -> Any:
                channel = engine.control_up(a["channelId"])
                engine.mute(channel, a.get("direction") or "both", mute)
                return _no_content()
            return handler

        def holder(hold: bool) -> Handler:
            async def handler(a: dict[str, Any]) -> Any:
                engine.hold(engine.control_up(a["channelId"]), hold)
                return _no_content()
            return handler

        async def start_moh(a: dict[str, Any]) -> Any:
            engine.start_moh(engine.control_up(a["channelId"]), a.get("mohClass"))
            return _no_content()

        async def stop_moh(a: dict[str, Any]) -> Any:
            engine.stop_moh(engine.control_up(a["channelId"]))
            return _no_content()

        def silencer(on: bool) -> Handler:
            async def handler(a: dict[str, Any]) -> Any:
                engine.control_up(a["channelId"]).silence = on
                return _no_content()
            return handler

        async def play(a: dict[str, Any]) -> Any:
            channel = engine.control_up(a["channelId"])
            return _play(engine, channel, a)

        async def get_channel_var(a: dict[str, Any]) -> Any:
            channel = engine.channels.get(a["channelId"])
            if channel is None:
                raise AriError(404, "Provided channel was not found")
            name: str = a["variable"]
            if name.endswith(")"):
                function, _, arguments = name[:-1].partition("(")
                value = engine._function(channel, function.upper(), arguments)
                if value is None:
                    raise AriError(500, "Unable to read provided function")
                return {"value": value}
            value = engine._variable(channel, name)
            if value is None:
                raise AriError(404, "Provided variable was not found")
            return {"value": value}

        async def set_channel_var(a: dict[str, Any]) -> Any:
            channel = engine.control(a["channelId"])
            engine.set_variable(channel, a["variable"], a.get("value") or "")
            return _no_content()

        async def get_channel_vars(a: dict[str, Any]) -> Any:
            channel = engine.channels.get(a["channelId"])
            if channel is None:
                raise AriError(404, "Provided channel was not found")
            values = {}
            for name in a["variables"]:
                value = engine._variable(channel, name)
                if value is None:
                    raise AriError(404, "Provided variable was not found")
                values[name] = value
            return {"variables": values}

        async def set_channel_vars(a: dict[str, Any]) -> Any:
            channel = engine.control(a["channelId"])
            for name, value in (a.get("variables") or {}).items():
                engine.set_variable(channel, name, value)
            return _no_content()

        async def snoop(a: dict[str, Any]) -> Any:
            spy, whisper = a.get("spy") or "none", a.get("whisper") or "none"
            if spy == "none" and whisper == "none":
                raise AriError(400, "Direction must be specified for at least spy or whisper")
            target = engine.channels.get(a["channelId"])
            if target is None:
                raise AriError(404, "Provided channel was not found")
            channel = engine.snoop(target, spy, whisper, a["app"], a.get("appArgs"),
                                   a.get("snoopId"))
            return channel.snapshot()

        async def dial(a: dict[str, Any]) -> Any:
            channel = engine.control(a["channelId"])
            engine.dial_created(channel, a.get("caller"), a.get("timeout") or 0)
            return _no_content()

        async def bridges_list(a: dict[str, Any]) -> Any:
            return [b.snapshot() for b in engine.bridges.values()]

        async def bridge_create(a: dict[str, Any]) -> Any:
            bridge = engine.create_bridge(a.get("type"), a.get("bridgeId"), a.get("name"))
            for name, value in (a.get("variables") or {}).items():
                bridge.variables[name] = value
            return bridge.snapshot()

        async def bridge_get(a: dict[str, Any]) -> Any:
            bridge = engine.bridges.get(a["bridgeId"])
            if bridge is None:
                raise AriError(404, "Bridge not found")
            return bridge.snapshot()

        async def bridge_destroy(a: dict[str, Any]) -> Any:
            engine.destroy_bridge(engine.stasis_bridge(a["bridgeId"]))
            return _no_content()

        async def add_channel(a: dict[str, Any]) -> Any:
            bridge = engine.stasis_bridge(a["bridgeId"])
            for channel in engine.bridge_controls(a["channel"]):
                engine.add_to_bridge(bridge, channel, absorb_dtmf=bool(a.get("absorbDTMF")),
                                     mute=bool(a.get("mute")), role=a.get("role") or "")
            return _no_content()

        async def remove_channel(a: dict[str, Any]) -> Any:
            bridge = engine.stasis_bridge(a["bridgeId"])
            engine.remove_from_bridge(bridge, engine.bridge_controls(a["channel"]))
            return _no_content()

        async def bridge_start_moh(a: dict[str, Any]) -> Any:
            engine.bridge_moh(engine.stasis_bridge(a["bridgeId"]), a.get("mohClass"))
            return _no_content()

        async def bridge_stop_moh(a: dict[str, Any]) -> Any:
            engine.stasis_bridge(a["bridgeId"]).moh_class = None
            return _no_content()

        async def bridge_play(a: dict[str, Any]) -> Any:
            return _play(engine, engine.stasis_bridge(a["bridgeId"]), a)

        async def get_bridge_var(a: dict[str, Any]) -> Any:
            bridge = engine.bridges.get(a["bridgeId"])
            if bridge is None:
                raise AriError(404, "Bridge not found")
            if a["variable"] not in bridge.variables:
                raise AriError(404, "Provided variable was not found")
            return {"value": bridge.variables[a["variable"]]}

        async def set_bridge_var(a: dict[str, Any]) -> Any:
            engine.stasis_bridge(a["bridgeId"]).variables[a["variable"]] = a.get("value") or ""
            return _no_content()

        async def apps_list(a: dict[str, Any]) -> Any:
            return engine.list_apps()

        async def app_get(a: dict[str, Any]) -> Any:
            return engine.app_snapshot(a["applicationName"])

        def subscriber(subscribe: bool) -> Handler:
            async def handler(a: dict[str, Any]) -> Any:
                return engine.subscribe(a["applicationName"], a["eventSource"], subscribe)
            return handler

        async def info(a: dict[str, Any]) -> Any:
            started = iso_time(engine.started)
            full = {
                "build": {"os": "Linux", "kernel": "6.1.0", "options": "", "machine": "x86_64",
                          "date": "2026-01-01 00:00:00 UTC", "user": "payivr-simulator"},
                "system": {"version": ASTERISK_VERSION, "entity_id": engine.asterisk_id},
                "config": {"name": "payivr-simulator", "default_language": "en",
                           "setid": {"user": "asterisk", "group": "asterisk"}},
                "status": {"startup_time": started, "last_reload_time": started},
            }
            only = [part for part in (a.get("only") or [])]
            if only:
                return {key: value for key, value in full.items() if key in only}
            return full

        async def ping(a: dict[str, Any]) -> Any:
            return {"asterisk_id": engine.asterisk_id, "ping": "pong",
                    "timestamp": iso_time(engine.clock.now())}

        async def get_global_var(a: dict[str, Any]) -> Any:
            return {"value": engine.global_variables.get(a["variable"], "")}

        async def set_global_var(a: dict[str, Any]) -> Any:
            engine.global_variables[a["variable"]] = a.get("value") or ""
            return _no_content()

        async def playback_get(a: dict[str, Any]) -> Any:
            return engine.playback(a["playbackId"]).snapshot()

        async def playback_stop(a: dict[str, Any]) -> Any:
            engine.stop_playback(a["playbackId"])
            return _no_content()

        async def playback_control(a: dict[str, Any]) -> Any:
            engine.control_playback(a["playbackId"], a["operation"])
            return _no_content()

        async def sounds_list(a: dict[str, Any]) -> Any:
            language = a.get("lang") or "en"
            return [{"id": name, "formats": [{"language": language, "format": "wav"}]}
                    for name in engine.sounds.names()]

        async def sound_get(a: dict[str, Any]) -> Any:
            if a["soundId"] not in engine.sounds.names():
                raise AriError(404, "Sound not found")
            return {"id": a["soundId"], "formats": [{"language": "en", "format": "wav"}]}

        async def endpoints_list(a: dict[str, Any]) -> Any:
            return [_endpoint(engine, phone) for phone in engine.phones.values()]

        async def endpoints_by_tech(a: dict[str, Any]) -> Any:
            found = [_endpoint(engine, p) for p in engine.phones.values()
                     if p.endpoint.split("/")[0].lower() == a["tech"].lower()]
            if not found:
                raise AriError(404, f"No Endpoints found - invalid tech {a['tech']}")
            return found

        async def endpoint_get(a: dict[str, Any]) -> Any:
            phone = engine.phones.get(f"{a['tech']}/{a['resource']}".lower())
            if phone is None:
                raise AriError(404, "Endpoint not found")
            return _endpoint(engine, phone)

        async def empty_list(a: dict[str, Any]) -> Any:
            return []

        async def recording_not_found(a: dict[str, Any]) -> Any:
            raise AriError(404, "Recording not found")

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


def _play(engine: Engine, target: Any, a: dict[str, Any]) -> _Response:
    if (a.get("skipms") or 0) < 0:
        raise AriError(400, "skipms cannot be negative")
    if (a.get("offsetms") or 0) < 0:
        raise AriError(400, "offsetms cannot be negative")
    playback = engine.play(target, a["media"], a.get("lang"), a.get("playbackId"),
                           a.get("skipms") or 3000)
    return _Response(201, playback.snapshot(), {"Location": f"/playbacks/{playback.id}"})


def _endpoint(engine: Engine, phone: Any) -> dict[str, Any]:
    tech, resource = phone.endpoint.split("/", 1)
    return {"technology": tech, "resource": resource, "state": "online",
            "channel_ids": [phone.channel_id] if phone.channel_id else []}


def _variables(value: Any) -> dict[str, str] | None:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return None


def _no_content() -> _Response:
    return _Response(204)


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None
                   ) -> web.Response:
    if status == 204 or body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=headers)
