"""The OpenAPI description of pay by text and reminders (the handlers are in
:mod:`payivr.console.sms_api`)."""

from __future__ import annotations

from typing import Any

from payivr.console.openapi_parts import (
    COMMON_ERRORS,
    DATE_TIME,
    NULLABLE_STRING,
    error_responses,
    id_parameter,
    json_body,
    json_content,
    operation,
    own_listing,
    schema_ref,
)
from payivr.core.prompts import CURRENCIES

_ERRORS = {
    **COMMON_ERRORS,
    400: "The body is not valid JSON (or, for the webhook, not a provider event).",
    401: "Not signed in, or the API token (webhook: the signature) is not valid.",
    403: "CSRF token missing or another site.",
    404: "Texting is not configured (code sms_disabled), or no such text payment (another"
    " agent's counts as none).",
    409: "Refused for this customer: no card on file, opted out, already waiting, already"
    " scheduled, no day left under the cap; or a replayed webhook.",
    429: "Your card-on-file lookups found nothing 10 times in the last hour (code"
    " too_many_lookups); try again later.",
}


def _errors(*statuses: int) -> dict[str, Any]:
    return error_responses(_ERRORS, *statuses)


_AMOUNT = {
    "oneOf": [
        {"type": "string", "pattern": "^[0-9]{1,12}([.][0-9]{1,3})?$", "example": "137.42"},
        {"type": "number", "minimum": 0},
    ],
    "description": "In major units with at most the currency's decimals.",
}
_PHONE = {"type": "string", "example": "+15551230001", "description": "E.164."}
_OPTED_OUT = {
    "type": "boolean",
    "description": "The phone number has opted out of texts (replied STOP, not START since).",
}

_CHARGE_PROPERTIES = {
    "customer": {"type": "string"},
    "phone": {"type": "string"},
    "agent": {"type": "string"},
    "item": {"type": "string"},
    "amount_minor": {"type": "integer"},
    "amount": {"type": "string"},
    "currency": {"type": "string"},
}
"""What a text payment and a reminder both tell: whom, from which agent, what and how much."""

OPENAPI_SCHEMAS: dict[str, Any] = {
    "TextPaymentRequest": {
        "type": "object",
        "required": ["customer", "phone", "amount", "item"],
        "properties": {
            "customer": {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "description": "The customer's reference (CRM record id) its cards are kept under.",
            },
            "phone": _PHONE,
            "amount": _AMOUNT,
            "currency": {"type": "string", "enum": sorted(CURRENCIES)},
            "item": {"type": "string", "minLength": 1, "maxLength": 200},
        },
    },
    "SmsMessage": {
        "type": "object",
        "required": ["direction", "kind", "body", "status", "at"],
        "properties": {
            "direction": {"type": "string", "enum": ["out", "in"]},
            "kind": {"type": "string"},
            "body": {"type": "string"},
            "status": {"type": "string"},
            "at": DATE_TIME,
        },
    },
    "TextPayment": {
        "type": "object",
        "required": ["id", "status_url", "customer", "phone", "agent", "amount_minor", "state"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status_url": {"type": "string"},
            "payment_url": {"type": "string"},
            **_CHARGE_PROPERTIES,
            "card": {**NULLABLE_STRING, "description": "Brand and last four at most."},
            "state": {
                "type": "string",
                "enum": [
                    "asked",
                    "charging",
                    "unknown",
                    "paid",
                    "declined",
                    "refused",
                    "expired",
                    "failed",
                    "undelivered",
                ],
            },
            "expires_at": DATE_TIME,
            "transaction_id": NULLABLE_STRING,
            "reason": NULLABLE_STRING,
            "created_at": DATE_TIME,
            "finished_at": {**DATE_TIME, "nullable": True},
            "opted_out": _OPTED_OUT,
            "messages": {
                "type": "array",
                "items": schema_ref("SmsMessage"),
                "description": "In the listing and the status, not in the answer to a request.",
            },
        },
    },
    "ReminderRequest": {
        "type": "object",
        "required": ["customer", "phone", "amount", "due_date"],
        "properties": {
            "customer": {"type": "string", "minLength": 1, "maxLength": 200},
            "phone": _PHONE,
            "amount": _AMOUNT,
            "currency": {"type": "string", "enum": sorted(CURRENCIES)},
            "due_date": {"type": "string", "format": "date"},
            "item": {"type": "string", "maxLength": 200},
            "time_zone": {"type": "string", "example": "America/New_York"},
            "offer_pay_by_text": {
                "type": "boolean",
                "description": "Add 'Reply PAY to pay with your card on file' when one is kept.",
            },
            "send_now": {
                "type": "boolean",
                "description": "Send at the next moment within sending hours (by the due date)"
                " instead of on the customer's spread day.",
            },
        },
    },
    "Reminder": {
        "type": "object",
        "required": ["id", "customer", "phone", "due_date", "send_at", "status"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            **_CHARGE_PROPERTIES,
            "due_date": {"type": "string", "format": "date"},
            "time_zone": {"type": "string"},
            "send_on": {"type": "string", "format": "date"},
            "send_at": DATE_TIME,
            "offer_pay_by_text": {"type": "boolean"},
            "status": {
                "type": "string",
                "enum": ["scheduled", "sent", "suppressed", "missed", "cancelled"],
            },
            "sent_at": {**DATE_TIME, "nullable": True},
            "opted_out": _OPTED_OUT,
        },
    },
    "TextingStatus": {
        "type": "object",
        "required": ["enabled"],
        "properties": {"enabled": {"type": "boolean"}},
    },
    "CardOnFileLookup": {
        "type": "object",
        "required": ["card"],
        "properties": {
            "card": {
                **NULLABLE_STRING,
                "example": "Visa ending 4242",
                "description": "Brand and last four of the card a text payment would charge;"
                " null when the customer has no usable card on file.",
            }
        },
    },
}


def openapi_paths() -> dict[str, Any]:
    return {
        "/api/v1/text-payments": {
            "post": operation(
                "Pay by text: text the customer to pay with their card on file",
                "requestTextPayment",
                json_content(schema_ref("TextPayment"), "The question is texted; a YES pays."),
                _errors(400, 401, 403, 404, 409, 415, 422, 429, 503),
                status=201,
                body=json_body(schema_ref("TextPaymentRequest")),
            ),
            "get": own_listing(
                _ERRORS,
                "Text payments",
                "listTextPayments",
                "text_payments",
                "TextPayment",
                "The text payments.",
            ),
        },
        "/api/v1/text-payments/{text_payment_id}": {
            "get": operation(
                "A text payment with its messages",
                "getTextPayment",
                json_content(schema_ref("TextPayment"), "The text payment and its texts."),
                _errors(401, 404, 503),
                parameters=[id_parameter("text_payment_id")],
            )
        },
        "/api/v1/reminders": {
            "post": operation(
                "Schedule an SMS reminder before a due date (spread over the window)",
                "scheduleReminder",
                json_content(schema_ref("Reminder"), "Scheduled; send_at says when."),
                _errors(400, 401, 403, 404, 409, 415, 422, 503),
                status=201,
                body=json_body(schema_ref("ReminderRequest")),
            ),
            "get": own_listing(
                _ERRORS,
                "Reminders",
                "listReminders",
                "reminders",
                "Reminder",
                "The reminders.",
            ),
        },
        "/api/v1/sms/status": {
            "get": operation(
                "Whether texting (pay by text, reminders) is configured",
                "getTextingStatus",
                json_content(schema_ref("TextingStatus"), "On or off."),
                _errors(401),
            )
        },
        "/api/v1/cards-on-file": {
            "get": operation(
                "The card on file a text payment would charge (brand and last four)",
                "findCardOnFile",
                json_content(schema_ref("CardOnFileLookup"), "The card, or null."),
                _errors(401, 404, 422, 429, 503),
                description="A card is found only when both the customer (CRM record id) and"
                " the mobile it was kept with match. Every lookup is audited.",
                parameters=[
                    {
                        "name": "customer",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    },
                    {"name": "phone", "in": "query", "required": True, "schema": _PHONE},
                ],
            )
        },
        "/api/v1/sms/webhook": {
            "post": operation(
                "The SMS provider's events (replies, delivery reports)",
                "smsWebhook",
                json_content(
                    {"type": "object", "properties": {"received": {"type": "boolean"}}}, "Taken."
                ),
                _errors(400, 401, 404, 409, 503),
                description="Signed as Standard Webhooks (webhook-id, webhook-timestamp,"
                " webhook-signature) with the shared whsec_ secret; see payivr.sms.http.",
                body=json_body({"type": "object"}),
                security=[],
            )
        },
    }
