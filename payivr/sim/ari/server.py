"""The HTTP and WebSocket front: ARI's URLs, auth, errors and connection limit as Asterisk's
``res_ari`` and ``http.conf`` give them, over the engine."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, unquote

import structlog
from aiohttp import WSMsgType, web
from aiohttp.web_protocol import RequestHandler

from .engine import Engine
from .events import SimulatedAriError
from .routes import Handler, RestReply, build_handlers
from .spec import ApiSpec, RequestRejected, SpecOperation

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

    def matches(self, method: str, operation: SpecOperation, concrete: str) -> bool:
        return self.method == method and self.path in (operation.path, concrete)


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
                if self.ws.compress or self.transport is None:
                    await self.ws.send_str(self._queue.popleft())
                    continue
                # The events queued so far in one write, framed as aiohttp frames a text
                # (unmasked, uncompressed): one system call however many, the same bytes.
                transport = cast(asyncio.WriteTransport, self.transport)
                if transport.is_closing():
                    return
                transport.write(b"".join(_text_frame(text) for text in self._queue))
                self._queue.clear()

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()


def _text_frame(text: str) -> bytes:
    """A final, unmasked WebSocket text frame (RFC 6455 5.2), as a server sends it."""
    payload = text.encode()
    length = len(payload)
    if length < 126:
        return struct.pack("!BB", 0x81, length) + payload
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


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
        self._handlers: dict[str, Handler] = build_handlers(engine, spec)

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
        except RestReply as response:
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
                raise RestReply(400, {"message": "Error parsing request body"}) from None
        if not self._authenticated(request, query):
            raise RestReply(401, {"message": "Authentication required"},
                            {"WWW-Authenticate": f'Basic realm="{AUTH_REALM}"'})
        if uri.endswith("/"):
            slashless = uri[:-1]
            raise RestReply(404, {"message": f"ARI URLs do not end with a slash. Try /ari/{slashless}"})
        if uri.startswith("api-docs/"):
            if request.method != "GET":
                raise RestReply(405, {"message": "Unsupported method"})
            return self._api_docs(request, uri[len("api-docs/"):])
        segments = [unquote(segment) for segment in uri.split("/")] if uri else []
        try:
            route = self.spec.route(request.method, segments)
        except RequestRejected as rejected:
            headers = {"Allow": ", ".join(rejected.allow)} if rejected.allow else {}
            raise RestReply(rejected.status, {"message": rejected.message}, headers) from None
        operation = route.operation
        concrete = "/" + "/".join(segments)
        for fault in list(self.faults):
            if fault.matches(request.method, operation, concrete):
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                self.requests.append((request.method, operation.path, fault.status))
                raise RestReply(fault.status, {"message": fault.message})
        try:
            arguments = self.spec.parse_arguments(operation, route.path_arguments, query, body)
        except RequestRejected as rejected:
            if operation.websocket and rejected.message.endswith(": app"):
                # the events WebSocket answers a missing app with a MissingParams message
                return await self._websocket(request, {"app": []})
            self.requests.append((request.method, operation.path, rejected.status))
            raise RestReply(rejected.status, {"message": rejected.message}) from None
        if operation.websocket:
            return await self._websocket(request, arguments)
        handler = self._handlers.get(operation.nickname + "@" + operation.resource)
        try:
            if handler is None:
                raise SimulatedAriError(501, NOT_IMPLEMENTED)
            result = await handler(arguments)
        except SimulatedAriError as error:
            self.requests.append((request.method, operation.path, error.status))
            raise RestReply(error.status, {"message": error.message}) from None
        if isinstance(result, RestReply):
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
            raise RestReply(404, {"message": "Resource not found"})
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
            raise RestReply(426, {"message": "Upgrade Required"})
        ws = web.WebSocketResponse(protocols=("ari",), autoping=False)
        await ws.prepare(request)
        apps: list[str] = arguments["app"]
        if not apps:
            await ws.send_str(json.dumps({"type": "MissingParams", "params": ["app"]}))
            await ws.close()
            return ws
        socket = EventSocket(ws, apps, request.transport)
        self.sockets.append(socket)
        self.engine.router.attach(apps, socket, bool(arguments.get("subscribeAll")))
        writer = asyncio.get_running_loop().create_task(socket.write_forever())
        try:
            async for message in ws:
                if message.type == WSMsgType.PING and not socket.silent:
                    await ws.pong(message.data)
        finally:
            socket.close()
            writer.cancel()
            self.engine.router.detach(socket)
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
            self.engine.router.detach(socket)
            socket.close()
            if mode == "abort":
                if isinstance(socket.transport, asyncio.Transport):
                    socket.transport.abort()
            else:
                await socket.ws.close(code=1001, message=b"Going away")
        return len(dropped)


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None
                   ) -> web.Response:
    if status == 204 or body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers=headers)
