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
import functools
import json
import os
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from payivr.cli import fastest_loop

EPOCH = 1795290000  # the simulator's first channel-id epoch; backend k uses EPOCH + k


class SimGroup:
    """The pipes to N ``calls_sim`` processes, used as one: a run's calls are dealt out
    among them (call i to backend i mod N), their reports merged; the front's CPU over the
    run (``front_pid``, read from /proc) is counted in the simulated world's."""

    def __init__(self, conns: list[Connection], front_pid: int | None = None) -> None:
        self._conns = conns
        self.front_pid = front_pid
        self._front_cpu_started = 0.0

    def send(self, command: dict[str, Any]) -> None:
        if command["cmd"] != "run":
            for conn in self._conns:
                conn.send(command)
            return
        self._front_cpu_started = self._front_cpu()
        for backend, conn in enumerate(self._conns):
            conn.send({**command, "first": backend, "step": len(self._conns),
                       "seed": command["seed"] + backend})

    def recv(self) -> dict[str, Any]:
        reports = [conn.recv() for conn in self._conns]
        front_cpu = self._front_cpu() - self._front_cpu_started
        return {
            "started": min(r["started"] for r in reports),
            "elapsed": max(r["elapsed"] for r in reports),
            "cpu": sum(r["cpu"] for r in reports) + front_cpu,
            "front_cpu": front_cpu,
            "lag": [lag for r in reports for lag in r["lag"]],
            "records": [record for r in reports for record in r["records"]],
            "timed_out": sum(r["timed_out"] for r in reports),
        }

    def _front_cpu(self) -> float:
        """The front process's CPU seconds so far (utime + stime)."""
        if self.front_pid is None:
            return 0.0
        with open(f"/proc/{self.front_pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _HttpMessage:
    """One HTTP/1.1 message taken off a connection: its head (start line and headers, as
    bytes) and its whole text (head and body, passed on unchanged)."""

    __slots__ = ("head", "raw")

    def __init__(self, head: bytes, raw: bytes) -> None:
        self.head = head
        self.raw = raw

    @property
    def start_line(self) -> str:
        return self.head[: self.head.index(b"\r\n")].decode("latin-1")

    def header(self, name: bytes) -> bytes | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name:
                return value.strip()
        return None


def _take_message(buffer: bytearray) -> _HttpMessage | None:
    """The first whole message in ``buffer`` (removed from it), or None while it is partial.

    The simulators answer and aiohttp's clients ask with ``Content-Length`` (or no body):
    nothing chunked passes through the front."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end])
    length = 0
    lowered = head.lower()
    at = lowered.find(b"\r\ncontent-length:")
    if at >= 0:
        line_end = lowered.find(b"\r\n", at + 2)
        length = int(lowered[at + 17: line_end if line_end >= 0 else None])
    total = end + 4 + length
    if len(buffer) < total:
        return None
    raw = bytes(buffer[:total])
    del buffer[:total]
    return _HttpMessage(head, raw)


def _status(response: _HttpMessage) -> int:
    return int(response.head[9:12])


Answer = Callable[[_HttpMessage | None], None]  # None: the backend's connection was lost


class _Upstream(asyncio.Protocol):
    """A kept-alive connection to one backend's ARI, one request at a time."""

    def __init__(self, pool: _BackendPool) -> None:
        self._pool = pool
        self._buffer = bytearray()
        self._answer: Answer | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def send(self, request: bytes, answer: Answer) -> None:
        assert self.transport is not None
        self._answer = answer
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        response = _take_message(self._buffer)
        if response is None or self._answer is None:
            return
        answer, self._answer = self._answer, None
        if (response.header(b"connection") or b"").lower() == b"close":
            self.closed = True
        self._pool.release(self)
        answer(response)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._pool.lost(self)
        if self._answer is not None:
            answer, self._answer = self._answer, None
            answer(None)


class _BackendPool:
    """At most ``limit`` kept-alive connections to one backend (its ``sessionlimit`` counts
    them); requests beyond wait their turn."""

    def __init__(self, port: int, limit: int) -> None:
        self.port = port
        self._limit = limit
        self._idle: list[_Upstream] = []
        self._open = 0
        self._waiting: deque[tuple[bytes, Answer]] = deque()

    def send(self, request: bytes, answer: Answer) -> None:
        if self._idle:
            self._idle.pop().send(request, answer)
        elif self._open < self._limit:
            self._open += 1
            asyncio.get_running_loop().create_task(self._connect_and_send(request, answer))
        else:
            self._waiting.append((request, answer))

    async def _connect_and_send(self, request: bytes, answer: Answer) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(
                lambda: _Upstream(self), "127.0.0.1", self.port
            )
        except OSError:
            self._open -= 1
            answer(None)
            return
        upstream.send(request, answer)

    def release(self, upstream: _Upstream) -> None:
        if upstream.closed:
            return  # connection_lost counts it out
        if self._waiting:
            upstream.send(*self._waiting.popleft())
        else:
            self._idle.append(upstream)

    def lost(self, upstream: _Upstream) -> None:
        self._open -= 1
        if upstream in self._idle:
            self._idle.remove(upstream)
        if self._waiting and self._open < self._limit:
            self.send(*self._waiting.popleft())


def _json_answer(status: str, body: bytes) -> bytes:
    return (b"HTTP/1.1 %s\r\nContent-Type: application/json; charset=utf-8\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (status.encode(), len(body), body))


_BAD_GATEWAY = _json_answer("502 Bad Gateway", b'{"message": "the simulator went away"}')


class _ClientSide(asyncio.Protocol):
    """A connection from payivr (or the floor): its requests one at a time, each passed on
    to the backend(s) it concerns and the answer passed back unchanged. The events
    WebSocket's request hands the connection over to an :class:`_EventsRelay`."""

    def __init__(self, front: Front) -> None:
        self._front = front
        self._buffer = bytearray()
        self._busy = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._busy:
            self._next()

    def _next(self) -> None:
        assert self.transport is not None
        request = _take_message(self._buffer)
        if request is None:
            return
        method, target, _ = request.start_line.split(" ", 2)
        if target.startswith("/ari/events"):
            # The rest of this connection is the events WebSocket (see _EventsRelay).
            relay = _EventsRelay(self.transport, bytes(self._buffer))
            self.transport.set_protocol(relay)
            self._front.open_events(request.raw, relay)
            return
        self._busy = True
        self._front.dispatch(method, target, request, self._respond)

    def _respond(self, response: bytes) -> None:
        assert self.transport is not None
        self._busy = False
        if self.transport.is_closing():
            return
        self.transport.write(response)
        self._next()


def _frame_end(buffer: bytearray | bytes, start: int = 0) -> int:
    """Where the WebSocket frame at ``start`` ends (RFC 6455 5.2), or -1 while partial."""
    if len(buffer) < start + 2:
        return -1
    length, at = buffer[start + 1] & 0x7F, start + 2
    if length == 126:
        if len(buffer) < at + 2:
            return -1
        length, at = int.from_bytes(buffer[at:at + 2], "big"), at + 2
    elif length == 127:
        if len(buffer) < at + 8:
            return -1
        length, at = int.from_bytes(buffer[at:at + 8], "big"), at + 8
    if buffer[start + 1] & 0x80:
        at += 4  # the client's masking key
    end = at + length
    return end if len(buffer) >= end else -1


class _EventsRelay(asyncio.Protocol):
    """The events WebSocket to payivr (or the floor), fed by one to every backend.

    The backends' text frames are passed on whole and unchanged, as many as each read
    brought in one write; the client's pings get their pong here and its close ends every
    connection (the client sends nothing else)."""

    def __init__(self, transport: asyncio.Transport, received: bytes) -> None:
        self.transport = transport
        self.upstream: list[asyncio.BaseTransport] = []
        self._buffer = bytearray()
        self._early: list[bytes] | None = []  # frames that came before the upgrade's answer
        if received:
            self.data_received(received)

    def answer(self, response: bytes, upgraded: bool) -> None:
        """The first backend's answer to the upgrade, then any frames that came before it."""
        self.transport.write(response)
        if not upgraded:  # refused (authentication, no app): so is the client
            self.transport.close()
            return
        early, self._early = self._early or [], None
        self.send(early)

    def send(self, frames: list[bytes]) -> None:
        if self._early is not None:
            self._early.extend(frames)
        elif frames and not self.transport.is_closing():
            self.transport.write(b"".join(frames))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := _frame_end(self._buffer)) >= 0:
            frame, self._buffer = bytes(self._buffer[:end]), self._buffer[end:]
            opcode = frame[0] & 0x0F
            length = frame[1] & 0x7F  # control frames: at most 125 bytes, no extended length
            mask, masked = frame[2:6], frame[6:6 + length]
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(masked))
            if opcode == 0x9:  # ping
                self.transport.write(bytes((0x8A, len(payload))) + payload)
            elif opcode == 0x8:  # close: answered with the same status, then every end closed
                self.transport.write(bytes((0x88, len(payload))) + payload)
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        for upstream in self.upstream:
            upstream.close()


class _EventsUpstream(asyncio.Protocol):
    """One backend's events WebSocket: its answer to the upgrade (the first backend's goes to
    the client), then its text frames passed on."""

    def __init__(self, relay: _EventsRelay, backend: int) -> None:
        self._relay = relay
        self._backend = backend
        self._buffer = bytearray()
        self._upgraded = False

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._upgraded:
            answer = _take_message(self._buffer)
            if answer is None:
                return
            self._upgraded = True
            if self._backend == 0:
                self._relay.answer(answer.raw, _status(answer) == 101)
            if _status(answer) != 101:
                return
        frames, start = [], 0
        while (end := _frame_end(self._buffer, start)) >= 0:
            if self._buffer[start] & 0x0F == 0x1:  # text; the simulators send whole messages
                frames.append(bytes(self._buffer[start:end]))
            start = end
        if start:
            del self._buffer[:start]
            self._relay.send(frames)


class Front:
    def __init__(self, ari_urls: list[str], ami_ports: list[int]) -> None:
        self._ari = [url.rstrip("/") for url in ari_urls]
        # A connection of each backend's sessionlimit (100) is kept for the events WebSocket.
        self._pools = [_BackendPool(urlsplit(url).port or 80, 90) for url in self._ari]
        self._ami_ports = ami_ports
        self._playbacks: dict[str, int] = {}
        self._channel_names: dict[str, int] = {}
        self._connecting: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ ARI

    def open_events(self, request: bytes, relay: _EventsRelay) -> None:
        """The client's WebSocket request, unchanged, to every backend."""
        loop = asyncio.get_running_loop()

        async def connect(backend: int, port: int) -> None:
            transport, _ = await loop.create_connection(
                lambda: _EventsUpstream(relay, backend), "127.0.0.1", port
            )
            relay.upstream.append(transport)
            transport.write(request)

        for backend, pool in enumerate(self._pools):
            task = loop.create_task(connect(backend, pool.port))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)

    def _backend_of_channel(self, channel_id: str) -> int:
        epoch, _, _ = channel_id.partition(".")
        backend = int(epoch) - EPOCH if epoch.isdigit() else 0
        return backend if 0 <= backend < len(self._ari) else 0

    def dispatch(self, method: str, target: str, request: _HttpMessage,
                 respond: Callable[[bytes], None]) -> None:
        """Route one request (see the module's docstring) and answer it through ``respond``."""
        path, _, query_string = target.partition("?")
        parts = path.removeprefix("/ari/").split("/")
        query = parse_qs(query_string) if query_string else {}
        backends: list[int] = [0]
        merge = False
        if parts[0] == "channels" and len(parts) > 1:
            backends = [self._backend_of_channel(parts[1])]
            if parts[2:] == ["play"] and "playbackId" in query:
                self._playbacks[query["playbackId"][0]] = backends[0]
        elif parts[0] == "playbacks" and len(parts) > 1:
            backends = [self._playbacks.get(parts[1], 0)]
            if method == "DELETE":
                self._playbacks.pop(parts[1], None)
        elif parts[0] == "bridges" and len(parts) > 2 and "channel" in query:
            backends = [self._backend_of_channel(query["channel"][0].split(",")[0])]
        elif parts[0] == "bridges" and method in ("POST", "DELETE"):
            backends = list(range(len(self._ari)))
        elif method == "GET" and parts in (["channels"], ["bridges"]):
            backends, merge = list(range(len(self._ari))), True
        if len(backends) == 1:
            self._pools[backends[0]].send(
                request.raw, lambda response: respond(response.raw if response else _BAD_GATEWAY)
            )
            return
        answers: dict[int, _HttpMessage | None] = {}

        def gathered(backend: int, response: _HttpMessage | None) -> None:
            answers[backend] = response
            if len(answers) == len(backends):
                respond(self._combined([answers[b] for b in backends], merge))

        for backend in backends:
            self._pools[backend].send(request.raw, functools.partial(gathered, backend))

    @staticmethod
    def _combined(answers: list[_HttpMessage | None], merge: bool) -> bytes:
        """Several backends' answers as one: lists merged, else the first success (a bridge
        made or destroyed everywhere), else the first answer."""
        present = [a for a in answers if a is not None]
        if not present:
            return _BAD_GATEWAY
        if merge:
            merged = [item for a in present if _status(a) == 200
                      for item in json.loads(a.raw[len(a.head) + 4:])]
            return _json_answer("200 OK", json.dumps(merged).encode())
        return next((a for a in present if _status(a) < 400), present[0]).raw

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
        loop = asyncio.get_running_loop()
        ari = await loop.create_server(lambda: _ClientSide(self), "127.0.0.1", 0)
        ami = await asyncio.start_server(self.ami_client, "127.0.0.1", 0)
        conn.send({"ari_url": f"http://127.0.0.1:{ari.sockets[0].getsockname()[1]}",
                   "ami_port": ami.sockets[0].getsockname()[1]})
        await asyncio.to_thread(conn.recv)  # until told to stop
        ami.close()
        ari.close()


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
    import resource

    if cpus:
        os.sched_setaffinity(0, cpus)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=fastest_loop()) as runner:
        runner.run(Front(ari_urls, ami_ports).serve(conn))
