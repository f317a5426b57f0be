"""AMI framing, sans-IO: ``Key: Value`` lines ended by CRLF, a message ended by an empty line.

Used by the AMI simulator to read actions and write responses and events; the client side
uses panoramisk's parser, so the simulator is checked against a real third-party client.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from payivr.core.errors import RemoteError

EOL = "\r\n"
MAX_MESSAGE_BYTES = 64 * 1024


class AmiProtocolError(RemoteError):
    """The peer sent something that is not AMI (e.g. a message larger than we accept)."""


@dataclass(frozen=True)
class AmiMessage:
    """One AMI message: ordered headers; lookups are case-insensitive, like Asterisk's."""

    headers: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, *headers: tuple[str, str]) -> AmiMessage:
        return cls(tuple(headers))

    def get(self, key: str, default: str = "") -> str:
        folded = key.casefold()
        for name, value in self.headers:
            if name.casefold() == folded:
                return value
        return default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and any(n.casefold() == key.casefold() for n, _ in self.headers)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)

    def encode(self) -> bytes:
        return encode_message(self.headers)


def encode_message(headers: Iterable[tuple[str, str]]) -> bytes:
    return ("".join(f"{name}: {value}{EOL}" for name, value in headers) + EOL).encode()


class AmiParser:
    """Feed bytes, get whole messages. Accepts LF as well as CRLF, as Asterisk does."""

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = b""
        self._max = max_message_bytes

    def feed(self, data: bytes) -> list[AmiMessage]:
        self._buffer += data
        messages: list[AmiMessage] = []
        while True:
            text = self._buffer.replace(b"\r\n", b"\n")
            end = text.find(b"\n\n")
            if end < 0:
                if len(self._buffer) > self._max:
                    raise AmiProtocolError(f"message longer than {self._max} bytes")
                return messages
            block, rest = text[:end], text[end + 2 :]
            self._buffer = rest
            if len(block) > self._max:
                raise AmiProtocolError(f"message longer than {self._max} bytes")
            headers = []
            for line in block.decode("utf-8", "replace").split("\n"):
                name, sep, value = line.partition(":")
                if sep:
                    headers.append((name.strip(), value.strip()))
            if headers:
                messages.append(AmiMessage(tuple(headers)))
