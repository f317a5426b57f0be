"""Standard Webhooks signatures (https://www.standardwebhooks.com), which payivr uses three
ways: its requests to the encrypted gateway, its CRM webhook, and the SMS provider's webhooks.

``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature: v1,<base64
HMAC-SHA256 of "{id}.{timestamp}.{body}">``; several space-separated signatures may be given
(secret rotation). Secrets are written ``whsec_<base64>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    """32 random bytes as ``whsec_<base64>``."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of one message."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signature_matches(expected: str, header: str) -> bool:
    """Whether any of the space-separated signatures in ``header`` is ``expected``."""
    return any(hmac.compare_digest(expected, given) for given in header.split())
