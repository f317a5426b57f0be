"""A small FastAGI server: ``AGI(agi://payivr:4573/pay,${BRIDGEPEER},<amount>)`` as a trigger.

Written here rather than taken from panoramisk 1.4, whose server spins forever when a peer
closes before the end of its ``agi_*`` headers and wraps plain-function routes with
``asyncio.coroutine`` (gone in Python 3.11). Reading the headers is bounded in time, in line
length and in line count; a peer that breaks any bound is dropped.

Anyone who reaches the port can claim to be Asterisk, so a connection from an address outside
``allowed_sources`` is closed unread, and with a ``secret`` the script must be
``<route>/<secret>`` (``AGI(agi://payivr:4573/pay/<secret>,...)``).

    server = FastAgiServer({"pay": takeover_route(handle_request)},
                           allowed_sources=["172.16.0.0/12"], secret=secret)
    await server.start("0.0.0.0", 4573)
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

import structlog

from payivr.ami.errors import AmiError, InvalidTakeoverRequest
from payivr.ami.takeover import RequestSource, TakeoverRequest, request_from_fields

log = structlog.get_logger(__name__)

_RESULT = re.compile(r"^(?P<code>\d{3}) result=(?P<result>\S*)(?: \((?P<data>.*)\))?")


LOOPBACK_SOURCES = ("127.0.0.0/8", "::1/128")


class AgiError(AmiError):
    """Asterisk answered an AGI command with an error, hung up, or went silent."""


@dataclass(frozen=True)
class AgiRequest:
    """The ``agi_*`` variables Asterisk sends first (names without the ``agi_`` prefix)."""

    variables: Mapping[str, str]

    @property
    def script(self) -> str:
        """The path of ``agi://host:port/<path>``, without leading or trailing slashes."""
        return self.variables.get("network_script", "").strip("/")

    @property
    def route(self) -> str:
        """The script's first part: ``pay`` of ``pay/<secret>``."""
        return self.script.partition("/")[0]

    @property
    def given_secret(self) -> str:
        """What follows the route in the script (``<secret>`` of ``pay/<secret>``)."""
        return self.script.partition("/")[2]

    @property
    def channel(self) -> str:
        return self.variables.get("channel", "")

    @property
    def arguments(self) -> tuple[str, ...]:
        args = []
        index = 1
        while f"arg_{index}" in self.variables:
            args.append(self.variables[f"arg_{index}"])
            index += 1
        return tuple(args)


@dataclass(frozen=True)
class AgiResult:
    code: int
    result: str
    data: str | None


class AgiSession:
    def __init__(
        self,
        request: AgiRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        command_timeout: float,
    ) -> None:
        self.request = request
        self._reader = reader
        self._writer = writer
        self._command_timeout = command_timeout

    async def command(self, line: str) -> AgiResult:
        """Send one AGI command and read its ``200 result=...`` answer."""
        if "\n" in line or "\r" in line:
            raise ValueError("an AGI command is a single line")
        self._writer.write(line.encode() + b"\n")
        try:
            async with asyncio.timeout(self._command_timeout):
                await self._writer.drain()
                while True:
                    raw = await self._reader.readline()
                    if not raw:
                        raise AgiError("Asterisk closed the AGI connection")
                    text = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if text == "HANGUP":
                        raise AgiError("the channel hung up")
                    if text.startswith("520-"):
                        while raw and not raw.startswith(b"520 "):
                            raw = await self._reader.readline()
                        raise AgiError("AGI command usage error")
                    match = _RESULT.match(text)
                    if match is None:
                        raise AgiError(f"unexpected AGI answer ({len(text)} characters)")
                    if match["code"] == "100":
                        continue
                    return AgiResult(int(match["code"]), match["result"], match["data"])
        except TimeoutError:
            raise AgiError(f"no AGI answer within {self._command_timeout:g}s") from None

    async def close(self) -> None:
        """End the AGI session: Asterisk goes on with the dialplan after AGI()."""
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    async def get_variable(self, name: str) -> str | None:
        answer = await self.command(f"GET VARIABLE {name}")
        if answer.code != 200:
            raise AgiError(f"GET VARIABLE answered {answer.code}")
        return answer.data if answer.result == "1" else None


AgiHandler = Callable[[AgiSession], Awaitable[None]]


class FastAgiServer:
    def __init__(
        self,
        routes: Mapping[str, AgiHandler],
        *,
        header_timeout: float = 5.0,
        command_timeout: float = 10.0,
        max_header_lines: int = 200,
        max_line_bytes: int = 4096,
        allowed_sources: Iterable[str] = LOOPBACK_SOURCES,
        secret: str | None = None,
    ) -> None:
        self.routes = {path.strip("/"): handler for path, handler in routes.items()}
        self.allowed_sources = [ipaddress.ip_network(source) for source in allowed_sources]
        self._secret = secret
        self.header_timeout = header_timeout
        self.command_timeout = command_timeout
        self.max_header_lines = max_header_lines
        self.max_line_bytes = max_line_bytes
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 4573) -> None:
        self._server = await asyncio.start_server(
            self._serve, host, port, limit=self.max_line_bytes
        )

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FastAgiServer.start() has not been called")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def _source_allowed(self, peer: tuple[str, int] | tuple[str, int, int, int] | None) -> bool:
        try:
            address = ipaddress.ip_address(peer[0]) if peer else None
        except ValueError:
            address = None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # a dual-stack listener's IPv4 peer
        if address is not None and any(address in network for network in self.allowed_sources):
            return True
        log.warning("fastagi.source_refused", source=str(address))
        return False

    async def _read_request(self, reader: asyncio.StreamReader) -> AgiRequest | None:
        variables: dict[str, str] = {}
        try:
            async with asyncio.timeout(self.header_timeout):
                for _ in range(self.max_header_lines):
                    raw = await reader.readline()
                    if not raw or not raw.endswith(b"\n"):
                        log.info("fastagi.closed_before_headers_end")
                        return None
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if not line:
                        return AgiRequest(variables)
                    name, sep, value = line.partition(":")
                    if sep and name.startswith("agi_"):
                        variables[name.removeprefix("agi_")] = value.strip()
        except TimeoutError:
            log.info("fastagi.header_timeout")
            return None
        except (ValueError, asyncio.LimitOverrunError):
            log.info("fastagi.header_line_too_long")
            return None
        log.info("fastagi.too_many_header_lines")
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            if not self._source_allowed(writer.get_extra_info("peername")):
                return
            request = await self._read_request(reader)
            if request is None:
                return
            if self._secret is not None and not hmac.compare_digest(
                request.given_secret.encode(), self._secret.encode()
            ):
                log.warning("fastagi.wrong_secret", route=request.route)
                return
            handler = self.routes.get(request.route)
            if handler is None:
                log.warning("fastagi.unknown_script", script=request.route)
                return
            await handler(AgiSession(request, reader, writer, self.command_timeout))
        except (ConnectionError, AmiError) as exc:
            log.warning("fastagi.request_failed", error=str(exc))
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def takeover_route(
    callback: Callable[[TakeoverRequest], Awaitable[None] | None],
) -> AgiHandler:
    """The ``pay`` route: arguments are the peer channel and the optional amount (cents).

    Without a peer argument it asks Asterisk for ``BRIDGEPEER``. The AGI session is closed
    before ``callback`` runs, so the channel is back in the dialplan when payivr redirects it.
    """

    async def pay(session: AgiSession) -> None:
        arguments = session.request.arguments
        peer = arguments[0] if arguments else ""
        if not peer:
            peer = await session.get_variable("BRIDGEPEER") or ""
        amount = arguments[1] if len(arguments) > 1 else ""
        try:
            request = request_from_fields(
                session.request.channel, peer, amount, RequestSource.FASTAGI
            )
        except InvalidTakeoverRequest as exc:
            log.warning("fastagi.takeover_request_invalid", reason=exc.reason)
            return
        log.info(
            "fastagi.takeover_requested",
            agent=request.agent_channel,
            caller=request.caller_channel,
            key=request.key,
        )
        # Let the agent's channel leave AGI() before payivr redirects it.
        await session.close()
        result = callback(request)
        if result is not None:
            await result

    return pay
