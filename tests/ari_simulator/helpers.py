"""A minimal ARI client for the simulator's own tests (independent of payivr.ari.client)."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import aiohttp

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ari"
TRACES = FIXTURES / "traces"
API_DOCS = FIXTURES / "api-docs"
USER, PASSWORD = "payivr", "s3cret"


def basic_auth(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class EventStream:
    """One ``/ari/events`` WebSocket; collects every message."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self.closed = asyncio.Event()
        self.also_notify: list[asyncio.Event] = []
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    self.events.append(json.loads(message.data))
                    self._changed.set()
                    for event in self.also_notify:
                        event.set()
        finally:
            self.closed.set()
            self._changed.set()

    async def wait_for(self, predicate: Any, within: float = 3.0) -> dict[str, Any]:
        """The first event matching ``predicate`` (waiting for it if needed)."""
        async def find() -> dict[str, Any]:
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()
        return await asyncio.wait_for(find(), within)

    async def wait_count(self, count: int, within: float = 3.0) -> None:
        async def reach() -> None:
            while len(self.events) < count:
                self._changed.clear()
                await self._changed.wait()
        await asyncio.wait_for(reach(), within)

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    async def close(self) -> None:
        await self.ws.close()
        self._task.cancel()


class AriTestClient:
    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.session = session

    async def request(self, method: str, path: str, params: dict[str, Any] | None = None,
                      body: Any = None, headers: dict[str, str] | None = None
                      ) -> tuple[int, Any]:
        all_headers = {"Authorization": basic_auth()}
        all_headers.update(headers or {})
        query = {k: str(v) for k, v in (params or {}).items()}
        async with self.session.request(method, self.base_url + "/ari" + path, params=query,
                                        json=body, headers=all_headers) as response:
            text = await response.text()
            payload = json.loads(text) if text and response.content_type == "application/json" else text
            return response.status, payload

    async def events(self, app: str, **params: str) -> EventStream:
        query = {"app": app, **params}
        ws = await self.session.ws_connect(self.base_url + "/ari/events", params=query,
                                           headers={"Authorization": basic_auth()})
        return EventStream(ws)


def load_trace(name: str) -> list[dict[str, Any]]:
    with (TRACES / name).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]
