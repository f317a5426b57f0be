"""One ARI and one AMI in front of several simulated Asterisks, each its own process.

payivr (or the floor) connects to one ARI and one AMI, as to one Asterisk. Behind this
front, ``calls_sim.py`` runs in N processes (backends), each with its own engine, phones and
media timers and its share of the calls, so the simulated world is no longer one process's
worth of CPU. What the front does, and nothing else:

- the event WebSocket: one to each backend, every message passed on as it came (text,
  unparsed);
- ARI requests: about a channel, to the backend whose channel it is (channel ids are
  ``<epoch>.<n>``, the epoch is the backend's); about a playback, to the backend of the
  channel it was started on; a bridge is created on every backend (payivr names the
  channels only when it adds them) and destroyed on every backend; ``GET`` lists merged;
  the rest to the first backend;
- AMI: the login relayed to every backend, every event passed on, each action with a
  ``Channel`` to the backend that reported that channel in an event (the feature code's
  ``UserEvent`` names both legs), the others to the first backend.

Run by ``bench_calls.py --sim-processes N``; :class:`SimGroup` splits each run's calls
among the backends and merges what they report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
from aiohttp import web

EPOCH = 1795290000  # the simulator's first channel-id epoch; backend k uses EPOCH + k


class SimGroup:
    """The pipes to N ``calls_sim`` processes, used as one: a run's calls are dealt out
    among them (call i to backend i mod N), their reports merged."""

    def __init__(self, conns: list[Connection]) -> None:
        self._conns = conns

    def send(self, command: dict[str, Any]) -> None:
        if command["cmd"] != "run":
            for conn in self._conns:
                conn.send(command)
            return
        for backend, conn in enumerate(self._conns):
            conn.send({**command, "first": backend, "step": len(self._conns),
                       "seed": command["seed"] + backend})

    def recv(self) -> dict[str, Any]:
        reports = [conn.recv() for conn in self._conns]
        return {
            "started": min(r["started"] for r in reports),
            "elapsed": max(r["elapsed"] for r in reports),
            "cpu": sum(r["cpu"] for r in reports),
            "lag": [lag for r in reports for lag in r["lag"]],
            "records": [record for r in reports for record in r["records"]],
            "timed_out": sum(r["timed_out"] for r in reports),
        }


class Front:
    def __init__(self, ari_urls: list[str], ami_ports: list[int]) -> None:
        self._ari = [url.rstrip("/") for url in ari_urls]
        self._ami_ports = ami_ports
        self._playbacks: dict[str, int] = {}
        self._channel_names: dict[str, int] = {}
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ ARI

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/ari/{path:.*}", self._request)
        return app

    def _backend_of_channel(self, channel_id: str) -> int:
        epoch, _, _ = channel_id.partition(".")
        backend = int(epoch) - EPOCH if epoch.isdigit() else 0
        return backend if 0 <= backend < len(self._ari) else 0

    async def _forward(self, backend: int, request: web.Request, body: bytes
                       ) -> tuple[int, bytes, str]:
        assert self._session is not None
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() in ("authorization", "content-type")}
        async with self._session.request(
            request.method, self._ari[backend] + request.path_qs, data=body or None,
            headers=headers,
        ) as response:
            return response.status, await response.read(), response.content_type

    async def _request(self, request: web.Request) -> web.Response:
        body = await request.read()
        parts = request.match_info["path"].split("/")
        backends: list[int] = [0]
        merge = False
        if parts[0] == "channels" and len(parts) > 1:
            backends = [self._backend_of_channel(parts[1])]
            if parts[2:] == ["play"] and "playbackId" in request.query:
                self._playbacks[request.query["playbackId"]] = backends[0]
        elif parts[0] == "playbacks" and len(parts) > 1:
            backends = [self._playbacks.get(parts[1], 0)]
            if request.method == "DELETE":
                self._playbacks.pop(parts[1], None)
        elif parts[0] == "bridges" and len(parts) > 2 and "channel" in request.query:
            backends = [self._backend_of_channel(request.query["channel"].split(",")[0])]
        elif parts[0] == "bridges" and request.method in ("POST", "DELETE"):
            backends = list(range(len(self._ari)))
        elif request.method == "GET" and parts in (["channels"], ["bridges"]):
            backends, merge = list(range(len(self._ari))), True
        answers = await asyncio.gather(*(self._forward(b, request, body) for b in backends))
        if merge:
            merged = [item for status, data, _ in answers if status == 200
                      for item in json.loads(data)]
            return web.json_response(merged)
        # The first success (a bridge made or destroyed everywhere), else the first answer.
        status, data, content_type = next((a for a in answers if a[0] < 400), answers[0])
        return web.Response(status=status, body=data, content_type=content_type)

    async def _events(self, request: web.Request) -> web.WebSocketResponse:
        assert self._session is not None
        headers = {"Authorization": request.headers.get("Authorization", "")}
        upstream = [
            await self._session.ws_connect(url.replace("http", "ws", 1) + request.path_qs,
                                           headers=headers)
            for url in self._ari
        ]
        client = web.WebSocketResponse()
        await client.prepare(request)

        async def pass_on(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    await client.send_str(message.data)

        pumps = [asyncio.create_task(pass_on(ws)) for ws in upstream]
        try:
            async for _ in client:
                pass  # the client sends nothing; this ends when it closes
        finally:
            for pump in pumps:
                pump.cancel()
            for ws in upstream:
                await ws.close()
        return client

    # ------------------------------------------------------------------ AMI

    async def ami_client(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        upstream = [await asyncio.open_connection("127.0.0.1", port) for port in self._ami_ports]
        for backend_reader, _ in upstream:
            banner = await backend_reader.readline()
        writer.write(banner)
        logins: set[int] = set()

        async def pass_on(backend: int, backend_reader: asyncio.StreamReader) -> None:
            while message := await _read_message(backend_reader):
                if backend in logins and "Response" in message:
                    logins.discard(backend)  # each backend's answer to the login
                    if backend != 0:
                        continue
                for name in ("Channel", "Agent", "Peer"):
                    if name in message:
                        self._channel_names[message[name]] = backend
                writer.write(_encode(message))

        pumps = [asyncio.create_task(pass_on(b, r)) for b, (r, _) in enumerate(upstream)]
        try:
            while action := await _read_message(reader):
                if action.get("Action", "").lower() == "login":
                    logins.update(range(len(upstream)))
                    targets = list(range(len(upstream)))
                else:
                    targets = [self._channel_names.get(action.get("Channel", ""), 0)]
                for backend in targets:
                    upstream[backend][1].write(_encode(action))
        finally:
            for pump in pumps:
                pump.cancel()
            for _, backend_writer in upstream:
                backend_writer.close()
            writer.close()

    async def serve(self, conn: Connection) -> None:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100 * len(self._ari))
        ) as session:
            self._session = session
            runner = web.AppRunner(self.app(), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            ami = await asyncio.start_server(self.ami_client, "127.0.0.1", 0)
            conn.send({"ari_url": f"http://127.0.0.1:{runner.addresses[0][1]}",
                       "ami_port": ami.sockets[0].getsockname()[1]})
            await asyncio.to_thread(conn.recv)  # until told to stop
            ami.close()
            await runner.cleanup()


async def _read_message(reader: asyncio.StreamReader) -> dict[str, str]:
    """One AMI message (headers up to a blank line); empty at the end of the stream."""
    message: dict[str, str] = {}
    while line := await reader.readline():
        text = line.decode().rstrip("\r\n")
        if not text:
            if message:
                return message
            continue
        name, _, value = text.partition(": ")
        message[name] = value
    return message


def _encode(message: dict[str, str]) -> bytes:
    return ("".join(f"{name}: {value}\r\n" for name, value in message.items()) + "\r\n").encode()


def serve(conn: Connection, ari_urls: list[str], ami_ports: list[int],
          cpus: list[int] | None) -> None:
    """The front process's entry point."""
    import os
    import resource

    if cpus:
        os.sched_setaffinity(0, cpus)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(Front(ari_urls, ami_ports).serve(conn))
