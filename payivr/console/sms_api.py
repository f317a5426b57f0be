"""``/api/v1`` for pay by text and reminders, and the SMS provider's webhook.

Same authorization as the rest of the API: an agent asks for and sees their own text
payments and reminders; a supervisor sees everyone's; another agent's answers 404. The
webhook is not signed in: it is verified by its Standard Webhooks signature instead, and
a webhook-id is taken once (a replay answers 409). Without SMS configured, every route
answers 404 ``sms_disabled`` (the feature is not there; not a server fault).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import structlog
from aiohttp import web

from payivr.console.context import (
    OptionalService,
    console_of,
    optional_string,
    request_caller,
)
from payivr.console.security import ApiError, Caller, origin_of
from payivr.core.amounts import format_minor
from payivr.core.prompts import CURRENCIES
from payivr.sms.http import BadWebhook
from payivr.sms.service import (
    CardLookupsExhausted,
    ReminderExists,
    ReminderRequest,
    SmsRefused,
    SmsService,
    TextPaymentRequest,
    WebhookReplayed,
    parse_amount,
)
from payivr.sms.store import Reminder, SmsMessage, TextPayment
from payivr.store.errors import PaymentNotFound
from payivr.store.models import Origin
from payivr.store.webhook import InvalidSignature

log = structlog.get_logger(__name__)

TEXTING = OptionalService(
    "sms", SmsService, "sms_disabled", "texting is not configured on this payivr ([sms])"
)


def install(app: web.Application, sms: SmsService | None) -> None:
    TEXTING.install(app, sms, route_table())


# ------------------------------------------------------------------ JSON shapes


def message_json(message: SmsMessage) -> dict[str, Any]:
    return {
        "direction": message.direction,
        "kind": message.kind.value,
        "body": message.body,
        "status": message.status.value,
        "at": message.created_at.isoformat(),
    }


def _charge_json(charge: TextPayment | Reminder) -> dict[str, Any]:
    """What a text payment and a reminder both tell: whom, from which agent, what and how much."""
    return {
        "customer": charge.customer,
        "phone": charge.phone,
        "agent": charge.agent,
        "item": charge.item,
        "amount_minor": charge.amount_minor,
        "amount": format_minor(charge.amount_minor, charge.currency),
        "currency": charge.currency,
    }


def text_payment_json(
    payment: TextPayment, messages: list[SmsMessage] | None = None, *, opted_out: bool = False
) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": str(payment.id),
        "status_url": f"/api/v1/text-payments/{payment.id}",
        "payment_url": f"/api/v1/payments/{payment.id}",
        **_charge_json(payment),
        "card": str(payment.card) if payment.card else None,
        "state": payment.state.value,
        "expires_at": payment.expires_at.isoformat(),
        "transaction_id": payment.gateway_reference,
        "reason": payment.reason,
        "created_at": payment.created_at.isoformat(),
        "finished_at": payment.finished_at.isoformat() if payment.finished_at else None,
        "opted_out": opted_out,
    }
    if messages is not None:
        shown["messages"] = [message_json(message) for message in messages]
    return shown


def reminder_json(reminder: Reminder, *, opted_out: bool = False) -> dict[str, Any]:
    return {
        "id": str(reminder.id),
        **_charge_json(reminder),
        "due_date": reminder.due_date.isoformat(),
        "time_zone": reminder.time_zone,
        "send_on": reminder.send_on.isoformat(),
        "send_at": reminder.send_at.isoformat(),
        "offer_pay_by_text": reminder.offer_pay_by_text,
        "status": reminder.status.value,
        "sent_at": reminder.sent_at.isoformat() if reminder.sent_at else None,
        "opted_out": opted_out,
    }


# ------------------------------------------------------------------ requests


def _text(body: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = optional_string(body, name, limit)
    if value is None or not value.strip():
        if required:
            raise SmsRefused(f"{name} is missing")
        return ""
    return value


def _amount(request: web.Request, body: dict[str, Any]) -> tuple[int, str]:
    console = console_of(request)
    currency = body.get("currency", console.currency)
    if not isinstance(currency, str) or currency not in CURRENCIES:
        raise SmsRefused(f"the currency must be one of {', '.join(sorted(CURRENCIES))}")
    if "amount" not in body:
        raise SmsRefused("amount is missing")
    # The maximum is the text service's check (payivr.core.amounts), as for reminders' PAY.
    return parse_amount(body["amount"], currency), currency


async def _refused(
    request: web.Request, caller: Caller, action: str, refused: SmsRefused
) -> ApiError:
    await console_of(request).audit(
        caller.account.name, action, False, request, "sms", detail=refused.message
    )
    if isinstance(refused, CardLookupsExhausted):
        return ApiError(429, "too_many_lookups", refused.message)
    if isinstance(refused, ReminderExists):
        return ApiError(409, "reminder_exists", refused.message)
    if refused.conflict:
        return ApiError(409, "sms_refused", refused.message)
    return ApiError(422, "invalid_request", refused.message)


async def request_text_payment(request: web.Request) -> web.Response:
    caller, sms, body = await TEXTING.posted(request)
    try:
        amount_minor, currency = _amount(request, body)
        payment = await sms.request_text_payment(
            TextPaymentRequest(
                customer=_text(body, "customer", 200),
                phone=_text(body, "phone", 32),
                amount_minor=amount_minor,
                currency=currency,
                item=_text(body, "item", 200),
                agent=caller.account.name,
            ),
            origin=Origin.ip(origin_of(request)),
        )
    except SmsRefused as refused:
        raise await _refused(request, caller, "text_payment.request", refused) from None
    log.info("text_payment_requested_from_console", via=caller.via)
    return web.json_response(text_payment_json(payment), status=201)


async def list_text_payments(request: web.Request) -> web.Response:
    sms, agent, limit = await TEXTING.listing(request)
    payments = await sms.store.list_text_payments(agent=agent, limit=limit)
    messages = await sms.store.messages_for_all([p.id for p in payments])
    opted_out = await sms.store.opted_out_among([p.phone for p in payments])
    shown = [text_payment_json(p, messages[p.id], opted_out=p.phone in opted_out) for p in payments]
    return web.json_response({"text_payments": shown})


async def text_payment_status(request: web.Request) -> web.Response:
    caller = await request_caller(request)
    sms = TEXTING.of(request)
    try:
        payment_id = uuid.UUID(request.match_info["text_payment_id"])
        payment = await sms.store.text_payment(payment_id)
        if payment is None:
            raise PaymentNotFound(payment_id)
    except (ValueError, PaymentNotFound):
        raise ApiError(404, "unknown_text_payment", "there is no such text payment") from None
    if not caller.account.is_supervisor and payment.agent != caller.account.name:
        await console_of(request).audit(
            caller.account.name,
            "text_payment.denied",
            False,
            request,
            f"text_payment:{payment.id}",
            payment_id=str(payment.id),
        )
        raise ApiError(404, "unknown_text_payment", "there is no such text payment")
    messages = await sms.store.messages_for(payment.id)
    opted_out = await sms.store.is_opted_out(payment.phone)
    return web.json_response(text_payment_json(payment, messages, opted_out=opted_out))


async def schedule_reminder(request: web.Request) -> web.Response:
    caller, sms, body = await TEXTING.posted(request)
    try:
        amount_minor, currency = _amount(request, body)
        try:
            due = date.fromisoformat(_text(body, "due_date", 10))
        except ValueError:
            raise SmsRefused("due_date must be a date like 2025-07-01") from None
        offer = body.get("offer_pay_by_text", False)
        if not isinstance(offer, bool):
            raise SmsRefused("offer_pay_by_text must be true or false")
        send_now = body.get("send_now", False)
        if not isinstance(send_now, bool):
            raise SmsRefused("send_now must be true or false")
        reminder = await sms.schedule_reminder(
            ReminderRequest(
                customer=_text(body, "customer", 200),
                phone=_text(body, "phone", 32),
                amount_minor=amount_minor,
                currency=currency,
                due_date=due,
                agent=caller.account.name,
                item=_text(body, "item", 200, required=False) or "your bill",
                time_zone=_text(body, "time_zone", 64, required=False) or None,
                offer_pay_by_text=offer,
                send_now=send_now,
            ),
            origin=Origin.ip(origin_of(request)),
        )
    except SmsRefused as refused:
        raise await _refused(request, caller, "reminder.schedule", refused) from None
    return web.json_response(reminder_json(reminder), status=201)


async def list_reminders(request: web.Request) -> web.Response:
    sms, agent, limit = await TEXTING.listing(request)
    reminders = await sms.store.list_reminders(agent=agent, limit=limit)
    opted_out = await sms.store.opted_out_among([r.phone for r in reminders])
    shown = [reminder_json(r, opted_out=r.phone in opted_out) for r in reminders]
    return web.json_response({"reminders": shown})


async def texting_status(request: web.Request) -> web.Response:
    """Whether texting is on (the console shows its Texts view only then)."""
    await request_caller(request)
    return web.json_response({"enabled": TEXTING.key in request.app})


async def card_on_file(request: web.Request) -> web.Response:
    """The card a text payment would charge, as brand and last four (never more)."""
    caller = await request_caller(request)
    sms = TEXTING.of(request)
    try:
        card = await sms.card_for(
            request.query.get("customer", ""),
            request.query.get("phone", ""),
            actor=caller.account.name,
            origin=Origin.ip(origin_of(request)),
        )
    except SmsRefused as refused:
        raise await _refused(request, caller, "card_on_file.look_up", refused) from None
    return web.json_response({"card": str(card) if card else None})


async def provider_webhook(request: web.Request) -> web.Response:
    sms = TEXTING.of(request)
    if sms.verifier is None:
        raise ApiError(404, "sms_disabled", "no SMS webhook secret is configured")
    body = await request.read()
    try:
        await sms.receive_webhook(request.headers, body)
    except InvalidSignature:
        log.warning("sms_webhook_refused", reason="signature")
        raise ApiError(401, "bad_signature", "the webhook signature does not verify") from None
    except BadWebhook as bad:
        raise ApiError(400, "bad_webhook", str(bad)) from None
    except WebhookReplayed:
        raise ApiError(409, "replayed", "this webhook-id was received before") from None
    return web.json_response({"received": True})


def route_table() -> list[web.RouteDef]:
    return [
        web.post("/api/v1/text-payments", request_text_payment),
        web.get("/api/v1/text-payments", list_text_payments),
        web.get("/api/v1/text-payments/{text_payment_id}", text_payment_status),
        web.post("/api/v1/reminders", schedule_reminder),
        web.get("/api/v1/reminders", list_reminders),
        web.post("/api/v1/sms/webhook", provider_webhook),
        web.get("/api/v1/sms/status", texting_status),
        web.get("/api/v1/cards-on-file", card_on_file),
    ]

