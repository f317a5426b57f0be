"""Exceptions raised by the ARI client.

As in h11, errors are split by who broke it:

- `RequestError` (4xx): Asterisk refused what we asked. Either our request is wrong or, far more
  often in telephony, the world moved on (the caller hung up, the channel left Stasis).
- `PeerError` (5xx, connection refused/reset, timeouts): Asterisk or the network failed.
- `StartupError`: `AriClient.check_api()` found ARI unusable; each cause has its own class and a
  message an operator can act on.

Messages carry the method, the path (ids only) and Asterisk's own message; never a query string,
a request body or credentials, so DTMF strings and media lists cannot leak through an exception.
"""

from __future__ import annotations

import re

from payivr.core.errors import LocalError, PayivrError, RemoteError

_MAX_MESSAGE = 200


class AriError(PayivrError):
    """Base of every error the ARI client raises."""

    def __init__(self, message: str, *, status: int | None = None, method: str = "",
                 path: str = "") -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        where = f"{method} {path}: " if method else ""
        code = f"{status} " if status is not None else ""
        super().__init__(f"{where}{code}{message}")


class RequestError(AriError, LocalError):
    """Asterisk answered 4xx: "we broke it" (or the call moved on under us)."""


class BadRequest(RequestError):
    """400: invalid parameters (Asterisk also answers 400 for an unknown channel on addChannel)."""


class Unauthorized(RequestError):
    """401: the ARI user or password is wrong."""


class Forbidden(RequestError):
    """403: the ARI user may not do this (e.g. a read-only user)."""


class NotFound(RequestError):
    """404: the channel, bridge, playback or application does not exist (any more)."""


class Conflict(RequestError):
    """409: the object is in the wrong state (already exists, not in Stasis, recording...)."""


class NotInStasis(Conflict):
    """409 on a channel operation: the channel is not (or no longer) in a Stasis application."""


class InvalidState(RequestError):
    """412: the channel is in a state that does not allow this (e.g. not answered yet)."""


class Unprocessable(RequestError):
    """422: e.g. addChannel for a channel not in Stasis, removeChannel for one not in the bridge."""


class ChannelGone(RequestError):
    """The channel no longer exists: callers treat this as a hangup, never as a crash.

    Raised as `ChannelNotFound` (404 on /channels/{id}...) or as `ChannelNotFoundInBridge`
    (the 400 "Channel not found" Asterisk answers on addChannel/removeChannel); catch this class.
    """


class ChannelNotFound(NotFound, ChannelGone):
    """404 on a /channels/{channelId} path."""


class ChannelNotFoundInBridge(BadRequest, ChannelGone):
    """400 "Channel not found" on /bridges/{bridgeId}/addChannel or removeChannel."""


class PeerError(AriError, RemoteError):
    """Asterisk or the network failed: "the peer broke it"."""


class ServerError(PeerError):
    """5xx (e.g. 500 "Could not stop playback" while a media list keeps playing)."""


class ConnectionFailed(PeerError):
    """No answer at all: connection refused or reset, or the request timed out."""


class StartupError(AriError):
    """`check_api()` found ARI unusable; the message says what to fix."""


class AriUnreachable(StartupError):
    """Nothing answers at the ARI URL (connection refused, DNS failure, timeout)."""


class AriDisabled(StartupError):
    """The HTTP server answers but /ari does not exist (res_ari not loaded or not enabled)."""


class BadCredentials(StartupError):
    """ARI rejected the configured user name or password."""


class IncompatibleAsterisk(StartupError):
    """The Asterisk ARI lacks a resource, operation or parameter payivr needs."""


_CHANNEL_PATH = re.compile(r"^/channels/[^/]+(/.*)?$")
_BRIDGE_MEMBERSHIP_PATH = re.compile(r"^/bridges/[^/]+/(addChannel|removeChannel)$")
_ORIGINATE_PATH = re.compile(r"^/channels(/[^/]+)?$")


def error_for_status(status: int, message: str, *, method: str, path: str) -> AriError:
    """Map an HTTP error answer of Asterisk to the matching exception.

    `path` is relative to /ari (e.g. ``/channels/abc/answer``) and never holds a query string.
    """
    message = _shorten(message)
    kind: type[AriError]
    if status >= 500:
        kind = ServerError
    elif status == 400:
        if _BRIDGE_MEMBERSHIP_PATH.match(path) and message.lower() == "channel not found":
            kind = ChannelNotFoundInBridge
        else:
            kind = BadRequest
    elif status == 401:
        kind = Unauthorized
    elif status == 403:
        kind = Forbidden
    elif status == 404:
        kind = ChannelNotFound if _CHANNEL_PATH.match(path) else NotFound
    elif status == 409:
        # 409 on originate means "a channel with this id exists"; elsewhere on a channel it
        # means the channel is not in Stasis.
        originate = method == "POST" and _ORIGINATE_PATH.match(path)
        kind = NotInStasis if _CHANNEL_PATH.match(path) and not originate else Conflict
    elif status == 412:
        kind = InvalidState
    elif status == 422:
        kind = Unprocessable
    elif 400 <= status < 500:
        kind = RequestError
    else:
        kind = PeerError
    return kind(message, status=status, method=method, path=path)


def _shorten(message: str) -> str:
    message = " ".join(message.split())
    if len(message) > _MAX_MESSAGE:
        return message[: _MAX_MESSAGE - 3] + "..."
    return message
