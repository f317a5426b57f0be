"""The encrypted gateway's request signatures (:mod:`payivr.standard_webhooks`). Its
secret is given as ``whsec_<base64>`` or as plain text."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from payivr.core.errors import PayivrError
from payivr.standard_webhooks import SECRET_PREFIX, signature, signature_matches

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
DEFAULT_TOLERANCE_SECONDS = 5 * 60


class SignatureError(PayivrError, ValueError):
    """The request's signature headers are missing, stale or wrong."""


def decode_secret(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        key = secret
    elif secret.startswith(SECRET_PREFIX):
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    else:
        key = secret.encode("utf-8")
    if len(key) < 16:
        raise ValueError("the signing secret must be at least 16 bytes")
    return key


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
            SIGNATURE_HEADER: signature(self.key, message_id, timestamp, body),
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
    if not signature_matches(signature(key, message_id, timestamp, body), signatures):
        raise SignatureError("signature mismatch")
    return message_id
