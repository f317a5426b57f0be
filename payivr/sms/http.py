"""The generic HTTP SMS provider, and the signed webhooks it sends payivr.

Sending: ``POST {url}`` with ``Authorization: Bearer {token}``, ``Idempotency-Key`` and a
JSON body ``{"to", "from", "body"}``; a 2xx answer carries ``{"id": "<provider message
id>"}``. 408, 409 (a send with this key is in progress), 425, 429 and 5xx are retried
later with the same key; other 4xx are final.

Receiving: the provider POSTs events to payivr's ``/api/v1/sms/webhook``, signed as
Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``, the same
scheme payivr uses for its CRM webhooks) with a shared ``whsec_`` secret::

    {"type": "message.received",
     "data": {"id": "...", "from": "+15551230001", "to": "+15550000000", "body": "YES",
              "received_at": "2025-06-03T14:00:00Z"}}
    {"type": "message.status", "data": {"id": "...", "status": "delivered", "error": null}}

A timestamp outside the tolerance or a bad signature is refused (:class:`InvalidSignature`);
a webhook-id seen before is refused by the service (replay).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiohttp
import structlog

from payivr import jsontext
from payivr.core.errors import PayivrError
from payivr.sms.phone import InvalidPhoneNumber, parse_e164
from payivr.sms.provider import (
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    ProviderEvent,
    SendFailed,
)
from payivr.store.models import Clock, utc_now
from payivr.store.webhook import InvalidSignature, sign, verify

logger = structlog.get_logger(__name__)

RECEIVED = "message.received"
STATUS = "message.status"
MAX_WEBHOOK_BYTES = 16 * 1024
_RETRYABLE = frozenset({408, 409, 425, 429})


class BadWebhook(PayivrError):
    """A signed webhook whose content payivr cannot use (the provider broke it)."""


class HttpSmsProvider:
    """:class:`~payivr.sms.provider.SmsProvider` over the generic JSON API."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        sender: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._url = url
        self._token = token
        self._sender = sender
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout

    async def send(self, to: str, body: str, idempotency_key: str) -> str:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        payload: dict[str, Any] = {"to": to, "body": body}
        if self._sender:
            payload["from"] = self._sender
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Idempotency-Key": idempotency_key,
        }
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._session.post(
                    self._url, json=payload, headers=headers, allow_redirects=False
                ) as response,
            ):
                status = response.status
                answer = await response.read()
        except TimeoutError:
            raise SendFailed("the SMS provider did not answer in time", retryable=True) from None
        except (aiohttp.ClientError, OSError) as error:
            raise SendFailed(
                f"the SMS provider is unreachable ({type(error).__name__})", retryable=True
            ) from None
        if 200 <= status < 300:
            try:
                message_id = json.loads(answer)["id"]
            except (ValueError, KeyError, TypeError):
                message_id = None
            if not isinstance(message_id, str) or not 1 <= len(message_id) <= 200:
                raise SendFailed("the SMS provider's answer has no message id", retryable=False)
            return message_id
        retryable = status >= 500 or status in _RETRYABLE
        logger.warning("sms_provider_refused", status=status, retryable=retryable)
        raise SendFailed(f"the SMS provider answered HTTP {status}", retryable=retryable)

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def __repr__(self) -> str:
        return f"<HttpSmsProvider url={self._url!r}>"


# ------------------------------------------------------------------ webhooks


def encode_event(event: ProviderEvent) -> bytes:
    """The webhook body for ``event`` (what a provider, or the simulator, sends)."""
    data: dict[str, Any]
    if isinstance(event, InboundMessage):
        data = {
            "id": event.provider_message_id,
            "from": event.from_number,
            "to": event.to_number,
            "body": event.body,
            "received_at": event.received_at.isoformat() if event.received_at else None,
        }
        kind = RECEIVED
    else:
        data = {
            "id": event.provider_message_id,
            "status": event.status.value,
            "error": event.error,
        }
        kind = STATUS
    return json.dumps({"type": kind, "data": data}, ensure_ascii=False).encode()


def signed_headers(secret: str, webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
    }


class WebhookVerifier:
    """Checks and reads the provider's webhooks (signature and timestamp tolerance)."""

    def __init__(self, secret: str, *, tolerance: float = 300.0, clock: Clock = utc_now) -> None:
        sign(secret, "check", 0, b"")  # a malformed secret fails at start
        self._secret = secret
        self._clock = clock
        self.tolerance = tolerance

    def open(self, headers: Mapping[str, str], body: bytes) -> tuple[str, ProviderEvent]:
        """The webhook's id and event. Raises InvalidSignature, then BadWebhook."""
        if len(body) > MAX_WEBHOOK_BYTES:
            raise BadWebhook("the webhook body is too large")
        verify(self._secret, headers, body, now=self._clock(), tolerance=self.tolerance)
        webhook_id = {name.lower(): value for name, value in headers.items()}["webhook-id"]
        if not 1 <= len(webhook_id) <= 200:
            raise BadWebhook("the webhook-id must have 1 to 200 characters")
        return webhook_id, parse_event(body)


def parse_event(body: bytes) -> ProviderEvent:
    try:
        document = jsontext.loads(body)
    except jsontext.BadJson as bad:
        raise BadWebhook(f"the webhook body: {bad}") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), dict):
        raise BadWebhook("the webhook needs a type and a data object")
    data: dict[str, Any] = document["data"]
    message_id = data.get("id")
    if not isinstance(message_id, str) or not 1 <= len(message_id) <= 200:
        raise BadWebhook("data.id must be the provider's message id")
    kind = document.get("type")
    if kind == RECEIVED:
        body_text, sender = data.get("body"), data.get("from")
        if not isinstance(body_text, str) or len(body_text) > 1600:
            raise BadWebhook("data.body must be the text (at most 1600 characters)")
        if not isinstance(sender, str):
            raise BadWebhook("data.from must be the sender's number")
        try:
            from_number = parse_e164(sender)
        except InvalidPhoneNumber:
            raise BadWebhook("data.from is not an E.164 number") from None
        to_number = data.get("to")
        received_at = _timestamp(data.get("received_at"))
        return InboundMessage(
            message_id,
            from_number,
            to_number if isinstance(to_number, str) else None,
            body_text,
            received_at,
        )
    if kind == STATUS:
        try:
            status = DeliveryStatus(data.get("status"))
        except ValueError:
            raise BadWebhook("data.status must be sent, delivered or failed") from None
        error = data.get("error")
        return DeliveryReport(message_id, status, error[:200] if isinstance(error, str) else None)
    raise BadWebhook(f"unknown webhook type; expected {RECEIVED} or {STATUS}")


def _timestamp(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


__all__ = [
    "BadWebhook",
    "HttpSmsProvider",
    "InvalidSignature",
    "WebhookVerifier",
    "encode_event",
    "parse_event",
    "signed_headers",
]
