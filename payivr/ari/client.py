"""A thin asyncio client for the Asterisk REST Interface (ARI), on aiohttp.

    async with AriClient("http://127.0.0.1:8088", "payivr", secret) as ari:
        await ari.check_api()
        await ari.channels.answer(channel_id)
        await ari.channels.play(channel_id, [media.sound("payivr/en/welcome")], playback_id="pb-1")

Each method sends one request and returns a frozen dataclass from `payivr.ari.models` (or
`None` for Asterisk's 204). Failures raise the exceptions of `payivr.ari.errors`.

The connection pool is bounded (20 by default): Asterisk's HTTP server drops connections beyond
`sessionlimit` (http.conf, default 100, WebSockets included), and aiohttp's default pool of 100
was seen failing under load where 20 worked. The event WebSocket uses its own connection.

Only the method and the path (ids) are ever logged or put in exceptions: query strings carry
DTMF strings and media lists, so they stay out of logs.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog
from yarl import URL

from payivr.ari import operations as ops
from payivr.ari.apicheck import check_api
from payivr.ari.errors import AriError, ConnectionFailed, PeerError, error_for_status
from payivr.ari.operations import Operation
from payivr.ari.resources import (
    DEFAULT_BRIDGE_TYPE,
    Applications,
    AsteriskResource,
    Bridges,
    Channels,
    Direction,
    HangupReason,
    Playbacks,
)

log = structlog.get_logger(__name__)

DEFAULT_POOL_LIMIT = 20

Params = Mapping[str, str | int | bool | Sequence[str] | None]
RequestObserver = Callable[[str, tuple[str, ...]], None]
"""Told ``(method, path segments)`` just before each request goes out (for measurements).
Ids only, as in the logs: the query string, which can carry DTMF or media, is not passed."""


def ari_base_url(url: str) -> URL:
    """Normalise a configured ARI URL (``http://host:8088`` or ``.../ari``) to ``.../ari``.

    Credentials in the URL are refused: they belong in the Basic auth header, never in a URL
    that can end up in a log. The error message does not repeat the URL for that reason.
    """
    parsed = URL(url)
    if parsed.user is not None or parsed.password is not None:
        raise ValueError("the ARI URL must not contain credentials; set the user and password "
                         "separately")
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"the ARI URL must be http:// or https:// with a host, got {url!r}")
    if parsed.query_string or parsed.fragment:
        raise ValueError("the ARI URL must not have a query string or fragment")
    path = parsed.path.rstrip("/")
    if not path.endswith("/ari"):
        path += "/ari"
    return parsed.with_path(path)


def _basic_auth(username: str, password: str) -> str:
    if ":" in username:
        raise ValueError("the ARI user name must not contain ':'")
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


# Characters no part of a URL needs quoted (RFC 3986's unreserved): ids and names made of
# them (channel and playback ids, the common case) are used as they are.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")


def _segment(value: str) -> str:
    if _UNRESERVED.fullmatch(value):
        return value
    if not value or "/" in value:
        raise ValueError("an ARI id must be non-empty and contain no '/'")
    return _quoted_segment(value)


@functools.lru_cache(maxsize=4096)
def _quoted_segment(value: str) -> str:
    return quote(value, safe=";:@!$&'()*+,=-._~")


@functools.lru_cache(maxsize=4096)
def _quoted_query_part(value: str, safe: str) -> str:
    """``quote``, remembered: a call's ids, media URIs and names recur in request after
    request, and quoting them again was a visible share of each request's CPU."""
    return quote(value, safe=safe)


def _query_value(value: str | int | bool | Sequence[str]) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    return ",".join(value)


def _query_part(value: str, safe: str) -> str:
    return value if _UNRESERVED.fullmatch(value) else _quoted_query_part(value, safe)


def _query(params: Params | None) -> str:
    if not params:
        return ""
    return "&".join(
        f"{_query_part(key, '')}={_query_part(_query_value(value), ',:')}"
        for key, value in params.items()
        if value is not None
    )


class AriClient:
    """REST side of ARI. Use as an async context manager, or call `close()` when done."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        pool_limit: int = DEFAULT_POOL_LIMIT,
        request_timeout: float = 10.0,
        connect_timeout: float = 5.0,
    ) -> None:
        if pool_limit < 1:
            raise ValueError("pool_limit must be at least 1")
        self.base_url = ari_base_url(url)
        self._base = str(self.base_url)
        self.username = username
        self._authorization = _basic_auth(username, password)
        self.pool_limit = pool_limit
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        self.channels = Channels(self)
        self.bridges = Bridges(self)
        self.playbacks = Playbacks(self)
        self.applications = Applications(self)
        self.asterisk = AsteriskResource(self)
        self._request_observers: list[RequestObserver] = []

    def __repr__(self) -> str:
        return f"AriClient({str(self.base_url)!r}, user={self.username!r})"

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def authorization(self) -> str:
        """The Basic auth header value (for the event WebSocket)."""
        return self._authorization

    def add_request_observer(self, observer: RequestObserver) -> Callable[[], None]:
        """Call ``observer`` before every request (it must be quick and must not raise);
        returns a function that removes it."""
        self._request_observers.append(observer)
        return lambda: self._request_observers.remove(observer)

    def events_url(self, app: str, *, subscribe_all: bool = False) -> URL:
        """The event WebSocket URL for `app`: no credentials in it, by design."""
        scheme = "wss" if self.base_url.scheme == "https" else "ws"
        query = _query({"app": app, "subscribeAll": subscribe_all})
        path = "/".join(ops.EVENTS.segments())
        return URL(f"{self.base_url.with_scheme(scheme)}/{path}?{query}", encoded=True)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.pool_limit),
                headers={"Authorization": self._authorization},
                # sock_connect, not connect: aiohttp's `connect` also counts the wait for a
                # free connection of the bounded pool, so a burst failed after 5 s in the queue.
                timeout=aiohttp.ClientTimeout(total=self.request_timeout,
                                              sock_connect=self.connect_timeout),
                raise_for_status=False,
            )
        return self._session

    async def request(
        self,
        method: str,
        *segments: str,
        params: Params | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one ARI request; return the decoded JSON body (None for an empty answer).

        `segments` are the path parts below /ari, ids unquoted (``"channels", channel_id``).
        """
        for observer in self._request_observers:
            observer(method, segments)
        path = "/" + "/".join(_segment(s) for s in segments)
        return await self._request(method, path, "/" + "/".join(segments), params, body)

    async def _request(
        self,
        method: str,
        path: str,
        logged_path: str,
        params: Params | None,
        body: Mapping[str, Any] | None,
    ) -> Any:
        """:meth:`request` once the path is made: ``path`` quoted, ``logged_path`` as is."""
        query = _query(params)
        url = URL(f"{self._base}{path}?{query}" if query else f"{self._base}{path}", encoded=True)
        started = time.monotonic()
        try:
            async with self._http().request(method, url, json=body) as response:
                status = response.status
                # Bytes: ARI's answers are JSON (UTF-8), which json.loads reads as they are;
                # text() would work out a charset for each answer.
                answer = await response.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("ari.request_failed", method=method, path=logged_path,
                        error=type(exc).__name__)
            raise ConnectionFailed(_connection_error_text(exc), method=method,
                                   path=logged_path) from None
        elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        log.debug("ari.request", method=method, path=logged_path, status=status, ms=elapsed_ms)
        if status >= 400:
            raise error_for_status(status, _error_message(answer, status), method=method,
                                   path=logged_path)
        if not answer.strip():
            return None
        try:
            return json.loads(answer)
        except ValueError:
            raise PeerError("answer is not JSON", status=status, method=method,
                            path=logged_path) from None

    async def send(
        self,
        operation: Operation,
        *ids: str,
        params: Params | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one of :data:`~payivr.ari.operations.OPERATIONS` with ``ids`` in its path.

        A parameter the operation does not name is our bug, never sent: the start-up check
        verified exactly the operation's parameters against Asterisk's api-docs.
        """
        accepted = operation.accepted
        if (params and not accepted.issuperset(params)) or (
            body and not accepted.issuperset(body)
        ):
            unknown = (set(params or ()) | set(body or ())) - accepted
            raise ValueError(
                f"{operation.method} {operation.path} has no parameter {sorted(unknown)}"
            )
        method = operation.method
        if self._request_observers:
            segments = operation.segments(*ids)
            for observer in self._request_observers:
                observer(method, segments)
        pieces = operation.pieces
        if len(pieces) != len(ids) + 1:
            raise ValueError(f"{method} {operation.path} takes {len(pieces) - 1} ids, not {len(ids)}")
        quoted, plain = [pieces[0]], [pieces[0]]
        for value, piece in zip(ids, pieces[1:], strict=True):
            quoted += (_segment(value), piece)
            plain += (value, piece)
        return await self._request(method, "".join(quoted), "".join(plain), params, body)

    async def get_json(self, *segments: str, params: Params | None = None) -> Any:
        return await self.request("GET", *segments, params=params)

    async def check_api(self) -> None:
        """Check, before serving calls, that ARI is reachable and offers what payivr uses.

        Raises `AriUnreachable`, `AriDisabled`, `BadCredentials` or `IncompatibleAsterisk`
        (all `StartupError`) with a message that names what to fix.
        """
        await check_api(self)


def _error_message(answer: bytes, status: int) -> str:
    """Asterisk's error text: ``{"message": ...}`` from ARI, ``{"error": ...}`` from http.c."""
    try:
        data = json.loads(answer)
    except ValueError:
        data = None
    if isinstance(data, Mapping):
        for key in ("message", "error"):
            if isinstance(data.get(key), str):
                return str(data[key])
    # Not JSON (e.g. the HTML 404 page when ARI is disabled): the reason phrase is enough.
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "HTTP error"


def _connection_error_text(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        return f"cannot connect to {exc.host}:{exc.port} ({reason})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server disconnected"
    return f"connection failed ({type(exc).__name__})"

__all__ = [
    "DEFAULT_BRIDGE_TYPE",
    "DEFAULT_POOL_LIMIT",
    "AriClient",
    "AriError",
    "Direction",
    "HangupReason",
    "ari_base_url",
]
