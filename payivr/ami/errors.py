"""AMI and FastAGI errors: what Asterisk or the network did, versus bad requests we received."""

from __future__ import annotations

from payivr.core.errors import PayivrError


class AmiError(PayivrError):
    """Base of every error raised by ``payivr.ami``."""


class AmiConnectionError(AmiError):
    """Asterisk cannot be reached, or the connection dropped before an answer."""


class AmiTimeout(AmiError):
    """Asterisk did not answer in time."""


class AmiLoginFailed(AmiError):
    """Asterisk rejected the AMI username/secret: fix manager.conf or payivr's config."""


class AmiActionError(AmiError):
    """Asterisk answered an action with ``Response: Error``."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"AMI {action} failed: {message}")
        self.action = action
        self.message = message


class InvalidTakeoverRequest(AmiError):
    """A PayIVRRequest (UserEvent or FastAGI) that does not name a two-party call.

    ``reason`` says what is wrong without any value taken from the request (channel names and
    amounts can hold digits): it is what gets logged.
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message
