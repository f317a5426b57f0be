"""Request signatures in the Standard Webhooks format.

``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``. Secrets are
given as ``whsec_<base64>`` (as Standard Webhooks does) or as plain text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from payivr.core.errors import PayivrError

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
DEFAULT_TOLERANCE_SECONDS = 5 * 60


class SignatureError(PayivrError, ValueError):
    """The request's signature headers are missing, stale or wrong."""


def decode_secret(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        key = secret
    elif secret.startswith("whsec_"):
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    else:
        key = secret.encode("utf-8")
    if len(key) < 16:
        raise ValueError("the signing secret must be at least 16 bytes")
    return key


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class Signer:
    key: bytes
    clock: Callable[[], float]

    def headers(self, body: bytes) -> dict[str, str]:
        message_id = "msg_" + secrets.token_hex(12)
        timestamp = int(self.clock())
        return {
            ID_HEADER: message_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: _sign(self.key, message_id, timestamp, body),
        }


def verify(
    key: bytes,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """The message id of a correctly signed, fresh request; :class:`SignatureError` if not."""
    message_id = headers.get(ID_HEADER)
    timestamp_text = headers.get(TIMESTAMP_HEADER)
    signatures = headers.get(SIGNATURE_HEADER)
    if not message_id or not timestamp_text or not signatures:
        raise SignatureError("missing signature headers")
    try:
        timestamp = int(timestamp_text)
    except ValueError as exc:
        raise SignatureError("bad timestamp") from exc
    if abs(now - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance")
    expected = _sign(key, message_id, timestamp, body)
    # Several space-separated signatures are allowed (secret rotation).
    if not any(hmac.compare_digest(expected, given) for given in signatures.split(" ")):
        raise SignatureError("signature mismatch")
    return message_id
