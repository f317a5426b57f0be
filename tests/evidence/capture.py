"""Everything payivr writes or sends, captured for the leak scan (issue 8 §3).

:class:`Capture` collects, each under its own source name:

- ``log``: every log line (structlog and the standard library) at DEBUG, as written;
- ``ari``: every HTTP request the ARI simulator received (method, path with its query string
  as sent and percent-decoded, body) and ``ami``: every AMI action the AMI simulator received, headers and all;
- ``gateway``: every request body the sandbox gateway received, with the card token taken out
  (kept apart in :attr:`Capture.card_tokens` and :attr:`Capture.bank_tokens`), the sandbox's ledger and its access notes;
- ``console-http``: every console/API answer (status, headers, body) a :class:`ConsoleClient`
  got, and ``console-ws``: every WebSocket message;
- ``bus``: every LISTEN/NOTIFY payload on the console channel;
- ``crm``: every activity (and its headers) the CRM received;
- ``db``: every column of every row of every table, once the run is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import aiohttp
import psycopg
import structlog

from payivr.gateway.sandbox import RunningSandbox
from payivr.log import configure_logging
from payivr.sim.ami.server import AmiSimulator
from payivr.sim.ari import AriSimulator
from payivr.store.bus import CONSOLE_CHANNEL


@dataclass
class Capture:
    log: io.StringIO = field(default_factory=io.StringIO)
    ari: list[str] = field(default_factory=list)
    ami: list[str] = field(default_factory=list)
    gateway: list[str] = field(default_factory=list)
    card_tokens: list[str] = field(default_factory=list)
    bank_tokens: list[str] = field(default_factory=list)
    http: list[str] = field(default_factory=list)
    ws: list[str] = field(default_factory=list)
    bus: list[str] = field(default_factory=list)
    db: str = ""

    # ------------------------------------------------------------------ hooks

    def watch_ari(self, sim: AriSimulator) -> None:
        def note(method: str, path: str, body: bytes) -> None:
            content = body.decode("utf-8", "replace")
            self.ari.append(f"{method} {path}\n{unquote_plus(path)}\n{content}")

        sim.add_request_observer(note)

    def watch_ami(self, ami: AmiSimulator) -> None:
        """Note each action before the simulator's own handler runs it."""
        for name, handler in list(ami.actions.items()):

            async def noted(session: Any, action: Any, handler: Any = handler) -> None:
                self.ami.append("\n".join(f"{k}: {v}" for k, v in action.headers))
                await handler(session, action)

            ami.actions[name] = noted

    def watch_gateway(self, sandbox: RunningSandbox) -> None:
        """Note each request body the sandbox's processor gets, the card or bank account token
        set apart."""
        processor = sandbox.processor
        handle = processor.handle

        async def noted(method: str, path: str, key: str | None, body: Any) -> Any:
            shown = body
            for name, tokens in (("card", self.card_tokens), ("bank_account", self.bank_tokens)):
                if isinstance(shown, dict) and isinstance(shown.get(name), str):
                    tokens.append(shown[name])
                    shown = {**shown, name: "<JWE>"}
            self.gateway.append(f"{method} {path} {key}\n{json.dumps(shown, default=str)}")
            return await handle(method, path, key, body)

        processor.handle = noted  # type: ignore[method-assign]

    @contextlib.asynccontextmanager
    async def bus_listener(self, database_url: str) -> AsyncIterator[None]:
        """Collect every console NOTIFY payload while the block runs."""
        conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
        await conn.execute(f"LISTEN {CONSOLE_CHANNEL}")

        async def listen() -> None:
            async for note in conn.notifies():
                self.bus.append(note.payload)

        task = asyncio.create_task(listen())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await conn.close()

    async def dump_database(self, database_url: str) -> None:
        """Every column of every row of every table (any schema but PostgreSQL's own)."""
        lines: list[str] = []
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            tables = await (
                await conn.execute(
                    "SELECT table_schema, table_name FROM information_schema.tables"
                    " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                    " AND table_type = 'BASE TABLE' ORDER BY 1, 2"
                )
            ).fetchall()
            for schema, table in tables:
                cursor = await conn.execute(
                    psycopg.sql.SQL("SELECT * FROM {}.{}").format(
                        psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table)
                    )
                )
                names = [column.name for column in cursor.description or ()]
                rows = await cursor.fetchall()
                lines.append(f"== {schema}.{table} ({len(rows)} rows)")
                for row in rows:
                    lines.append(
                        " | ".join(f"{n}={_shown(v)}" for n, v in zip(names, row, strict=True))
                    )
        self.db = "\n".join(lines)

    def corpus(self, **more: str) -> dict[str, str]:
        """Source name -> everything captured from it."""
        return {
            "log": self.log.getvalue(),
            "ari": "\n\n".join(self.ari),
            "ami": "\n\n".join(self.ami),
            "gateway": "\n\n".join(self.gateway),
            "console-http": "\n\n".join(self.http),
            "console-ws": "\n".join(self.ws),
            "bus": "\n".join(self.bus),
            "db": self.db,
            **more,
        }


def _shown(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return f"{raw.decode('latin-1')!r} hex:{raw.hex()}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


@contextlib.contextmanager
def logging_to(buffer: io.StringIO, level: str = "DEBUG") -> Iterator[None]:
    """payivr's logging (JSON lines, masking) at ``level`` into ``buffer``; restored after."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    configure_logging(level, json=True, stream=buffer)
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(root_level)


class ConsoleClient:
    """A signed-in console user whose every answer and WebSocket message is captured."""

    def __init__(self, base_url: str, capture: Capture, name: str) -> None:
        self.capture = capture
        self.name = name
        self.csrf = ""
        self.session = aiohttp.ClientSession(
            base_url=base_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        self._sockets: list[asyncio.Task[None]] = []

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf} if method != "GET" else {}
        async with self.session.request(method, path, json=body, headers=headers) as response:
            text = await response.text()
            shown_headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
            self.capture.http.append(
                f"{self.name} {method} {path} -> {response.status}\n{shown_headers}\n{text}"
            )
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    async def sign_in(self, password: str) -> None:
        status, body = await self.call(
            "POST", "/api/v1/login", {"name": self.name, "password": password}
        )
        assert status == 200, body
        self.csrf = body["csrf_token"]

    async def subscribe(self) -> None:
        """Open the live event WebSocket; every message is captured until :meth:`close`."""
        socket = await self.session.ws_connect("/api/v1/events")
        hello = await socket.receive_str()
        self.capture.ws.append(f"{self.name} {hello}")

        async def read() -> None:
            async for message in socket:
                if message.type is aiohttp.WSMsgType.TEXT:
                    self.capture.ws.append(f"{self.name} {message.data}")

        self._sockets.append(asyncio.create_task(read()))

    async def close(self) -> None:
        for task in self._sockets:
            task.cancel()
        await asyncio.gather(*self._sockets, return_exceptions=True)
        await self.session.close()
