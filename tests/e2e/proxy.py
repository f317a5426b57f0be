"""A TCP proxy for the end-to-end tests: payivr reaches a server (the database, Asterisk's
HTTP server) through it, and the test cuts connections as a network fault or a restart
would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

Upstream = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class TcpProxy:
    """Listens on 127.0.0.1 (port 0) and pipes each connection to ``upstream()``.

    ``cut()`` drops every connection and refuses new ones until ``restore()``;
    ``drop(marker)`` aborts only the open connections whose first bytes from the client
    contain ``marker`` (e.g. ``b"GET /ari/events"``: payivr's event WebSocket).
    """

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self.reachable = True
        self._pipes: set[asyncio.Task[None]] = set()
        self._connections: dict[asyncio.StreamWriter, tuple[asyncio.StreamWriter, bytes]] = {}
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for pipe in list(self._pipes):
            pipe.cancel()

    def cut(self) -> None:
        self.reachable = False
        self.drop(b"")

    def restore(self) -> None:
        self.reachable = True

    def drop(self, marker: bytes) -> int:
        """Abort the open connections whose first request holds ``marker``; how many."""
        dropped = 0
        for client, (server, first) in list(self._connections.items()):
            if marker in first:
                client.transport.abort()
                server.transport.abort()
                dropped += 1
        return dropped

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.reachable:
            writer.transport.abort()
            return
        try:
            first = await reader.read(65536)
            up_reader, up_writer = await self._upstream()
        except OSError:
            writer.transport.abort()
            return
        up_writer.write(first)
        self._connections[writer] = (up_writer, first)
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        self._pipes.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for pipe in pipes:
            pipe.cancel()
            self._pipes.discard(pipe)
        self._connections.pop(writer, None)
        for end in (writer, up_writer):
            end.transport.abort()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
