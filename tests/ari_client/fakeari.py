"""A small recording HTTP/WebSocket server that answers like Asterisk's ARI, for client tests.

It is not the simulator: it models no calls. It records every request, answers from a table
(with sensible defaults for the reconnect snapshot) and lets a test push events, close the
socket, go silent (stop answering pings) or restart.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

FIXTURES = Path(__file__).parent / "fixtures"
USER, PASSWORD = "ariuser", "s3cret-pw"


@dataclass
class Recorded:
    method: str
    path: str  # below /ari, as sent (raw, percent-encoded)
    query: dict[str, str]
    raw_url: str
    authorization: str | None
    body: Any


def channel_json(channel_id: str, *, state: str = "Up", app_data: str = "payivr,test") -> dict:
    return {
        "id": channel_id, "name": f"PJSIP/{channel_id}-00000001", "state": state,
        "protocol_id": "", "caller": {"name": "", "number": "1002"},
        "connected": {"name": "", "number": ""}, "accountcode": "",
        "dialplan": {"context": "default", "exten": "s", "priority": 2, "app_name": "Stasis",
                     "app_data": app_data},
        "creationtime": "2026-11-21T21:11:04.540+0000", "language": "en",
    }


def bridge_json(bridge_id: str, channels: list[str] | None = None) -> dict:
    return {"id": bridge_id, "technology": "simple_bridge", "bridge_type": "mixing",
            "bridge_class": "stasis", "creator": "Stasis", "name": "", "channels": channels or [],
            "creationtime": "2026-11-21T21:11:06.047+0000", "video_mode": "talker"}


def event_json(event_type: str, **fields: Any) -> dict:
    return {"type": event_type, "timestamp": "2026-11-21T21:11:06.771+0000",
            "asterisk_id": "02:fc:00:00:00:01", "application": "payivr", **fields}


@dataclass
class FakeAri:
    app_name: str = "payivr"
    channels: list[dict] = field(default_factory=list)
    app_channel_ids: list[str] | None = None  # default: every channel in `channels`
    bridges: list[dict] = field(default_factory=list)
    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    api_docs: Path | None = FIXTURES / "api-docs"
    check_auth: bool = True
    ws_silent: bool = False  # accept the WebSocket, then never read (pings go unanswered)
    ws_status: int | None = None  # refuse the WebSocket upgrade with this status
    delay: float = 0.0  # seconds each REST answer waits
    greeting: list[dict] = field(default_factory=list)  # events sent as soon as a socket opens
    requests: list[Recorded] = field(default_factory=list)
    ws_connects: list[Recorded] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    peers: set[tuple[str, int]] = field(default_factory=set)
    port: int = 0
    _runner: web.AppRunner | None = None
    _socket_event: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeAri:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        self.sockets.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def wait_socket(self, count: int = 1, within: float = 5.0) -> web.WebSocketResponse:
        """Wait until `count` WebSocket connections have been made in total; return the last."""
        async with asyncio.timeout(within):
            while len(self.ws_connects) < count or not self.sockets:
                self._socket_event.clear()
                await self._socket_event.wait()
        return self.sockets[-1]

    async def wait_attempts(self, count: int, within: float = 5.0) -> None:
        """Wait until `count` WebSocket upgrades were attempted, accepted or not."""
        async with asyncio.timeout(within):
            while len(self.ws_connects) < count:
                self._socket_event.clear()
                await self._socket_event.wait()

    async def send(self, *events: dict | str) -> None:
        ws = self.sockets[-1]
        for event in events:
            await ws.send_str(event if isinstance(event, str) else json.dumps(event))

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]

    def _authorized(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        return not self.check_auth or request.headers.get("Authorization") == expected

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.raw_path.split("?", 1)[0]
        if not raw_path.startswith("/ari/"):
            return web.Response(status=404, text="<html>Not Found</html>",
                                content_type="text/html")
        path = raw_path[len("/ari"):]
        body = None
        if request.can_read_body:
            text = await request.text()
            body = json.loads(text) if text else None
        recorded = Recorded(method=request.method, path=path, query=dict(request.query),
                            raw_url=str(request.url), body=body,
                            authorization=request.headers.get("Authorization"))
        if path == "/events":
            self.ws_connects.append(recorded)
            self._socket_event.set()
            return await self._websocket(request)
        self.requests.append(recorded)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.peers.add(tuple(peer[:2]))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if not self._authorized(request):
                return web.json_response({"error": "Authentication required"}, status=401)
            status, payload = self._answer(request.method, path)
        finally:
            self.in_flight -= 1
        if payload is None:
            return web.Response(status=status)
        return web.json_response(payload, status=status)

    def _answer(self, method: str, path: str) -> tuple[int, Any]:
        if (method, path) in self.routes:
            return self.routes[(method, path)]
        if method == "GET" and path.startswith("/api-docs/"):
            doc = self.api_docs / path.rsplit("/", 1)[-1] if self.api_docs else None
            if doc is None or not doc.exists():
                return 404, {"message": "Not found"}
            return 200, json.loads(doc.read_text())
        if (method, path) == ("GET", "/asterisk/ping"):
            return 200, {"asterisk_id": "02:fc:00:00:00:01", "ping": "pong",
                         "timestamp": "2026-11-21T21:11:04.540+0000"}
        if (method, path) == ("GET", f"/applications/{self.app_name}"):
            ids = self.app_channel_ids
            if ids is None:
                ids = [c["id"] for c in self.channels]
            return 200, {"name": self.app_name, "channel_ids": ids,
                         "bridge_ids": [b["id"] for b in self.bridges], "endpoint_ids": [],
                         "device_names": [], "events_allowed": [], "events_disallowed": []}
        if (method, path) == ("GET", "/channels"):
            return 200, self.channels
        if (method, path) == ("GET", "/bridges"):
            return 200, self.bridges
        return 204, None

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"error": "Authentication required"}, status=401)
        if self.ws_status is not None:
            return web.json_response({"message": "refused"}, status=self.ws_status)
        ws = web.WebSocketResponse(autoping=not self.ws_silent)
        await ws.prepare(request)
        self.sockets.append(ws)
        self._socket_event.set()
        for event in self.greeting:
            await ws.send_str(json.dumps(event))
        try:
            if self.ws_silent:
                await asyncio.Event().wait()
            async for message in ws:
                if message.type is WSMsgType.ERROR:
                    break
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
        return ws
