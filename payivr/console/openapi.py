"""The OpenAPI 3.0 document of ``/api/v1``, written by hand next to the handlers."""

from __future__ import annotations

from typing import Any

from payivr.calls.requests import MAX_ITEM_LENGTH
from payivr.console import outbound_api, reports, reversals, sms_openapi
from payivr.console.openapi_parts import (
    COMMON_ERRORS,
    DATE_TIME,
    LIMIT_PARAMETER,
    NULLABLE_STRING,
    SECURITY_SCHEMES,
    error_responses,
    id_parameter,
    json_body,
    json_content,
    list_of,
    object_schema,
    operation,
    schema_ref,
)
from payivr.core.events import Outcome, Step, StepStatus
from payivr.core.prompts import CURRENCIES, LANGUAGES
from payivr.core.request import PrivacyMode
from payivr.core.steps import SPECS

_ERRORS = {
    **COMMON_ERRORS,
    403: "Not allowed (CSRF token missing, another site, not a supervisor).",
    404: "No such call or payment (another agent's counts as none).",
    409: "The payment cannot start, be cancelled or go back to a step now.",
    429: "Too many failed sign-ins from this address: wait Retry-After seconds.",
    503: "The database is not answering, or too many sign-ins at once.",
}


def _errors(*statuses: int) -> dict[str, Any]:
    return error_responses(_ERRORS, *statuses)


_PAYMENT_ID = id_parameter("payment_id")

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Login": {
        "type": "object",
        "required": ["name", "password"],
        "properties": {"name": {"type": "string"}, "password": {"type": "string"}},
    },
    "Me": {
        "type": "object",
        "required": ["name", "role", "currency", "privacy_modes", "currencies"],
        "properties": {
            "name": {"type": "string"},
            "role": {"type": "string", "enum": ["agent", "supervisor"]},
            "endpoint": NULLABLE_STRING,
            "csrf_token": {
                **NULLABLE_STRING,
                "description": "Send as X-CSRF-Token on every POST made with the session cookie.",
            },
            "currency": {"type": "string"},
            "currencies": {"type": "array", "items": {"type": "string"}},
            "privacy_mode": {"type": "string"},
            "privacy_modes": {"type": "array", "items": {"type": "string"}},
            "languages": {
                "type": "array",
                "description": "The languages payivr has prompts in (code and own name).",
                "items": {
                    "type": "object",
                    "required": ["code", "name"],
                    "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
                },
            },
            "max_amount": {"type": "string"},
            "max_item_length": {"type": "integer"},
        },
    },
    "Call": {
        "type": "object",
        "required": ["call", "started_at"],
        "properties": {
            "call": {"type": "string"},
            "agent_endpoint": NULLABLE_STRING,
            "caller_number": NULLABLE_STRING,
            "started_at": DATE_TIME,
            "payment": NULLABLE_STRING,
        },
    },
    "PaymentRequest": {
        "type": "object",
        "required": ["item", "amount"],
        "properties": {
            "call": {
                "type": "string",
                "default": "current",
                "description": "'current' (the agent's call now) or a call key.",
            },
            "item": {"type": "string", "minLength": 1, "maxLength": MAX_ITEM_LENGTH},
            "amount": {
                "oneOf": [
                    {"type": "string", "maxLength": 24, "example": "1,234.56"},
                    {"type": "number", "minimum": 0},
                ],
                "description": "In major units with at most the currency's decimals, as "
                "people write it in that currency: 1,234.56, $5 or 5 in USD (CAD, AUD, GBP "
                "alike); 1.234,56 € in EUR; ¥1,500 in JPY. The plain 1234.56 always works; a "
                "text that reads two ways (1.000 in EUR) is refused.",
            },
            "currency": {"type": "string", "enum": sorted(CURRENCIES)},
            "privacy_mode": {"type": "string", "enum": [mode.value for mode in PrivacyMode]},
            "method": {
                "type": "string",
                "enum": ["card", "ach"],
                "description": "card (default) or ach: the caller keys a US bank account.",
            },
            "language": {
                "type": "string",
                "enum": list(LANGUAGES),
                "description": "The prompts' language. Default: the caller's channel "
                "language (CHANNEL(language), es_MX counts as es) when payivr has prompts in "
                "it, else the calls.language setting.",
            },
            "crm_record_id": {
                "type": "string",
                "maxLength": 200,
                "description": "The customer in the CRM: on the CRM activity, and the card's "
                "owner when it is kept on file.",
            },
            "offer_card_on_file": {
                "type": "boolean",
                "description": "Once approved, ask the caller whether to keep the card (its "
                "gateway token only) for this customer (crm_record_id and the caller's "
                "number). Cards only. Default: the flow.offer_card_on_file setting.",
            },
        },
    },
    "PaymentCreated": {
        "type": "object",
        "required": ["payment", "call", "amount", "status_url"],
        "properties": {
            "payment": {"type": "string"},
            "call": {"type": "string"},
            "amount": {"type": "string", "description": "As understood, e.g. 1000.00 USD."},
            "status_url": {"type": "string"},
        },
    },
    "Step": {
        "type": "object",
        "required": ["status", "digits_entered"],
        "properties": {
            "status": {"type": "string", "enum": [status.value for status in StepStatus]},
            "digits_entered": {"type": "integer", "nullable": True},
            "detail": NULLABLE_STRING,
        },
    },
    "Payment": {
        "type": "object",
        "required": ["id", "call", "agent", "item", "amount_minor", "currency", "state", "steps"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "call": {"type": "string"},
            "agent": {"type": "string"},
            "item": {"type": "string"},
            "amount_minor": {"type": "integer"},
            "amount": {"type": "string"},
            "currency": {"type": "string"},
            "privacy_mode": {"type": "string"},
            "method": {"type": "string", "enum": ["card", "ach"]},
            "bank_account": NULLABLE_STRING,
            "reversals": {"type": "array", "items": schema_ref("Reversal")},
            "refunded_minor": {"type": "integer", "description": "Given back so far."},
            "voided": {"type": "boolean"},
            "paid_with": {
                **NULLABLE_STRING,
                "description": "What paid, masked: 'Visa ending 4242' or 'checking ending 89'.",
            },
            "state": {
                "type": "string",
                "enum": ["requested", "collecting", "authorizing", "finished"],
            },
            "steps": {
                "type": "object",
                "properties": {step.value: schema_ref("Step") for step in Step},
            },
            "card": {**NULLABLE_STRING, "description": "Brand and last four at most."},
            "outcome": {
                "type": "string",
                "nullable": True,
                "enum": [*(outcome.value for outcome in Outcome), None],
            },
            "succeeded": {"type": "boolean", "nullable": True},
            "reason": NULLABLE_STRING,
            "transaction_id": NULLABLE_STRING,
            "needs_reconciliation": {"type": "boolean"},
            "created_at": DATE_TIME,
            "finished_at": {**DATE_TIME, "nullable": True},
        },
    },
    "AuditEvent": {
        "type": "object",
        "required": ["id", "occurred_at", "actor", "action", "success"],
        "properties": {
            "id": {"type": "integer"},
            "occurred_at": DATE_TIME,
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "success": {"type": "boolean"},
            "origin": {"type": "string"},
            "resource": {"type": "string"},
            "payment": NULLABLE_STRING,
            "detail": NULLABLE_STRING,
        },
    },
}


def _paths() -> dict[str, Any]:
    return {
        "/api/v1/login": {
            "post": operation(
                "Sign in (browsers); sets the session cookie",
                "login",
                json_content(schema_ref("Me"), "Signed in."),
                _errors(400, 401, 403, 415, 422, 429, 503),
                body=json_body(schema_ref("Login")),
                security=[],
            )
        },
        "/api/v1/logout": {
            "post": operation(
                "Sign out",
                "logout",
                json_content({"type": "object"}, "Signed out."),
                _errors(401, 403),
            )
        },
        "/api/v1/me": {
            "get": operation(
                "Who am I, and the request defaults",
                "me",
                json_content(schema_ref("Me"), "The account."),
                _errors(401),
            )
        },
        "/api/v1/calls": {
            "get": operation(
                "Calls in progress (an agent's own; all for supervisors)",
                "listCalls",
                json_content(list_of("calls", "Call"), "The calls."),
                _errors(401),
            )
        },
        "/api/v1/calls/current": {
            "get": operation(
                "The signed-in agent's call now (null when none)",
                "currentCall",
                json_content(
                    object_schema(
                        ["call"],
                        {
                            "call": {**schema_ref("Call"), "nullable": True},
                            "live_payment": {"type": "object", "nullable": True},
                        },
                    ),
                    "The call, if any.",
                ),
                _errors(401),
            )
        },
        "/api/v1/payments": {
            "post": operation(
                "Request a payment on a call (the agent's current call by default)",
                "requestPayment",
                json_content(schema_ref("PaymentCreated"), "The caller is being asked to pay."),
                _errors(400, 401, 403, 404, 409, 415, 422),
                status=201,
                body=json_body(schema_ref("PaymentRequest")),
            ),
            "get": operation(
                "Payment history, newest first (own for agents; all for supervisors),"
                " by day, outcome and agent",
                "listPayments",
                json_content(list_of("payments", "Payment"), "The payments."),
                _errors(401, 422),
                parameters=[LIMIT_PARAMETER, *reports.FILTER_PARAMETERS],
            ),
        },
        "/api/v1/payments/{payment_id}": {
            "get": operation(
                "A payment's status: steps, outcome, transaction id",
                "getPayment",
                json_content(schema_ref("Payment"), "The payment."),
                _errors(401, 404),
                parameters=[_PAYMENT_ID],
            )
        },
        "/api/v1/payments/{payment_id}/cancel": {
            "post": operation(
                "Cancel a payment in progress (the caller returns to the agent)",
                "cancelPayment",
                json_content(
                    object_schema(
                        ["payment", "cancelling"],
                        {"payment": {"type": "string"}, "cancelling": {"type": "boolean"}},
                    ),
                    "Cancelling; the outcome follows on the event stream.",
                ),
                _errors(401, 403, 404, 409),
                status=202,
                parameters=[_PAYMENT_ID],
            )
        },
        "/api/v1/payments/{payment_id}/reask": {
            "post": operation(
                "Send the caller back to one step (it and the steps after it are keyed again)",
                "reaskStep",
                json_content(
                    object_schema(
                        ["payment", "step"],
                        {"payment": {"type": "string"}, "step": {"type": "string"}},
                    ),
                    "Asked again; the steps follow on the event stream.",
                ),
                _errors(400, 401, 403, 404, 409, 415, 422),
                status=202,
                parameters=[_PAYMENT_ID],
                body=json_body(
                    object_schema(
                        ["step"],
                        {"step": {"type": "string", "enum": [step.value for step in SPECS]}},
                    )
                ),
            )
        },
        "/api/v1/audit": {
            "get": operation(
                "The audit trail, newest first (supervisors)",
                "listAudit",
                json_content(list_of("events", "AuditEvent"), "The events."),
                _errors(401, 403, 422),
                parameters=[LIMIT_PARAMETER],
            )
        },
        "/api/v1/agents/{name}/unlock": {
            "post": operation(
                "Forget the failed sign-ins that slow down sign-ins to an account (supervisors)",
                "unlockAgent",
                json_content(
                    object_schema(
                        ["name", "failures_forgotten"],
                        {"name": {"type": "string"}, "failures_forgotten": {"type": "integer"}},
                    ),
                    "Unlocked.",
                ),
                _errors(401, 403, 404),
                parameters=[
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "payivr console API",
            "version": "1",
            "description": (
                "Request and follow card payments taken over the phone. Agents act on their own"
                " calls only; supervisors see every call, the history and the audit trail."
                " Live events: a WebSocket at /api/v1/events (same authentication) sends a"
                " 'hello' with the payments in progress, then call_started, call_ended,"
                " payment_started, step (status, digit count, confirming: the caller hears the"
                " entry read back, brand as soon as the first digits tell it, last four once"
                " the number is complete), authorizing (with the gateway), payment_finished,"
                " request_form (the agent keyed *7 without an amount, or a transferred caller"
                " waits: open the payment request for that call, amount_minor prefilled when"
                " keyed, reason when it could not start) and outbound (an outbound call's"
                " status and outcome); payment events carry 'at', when they happened."
                " Card data never appears in any answer."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": {
            **_paths(),
            **reversals.openapi_paths(),
            **reports.openapi_paths(),
            **sms_openapi.openapi_paths(),
            **outbound_api.openapi_paths(),
        },
        "components": {
            "schemas": {
                **SCHEMAS,
                **reversals.OPENAPI_SCHEMAS,
                **reports.OPENAPI_SCHEMAS,
                **sms_openapi.OPENAPI_SCHEMAS,
                **outbound_api.OPENAPI_SCHEMAS,
            },
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
