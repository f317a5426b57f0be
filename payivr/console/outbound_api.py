"""``/api/v1`` for outbound collection calls (see :mod:`payivr.outbound.dialer`).

An agent places calls from their own softphone endpoint and sees their own calls; a
supervisor sees everyone's. Another agent's call answers 404. Without ``[outbound]``
enabled every route answers 404 ``outbound_disabled``. Once the customer is connected,
payments are requested as on any call (``POST /api/v1/payments``).
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from aiohttp import web

from payivr.calls.requests import MAX_ITEM_LENGTH, RequestRefused
from payivr.console.amounts import parse_amount
from payivr.console.context import (
    Console,
    OptionalService,
    console_of,
    request_caller,
)
from payivr.console.openapi_parts import (
    COMMON_ERRORS,
    DATE_TIME,
    NULLABLE_STRING,
    error_responses,
    id_parameter,
    json_body,
    json_content,
    object_schema,
    operation,
    own_listing,
    schema_ref,
)
from payivr.console.security import ApiError, Caller
from payivr.core.amounts import amount_problem, format_minor
from payivr.core.campaigns import OutsideCallingHours, UnknownTimeZone
from payivr.core.redact import has_digit_run
from payivr.outbound.dialer import OutboundDialer, OutboundRefused, OutboundRequest
from payivr.outbound.store import CallOutcome, OutboundCall, Status
from payivr.sms.phone import InvalidPhoneNumber, parse_e164

log = structlog.get_logger(__name__)

OUTBOUND = OptionalService(
    "outbound",
    OutboundDialer,
    "outbound_disabled",
    "outbound calls are not configured on this payivr ([outbound])",
)


def install(app: web.Application, dialer: OutboundDialer | None) -> None:
    OUTBOUND.install(app, dialer, route_table())


def outbound_json(call: OutboundCall, payments: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": str(call.id),
        "status_url": f"/api/v1/outbound-calls/{call.id}",
        "call": call.call_key,
        "agent": call.agent,
        "campaign": call.campaign,
        "caller_id": call.caller_id,
        "phone": call.phone,
        "time_zone": call.time_zone,
        "item": call.item_name,
        "amount_minor": call.amount_minor,
        "amount": format_minor(call.amount_minor, call.currency) if call.amount_minor else None,
        "currency": call.currency,
        "status": call.status.value,
        "outcome": call.outcome.value if call.outcome else None,
        "detail": call.detail,
        "hangup_cause": call.hangup_cause,
        "dial_status": call.dial_status,
        "amd_status": call.amd_status,
        "amd_cause": call.amd_cause,
        "payments": payments if payments is not None else [],
        "created_at": call.created_at.isoformat(),
        "answered_at": call.answered_at.isoformat() if call.answered_at else None,
        "ended_at": call.ended_at.isoformat() if call.ended_at else None,
    }


def _outbound_request(console: Console, body: dict[str, Any], caller: Caller) -> OutboundRequest:
    account = caller.account
    if account.endpoint is None:
        raise ApiError(409, "no_endpoint", "your account has no softphone endpoint to ring")
    for name in ("number", "campaign", "timezone"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise RequestRefused(f"{name} is required (text)")
    try:
        phone = parse_e164(body["number"])
    except InvalidPhoneNumber as error:
        raise RequestRefused(str(error)) from None
    item = body.get("item")
    if item is not None:
        if not isinstance(item, str) or not 1 <= len(item.strip()) <= MAX_ITEM_LENGTH:
            raise RequestRefused(f"the item name must be 1 to {MAX_ITEM_LENGTH} characters")
        if has_digit_run(item):
            raise RequestRefused("the item name cannot contain 7 or more digits in a row")
        item = item.strip()
    amount_minor = None
    if body.get("amount") not in (None, ""):
        amount_minor = parse_amount(body["amount"], console.currency)
        problem = amount_problem(amount_minor, console.currency, console.max_amount_minor)
        if problem is not None:
            raise RequestRefused(problem)
    return OutboundRequest(
        agent=account.name,
        agent_endpoint=account.endpoint,
        phone=phone,
        campaign=body["campaign"].strip(),
        time_zone=body["timezone"].strip(),
        item=item,
        amount_minor=amount_minor,
        currency=console.currency,
    )


async def place_call(request: web.Request) -> web.Response:
    console = console_of(request)
    caller, dialer, body = await OUTBOUND.posted(request)
    name = caller.account.name
    try:
        outbound = _outbound_request(console, body, caller)
        call = await dialer.place(outbound)
    except (RequestRefused, UnknownTimeZone) as refused:
        await console.audit(
            name, "outbound.request", False, request, "outbound", detail=str(refused)
        )
        raise ApiError(422, "invalid_request", str(refused)) from None
    except OutsideCallingHours as closed:
        await console.audit(
            name, "outbound.request", False, request, "outbound", detail=str(closed)
        )
        raise ApiError(409, "outside_calling_hours", str(closed)) from None
    except OutboundRefused as refused:
        await console.audit(
            name, "outbound.request", False, request, "outbound", detail=str(refused)
        )
        raise ApiError(409, "outbound_refused", str(refused)) from None
    except ApiError as error:
        await console.audit(
            name, "outbound.request", False, request, "outbound", detail=error.message
        )
        raise
    await console.audit(
        name,
        "outbound.placed",
        True,
        request,
        f"outbound:{call.id}",
        detail=f"campaign {call.campaign} via {caller.via}",
    )
    return web.json_response(outbound_json(call), status=201)


async def _visible_call(request: web.Request, caller: Caller) -> OutboundCall:
    dialer = OUTBOUND.of(request)
    try:
        call_id = uuid.UUID(request.match_info["outbound_id"])
    except ValueError:
        raise ApiError(404, "unknown_outbound_call", "there is no such outbound call") from None
    call = dialer.live(call_id) or await dialer.store.get(call_id)
    if call is None or not (caller.account.is_supervisor or call.agent == caller.account.name):
        raise ApiError(404, "unknown_outbound_call", "there is no such outbound call")
    return call


async def call_status(request: web.Request) -> web.Response:
    caller = await request_caller(request)
    call = await _visible_call(request, caller)
    payments = await OUTBOUND.of(request).store.payments_on(call.call_key)
    return web.json_response(outbound_json(call, payments))


async def cancel_call(request: web.Request) -> web.Response:
    console = console_of(request)
    caller = await request_caller(request)
    call = await _visible_call(request, caller)
    cancelled = OUTBOUND.of(request).cancel(call.id)
    await console.audit(
        caller.account.name,
        "outbound.cancel",
        cancelled,
        request,
        f"outbound:{call.id}",
        detail=None if cancelled else "not ringing",
    )
    if not cancelled:
        raise ApiError(409, "not_ringing", "the call is connected or over; hang up on the phone")
    return web.json_response({"id": str(call.id), "cancelling": True}, status=202)


async def list_calls(request: web.Request) -> web.Response:
    dialer, agent, limit = await OUTBOUND.listing(request)
    calls = await dialer.store.latest(agent=agent, limit=limit)
    return web.json_response({"outbound_calls": [outbound_json(call) for call in calls]})


async def list_campaigns(request: web.Request) -> web.Response:
    await request_caller(request)
    dialer = OUTBOUND.of(request)
    return web.json_response(
        {
            "campaigns": [
                {"name": c.name, "caller_id": c.caller_id, "hours": str(c.hours)}
                for c in dialer.campaigns.values()
            ]
        }
    )


def route_table() -> list[web.RouteDef]:
    return [
        web.post("/api/v1/outbound-calls", place_call),
        web.get("/api/v1/outbound-calls", list_calls),
        web.get("/api/v1/outbound-calls/{outbound_id}", call_status),
        web.post("/api/v1/outbound-calls/{outbound_id}/cancel", cancel_call),
        web.get("/api/v1/outbound-campaigns", list_campaigns),
    ]


# ------------------------------------------------------------------ OpenAPI


_ERRORS = {
    **COMMON_ERRORS,
    403: "CSRF token missing, or another site.",
    404: "No such outbound call (another agent's counts as none), or outbound calls are not"
    " configured (code outbound_disabled).",
    409: "Cannot place the call now: outside_calling_hours (the message says when they open),"
    " outbound_refused (unknown campaign, already on a call), no_endpoint, or not_ringing"
    " (cancel after the customer was connected).",
}


def _errors(*statuses: int) -> dict[str, Any]:
    return error_responses(_ERRORS, *statuses)


_NULLABLE_INTEGER = {"type": "integer", "nullable": True}
_OUTBOUND_ID = id_parameter("outbound_id")

OPENAPI_SCHEMAS: dict[str, Any] = {
    "OutboundCallRequest": {
        "type": "object",
        "required": ["number", "campaign", "timezone"],
        "properties": {
            "number": {"type": "string", "example": "+15551230001", "description": "E.164."},
            "campaign": {"type": "string", "description": "A campaign of [outbound] campaigns."},
            "timezone": {
                "type": "string",
                "example": "America/New_York",
                "description": "The customer's IANA time zone: calling hours are theirs.",
            },
            "item": {"type": "string", "minLength": 1, "maxLength": MAX_ITEM_LENGTH},
            "amount": {
                "oneOf": [
                    {"type": "string", "pattern": "^[0-9]{1,12}([.][0-9]{1,3})?$"},
                    {"type": "number", "minimum": 0},
                ],
                "description": "What is owed, to prefill the payment request.",
            },
        },
    },
    "OutboundCall": {
        "type": "object",
        "required": ["id", "status_url", "call", "agent", "campaign", "phone", "status"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status_url": {"type": "string"},
            "call": {"type": "string", "description": "The call key (payments' call)."},
            "agent": {"type": "string"},
            "campaign": {"type": "string"},
            "caller_id": {"type": "string"},
            "phone": {"type": "string"},
            "time_zone": {"type": "string"},
            "item": NULLABLE_STRING,
            "amount_minor": _NULLABLE_INTEGER,
            "amount": NULLABLE_STRING,
            "currency": {"type": "string"},
            "status": {
                "type": "string",
                "enum": [status.value for status in Status],
            },
            "outcome": {
                "type": "string",
                "nullable": True,
                "enum": [outcome.value for outcome in CallOutcome],
            },
            "detail": NULLABLE_STRING,
            "hangup_cause": {
                **_NULLABLE_INTEGER,
                "description": "Q.850 cause of the customer's leg (17 busy, 19 no answer...).",
            },
            "dial_status": NULLABLE_STRING,
            "amd_status": {**NULLABLE_STRING, "description": "MACHINE, HUMAN or NOTSURE."},
            "amd_cause": NULLABLE_STRING,
            "payments": {"type": "array", "items": {"type": "string", "format": "uuid"}},
            "created_at": DATE_TIME,
            "answered_at": {**DATE_TIME, "nullable": True},
            "ended_at": {**DATE_TIME, "nullable": True},
        },
    },
}


def openapi_paths() -> dict[str, Any]:
    return {
        "/api/v1/outbound-calls": {
            "post": operation(
                "Call a customer: your phone rings first, then theirs (campaign"
                " caller ID, within calling hours); progress follows as 'outbound' events",
                "placeOutboundCall",
                json_content(schema_ref("OutboundCall"), "Your phone is ringing."),
                _errors(400, 401, 403, 404, 409, 415, 422, 503),
                status=201,
                body=json_body(schema_ref("OutboundCallRequest")),
            ),
            "get": own_listing(
                _ERRORS,
                "Outbound calls",
                "listOutboundCalls",
                "outbound_calls",
                "OutboundCall",
                "The calls.",
            ),
        },
        "/api/v1/outbound-calls/{outbound_id}": {
            "get": operation(
                "An outbound call: status, outcome and the payments taken on it",
                "getOutboundCall",
                json_content(schema_ref("OutboundCall"), "The call."),
                _errors(401, 404, 503),
                parameters=[_OUTBOUND_ID],
            )
        },
        "/api/v1/outbound-calls/{outbound_id}/cancel": {
            "post": operation(
                "Hang up a call whose customer is not connected yet",
                "cancelOutboundCall",
                json_content(
                    object_schema(
                        ["id", "cancelling"],
                        {"id": {"type": "string"}, "cancelling": {"type": "boolean"}},
                    ),
                    "Hanging up; the outcome (cancelled) follows as an event.",
                ),
                _errors(401, 403, 404, 409, 503),
                status=202,
                parameters=[_OUTBOUND_ID],
            )
        },
        "/api/v1/outbound-campaigns": {
            "get": operation(
                "The campaigns an outbound call can be placed for",
                "listOutboundCampaigns",
                json_content(
                    object_schema(
                        ["campaigns"],
                        {
                            "campaigns": {
                                "type": "array",
                                "items": object_schema(
                                    ["name", "caller_id", "hours"],
                                    {
                                        "name": {"type": "string"},
                                        "caller_id": {"type": "string"},
                                        "hours": {
                                            "type": "string",
                                            "example": "09:00-20:00 Mon-Fri",
                                        },
                                    },
                                ),
                            }
                        },
                    ),
                    "The campaigns.",
                ),
                _errors(401, 404),
            )
        },
    }
