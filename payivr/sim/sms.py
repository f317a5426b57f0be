"""A fake carrier in process: phones that receive payivr's texts and can reply.

Stands in for an SMS provider in tests and the demo. As a provider it is a
:class:`~payivr.sms.provider.SmsProvider` (``send``); it hands the phones' replies and
its delivery reports to payivr through the handler given to :meth:`SimulatedCarrier.connect`:
payivr's service directly, or :func:`webhook_forwarder`, which signs each event and POSTs
it to payivr's webhook like a real provider. :func:`carrier_app` serves the generic HTTP
provider's API, so :class:`~payivr.sms.http.HttpSmsProvider` can be pointed at it.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import aiohttp
import structlog
from aiohttp import web

from payivr.core.errors import PayivrError
from payivr.sms.http import encode_event, signed_headers
from payivr.sms.phone import InvalidPhoneNumber, parse_e164
from payivr.sms.provider import (
    DeliveryReport,
    DeliveryStatus,
    EventHandler,
    InboundMessage,
    ProviderEvent,
    SendFailed,
)
from payivr.store.models import Clock, utc_now

logger = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CarrierMessage:
    """A text the carrier accepted from payivr."""

    id: str
    to: str
    body: str
    idempotency_key: str
    accepted_at: datetime


@dataclass(frozen=True)
class PhoneText:
    """One text on a simulated phone's screen: ``received`` from payivr or ``sent`` to it."""

    direction: str
    body: str


@dataclass
class SimulatedPhone:
    number: str
    carrier: SimulatedCarrier = field(repr=False)
    inbox: list[str] = field(default_factory=list)
    thread: list[PhoneText] = field(default_factory=list, repr=False)

    @property
    def last(self) -> str | None:
        return self.inbox[-1] if self.inbox else None

    def received(self, body: str) -> None:
        self.inbox.append(body)
        self.thread.append(PhoneText("received", body))

    async def reply(self, body: str) -> str:
        """Text payivr; returns the carrier's id for the message."""
        self.thread.append(PhoneText("sent", body))
        return await self.carrier.deliver_inbound(self.number, body)


class SimulatedCarrier:
    """The fake carrier. ``unreachable`` numbers get a failed delivery report;
    ``outages`` makes the next N sends fail as retryable (a provider outage)."""

    def __init__(self, *, number: str = "+15550000000", clock: Clock = utc_now) -> None:
        self.number = number
        self._clock = clock
        self._phones: dict[str, SimulatedPhone] = {}
        self._by_key: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._handler: EventHandler | None = None
        self._reports: list[DeliveryReport] = []
        self.accepted: list[CarrierMessage] = []
        self.unreachable: set[str] = set()
        self.outages = 0

    def connect(self, handler: EventHandler) -> None:
        """Where replies and delivery reports go."""
        self._handler = handler

    def phone(self, number: str) -> SimulatedPhone:
        number = parse_e164(number)
        if number not in self._phones:
            self._phones[number] = SimulatedPhone(number, self)
        return self._phones[number]

    async def send(self, to: str, body: str, idempotency_key: str) -> str:
        if idempotency_key in self._by_key:
            return self._by_key[idempotency_key]
        if self.outages:
            self.outages -= 1
            raise SendFailed("the simulated carrier is down", retryable=True)
        try:
            number = parse_e164(to)
        except InvalidPhoneNumber:
            raise SendFailed("not a phone number", retryable=False) from None
        message_id = f"sim-{next(self._ids)}"
        self._by_key[idempotency_key] = message_id
        self.accepted.append(
            CarrierMessage(message_id, number, body, idempotency_key, self._clock())
        )
        if number in self.unreachable:
            self._reports.append(
                DeliveryReport(message_id, DeliveryStatus.FAILED, "the handset is unreachable")
            )
        else:
            self.phone(number).received(body)
            self._reports.append(DeliveryReport(message_id, DeliveryStatus.DELIVERED))
        return message_id

    async def deliver_inbound(self, from_number: str, body: str) -> str:
        message_id = f"sim-in-{next(self._ids)}"
        await self._emit(InboundMessage(message_id, from_number, self.number, body, self._clock()))
        return message_id

    async def flush_reports(self) -> int:
        """Hand over the delivery reports gathered since the last flush."""
        reports, self._reports = self._reports, []
        for report in reports:
            await self._emit(report)
        return len(reports)

    async def _emit(self, event: ProviderEvent) -> None:
        if self._handler is None:
            raise RuntimeError("the simulated carrier is not connected to payivr")
        await self._handler(event)

    async def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"<SimulatedCarrier phones={len(self._phones)} accepted={len(self.accepted)}>"


class WebhookRejected(PayivrError):
    """payivr answered a forwarded webhook with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(f"payivr answered the webhook with HTTP {status}")
        self.status = status


def webhook_forwarder(
    url: str, secret: str, session: aiohttp.ClientSession, *, clock: Clock = utc_now
) -> EventHandler:
    """An event handler that signs each event and POSTs it to payivr's webhook ``url``."""

    async def forward(event: ProviderEvent) -> None:
        body = encode_event(event)
        webhook_id = f"msg_{uuid.uuid4().hex}"
        headers = signed_headers(secret, webhook_id, int(clock().timestamp()), body)
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            if response.status >= 300:
                raise WebhookRejected(response.status)

    return forward


def carrier_app(carrier: SimulatedCarrier, token: str) -> web.Application:
    """The generic HTTP provider's API (``POST /messages``) in front of ``carrier``."""

    async def messages(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"error": "unauthorized"}, status=401)
        key = request.headers.get("Idempotency-Key", "")
        try:
            payload = await request.json()
        except ValueError:
            return web.json_response({"error": "not JSON"}, status=400)
        to, body = payload.get("to"), payload.get("body")
        if not key or not isinstance(to, str) or not isinstance(body, str):
            return web.json_response({"error": "to, body and Idempotency-Key needed"}, status=400)
        try:
            message_id = await carrier.send(to, body, key)
        except SendFailed as failed:
            return web.json_response(
                {"error": failed.reason}, status=503 if failed.retryable else 400
            )
        return web.json_response({"id": message_id}, status=201)

    app = web.Application()
    app.router.add_post("/messages", messages)
    return app
