"""The generic CRM adapter: a signed webhook per Standard Webhooks.

Headers ``webhook-id`` (the outbox row id, stable across retries), ``webhook-timestamp``
and ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed with
the base64 part of a ``whsec_`` secret. The HTTP transport is injected as a ``send``
callable so tests and the benchmark need no network beyond 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp

from payivr.core.errors import PayivrError
from payivr.retry_after import retry_after_seconds
from payivr.standard_webhooks import SECRET_PREFIX, signature, signature_matches
from payivr.store.crm import Delivered, Delivery, DeliveryResult, EndpointGone, RetryLater
from payivr.store.models import Clock, utc_now

EVENT_TYPE = "payment.activity"


class InvalidSignature(PayivrError):
    """A webhook's signature or timestamp did not verify (the sender broke it)."""


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class WebhookResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)


Send = Callable[[WebhookRequest], Awaitable[WebhookResponse]]


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook secret must start with whsec_")
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one message."""
    return signature(_key(secret), message_id, timestamp, body)


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime | None = None,
    tolerance: float = 300.0,
) -> None:
    """Check a received webhook (what a CRM receiver does); raise InvalidSignature."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        signatures = lowered["webhook-signature"]
    except (KeyError, ValueError):
        raise InvalidSignature("missing or malformed webhook headers") from None
    current = (now or utc_now()).timestamp()
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("webhook timestamp outside tolerance")
    if not signature_matches(sign(secret, message_id, timestamp, body), signatures):
        raise InvalidSignature("no matching signature")


def encode_body(delivery: Delivery) -> bytes:
    """The same bytes on every attempt: the envelope holds the row's creation time."""
    envelope = {
        "type": EVENT_TYPE,
        "timestamp": delivery.created_at.astimezone(UTC).isoformat(),
        "data": delivery.activity,
    }
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


class WebhookAdapter:
    """Posts activities to one URL, signed with one ``whsec_`` secret."""

    def __init__(
        self,
        name: str,
        url: str,
        secret: str,
        send: Send,
        *,
        clock: Clock = utc_now,
    ) -> None:
        _key(secret)  # fail at start on a malformed secret, not at the first delivery
        self._name = name
        self._url = url
        self._secret = secret
        self._send = send
        self._clock = clock

    @property
    def name(self) -> str:
        return self._name

    def build_request(self, delivery: Delivery) -> WebhookRequest:
        body = encode_body(delivery)
        message_id = str(delivery.message_id)
        timestamp = int(self._clock().timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._secret, message_id, timestamp, body),
        }
        return WebhookRequest(self._url, headers, body)

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        try:
            response = await self._send(self.build_request(delivery))
        except (aiohttp.ClientError, OSError) as error:
            return RetryLater(f"transport error {type(error).__name__}")
        except TimeoutError:
            return RetryLater("timeout")
        status = response.status
        if 200 <= status < 300:
            return Delivered(status)
        if status == 410:
            return EndpointGone("http 410")
        retry_after = None
        if status in (429, 503):
            lowered = {name.lower(): value for name, value in response.headers.items()}
            retry_after = retry_after_seconds(lowered.get("retry-after"), self._clock())
        return RetryLater(f"http {status}", retry_after)

    def __repr__(self) -> str:
        return f"<WebhookAdapter name={self._name!r}>"


def aiohttp_send(session: aiohttp.ClientSession, *, timeout: float = 10.0) -> Send:
    """A ``send`` over an aiohttp session (the session's owner closes it)."""
    client_timeout = aiohttp.ClientTimeout(total=timeout)

    async def send(request: WebhookRequest) -> WebhookResponse:
        async with (
            asyncio.timeout(timeout),
            session.post(
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=client_timeout,
                allow_redirects=False,
            ) as response,
        ):
            await response.read()
            return WebhookResponse(response.status, dict(response.headers))

    return send
