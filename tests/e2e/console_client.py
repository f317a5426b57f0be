"""An agent signed in to the console of the payivr under test, as a browser would be: the
HTTP API with the session cookie and CSRF token, and the live event WebSocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from payivr.console.accounts import add_agent
from tests.e2e.harness import Arrivals, System

PASSWORD = "correct horse battery staple 42"


class AgentConsole:
    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self.events: Arrivals[dict[str, Any]] = Arrivals()
        self._csrf = ""
        self._http = aiohttp.ClientSession(base_url=url, cookie_jar=aiohttp.CookieJar(unsafe=True))
        self._reader: asyncio.Task[None] | None = None

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self._csrf} if method != "GET" else {}
        async with self._http.request(method, path, json=body, headers=headers) as response:
            return response.status, await response.json()

    async def sign_in(self) -> None:
        status, body = await self.call(
            "POST", "/api/v1/login", {"name": self.name, "password": PASSWORD}
        )
        assert status == 200, body
        self._csrf = body["csrf_token"]
        socket = await self._http.ws_connect("/api/v1/events")
        await socket.receive_str()  # hello

        async def read() -> None:
            async for message in socket:
                if message.type is aiohttp.WSMsgType.TEXT:
                    self.events.append(json.loads(message.data))

        self._reader = asyncio.create_task(read())

    async def event(
        self, predicate: Callable[[dict[str, Any]], bool], within: float = 10
    ) -> dict[str, Any]:
        return await self.events.first(predicate, within)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self._http.close()


async def signed_in_agent(system: System, name: str, *endpoints: str) -> AgentConsole:
    """``payivr agent add NAME --endpoint E1 [--endpoint E2...]``, then sign in."""
    first, *more = endpoints
    await add_agent(system.running.database, name, first, "agent", PASSWORD, more)
    console = AgentConsole(system.running.console_url, name)
    await console.sign_in()
    return console
