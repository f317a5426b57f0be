"""Refund and void an approved payment: ``POST /api/v1/payments/{id}/refund`` and ``/void``.

A supervisor may reverse any payment; an agent their own, on the day it was taken (in UTC).
The gateway's ``void`` cancels the whole sale before it settles; ``refund`` gives back part
or all of it. Each attempt is audited; an approved one is posted to the CRM (see
:mod:`payivr.store.reversals`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import structlog
from aiohttp import web

from payivr.calls.requests import RequestRefused
from payivr.console.amounts import parse_amount
from payivr.console.api import visible_payment
from payivr.console.context import console_of, json_object, request_caller
from payivr.console.openapi_parts import (
    COMMON_ERRORS,
    DATE_TIME,
    error_responses,
    id_parameter,
    json_body,
    json_content,
    operation,
    schema_ref,
)
from payivr.console.security import ApiError, Caller
from payivr.console.shapes import reversal_json, reversals_summary
from payivr.core.amounts import format_minor
from payivr.gateway.interface import Approved, Declined, Error, Gateway, GatewayResult
from payivr.store.models import Payment
from payivr.store.reversals import Reversal, ReversalKind, ReversalRefused, ReversalStatus

log = structlog.get_logger(__name__)

GATEWAY_KEY = web.AppKey("gateway", Gateway)


def install(app: web.Application, gateway: Gateway | None) -> None:
    """Add the routes (always: they are in the OpenAPI document) and, if given, the gateway."""
    if gateway is not None:
        app[GATEWAY_KEY] = gateway
    app.router.add_routes(
        [
            web.post("/api/v1/payments/{payment_id}/void", void_payment),
            web.post("/api/v1/payments/{payment_id}/refund", refund_payment),
        ]
    )


async def void_payment(request: web.Request) -> web.Response:
    return await _reverse(request, ReversalKind.VOID)


async def refund_payment(request: web.Request) -> web.Response:
    return await _reverse(request, ReversalKind.REFUND)


async def _reverse(request: web.Request, kind: ReversalKind) -> web.Response:
    console = console_of(request)
    store = console.reversals
    caller = await request_caller(request)
    payment = await visible_payment(request, caller)
    action = f"payment.{kind.value}"
    resource = f"payment:{payment.id}"

    async def refused(status: int, code: str, message: str) -> ApiError:
        await console.audit(
            caller.account.name,
            action,
            False,
            request,
            resource,
            payment_id=str(payment.id),
            detail=message,
        )
        return ApiError(status, code, message)

    problem = _not_allowed(caller, payment, console.clock().date())
    if problem is not None:
        raise await refused(403, "forbidden", problem)
    gateway = request.app.get(GATEWAY_KEY)
    if gateway is None:
        raise await refused(503, "no_gateway", "no payment gateway is configured here")
    body = await json_object(request) if request.body_exists else {}
    amount_minor = None
    if kind is ReversalKind.REFUND and body.get("amount") is not None:
        try:
            amount_minor = parse_amount(body["amount"], payment.currency)
        except RequestRefused as bad:
            raise await refused(422, "invalid_request", str(bad)) from None
    try:
        reversal = await store.open(payment.id, kind, amount_minor, caller.account.name)
    except ReversalRefused as why:
        raise await refused(409, "not_reversible", str(why)) from None
    status, reference, reason = _settlement(await _ask(gateway, payment, reversal))
    settled = await store.settle(
        reversal.id, status, gateway_reference=reference, reason=reason
    )
    amount = format_minor(settled.amount_minor, payment.currency)
    await console.audit(
        caller.account.name,
        action,
        settled.status is ReversalStatus.APPROVED,
        request,
        resource,
        payment_id=str(payment.id),
        detail=f"{amount} {settled.status.value} via {caller.via}"
        + (f": {settled.reason}" if settled.reason else ""),
    )
    if settled.status is ReversalStatus.DECLINED:
        raise ApiError(409, f"{kind.value}_declined", f"the gateway declined: {settled.reason}")
    if settled.status is not ReversalStatus.APPROVED:
        raise ApiError(502, f"{kind.value}_failed", settled.reason or "the gateway failed")
    everything = (await store.for_payments([payment.id]))[payment.id]
    return web.json_response(
        {
            "reversal": reversal_json(settled, payment.currency),
            **reversals_summary(payment, everything),
        }
    )


def _not_allowed(caller: Caller, payment: Payment, today: date) -> str | None:
    if caller.account.is_supervisor:
        return None
    if payment.created_at.date() != today:
        return "an agent can refund or void a payment on the day it was taken only: ask a supervisor"
    return None


async def _ask(gateway: Gateway, payment: Payment, reversal: Reversal) -> GatewayResult:
    reference = payment.gateway_reference
    assert reference is not None  # ReversalStore.open refuses a payment without one
    key = str(reversal.id)
    try:
        if reversal.kind is ReversalKind.VOID:
            return await gateway.void(reference, key)
        return await gateway.refund(reference, reversal.amount_minor, key)
    except Exception:
        log.exception("reversal_crashed", reversal_id=key)
        return Error("the gateway request failed unexpectedly", retryable=False)


def _settlement(result: GatewayResult) -> tuple[ReversalStatus, str | None, str | None]:
    """The reversal's status, the gateway's reference and the reason, from its answer."""
    match result:
        case Approved():
            return ReversalStatus.APPROVED, result.reference, None
        case Declined():
            return ReversalStatus.DECLINED, None, result.reason
        case Error():
            return ReversalStatus.FAILED, None, result.reason
        case _:
            return ReversalStatus.UNKNOWN, None, result.reason


OPENAPI_SCHEMAS: dict[str, Any] = {
    "RefundRequest": {
        "type": "object",
        "properties": {
            "amount": {
                "oneOf": [{"type": "string", "maxLength": 24}, {"type": "number", "minimum": 0}],
                "description": "How much to give back, in the payment's currency, written as "
                "for a payment request. Default: all that is left.",
            }
        },
    },
    "Reversal": {
        "type": "object",
        "required": ["id", "kind", "amount_minor", "amount", "status", "by", "created_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "kind": {"type": "string", "enum": [kind.value for kind in ReversalKind]},
            "amount_minor": {"type": "integer"},
            "amount": {"type": "string"},
            "status": {"type": "string", "enum": [status.value for status in ReversalStatus]},
            "by": {"type": "string"},
            "reason": {"type": "string", "nullable": True},
            "transaction_id": {"type": "string", "nullable": True},
            "created_at": DATE_TIME,
            "finished_at": {**DATE_TIME, "nullable": True},
        },
    },
    "Reversed": {
        "type": "object",
        "required": ["reversal", "reversals", "refunded_minor", "voided"],
        "properties": {
            "reversal": schema_ref("Reversal"),
            "reversals": {"type": "array", "items": schema_ref("Reversal")},
            "refunded_minor": {"type": "integer"},
            "voided": {"type": "boolean"},
        },
    },
}

_ERRORS = {
    **COMMON_ERRORS,
    403: "An agent, on another day than the payment's: a supervisor can.",
    404: "No such payment (another agent's counts as none).",
    409: "Not possible (not approved, already voided or refunded, more than is left) or "
    "declined by the gateway; the message says which.",
    422: "The amount is not a valid amount.",
    502: "The gateway failed or did not answer; nothing is known to have been given back.",
    503: "No payment gateway is configured.",
}


def openapi_paths() -> dict[str, Any]:
    def reversal(kind: ReversalKind, summary: str) -> dict[str, Any]:
        refund = kind is ReversalKind.REFUND
        return {
            "post": operation(
                summary,
                f"{kind.value}Payment",
                json_content(schema_ref("Reversed"), "Given back."),
                error_responses(_ERRORS, 400, 401, 403, 404, 409, 415, 422, 502, 503),
                parameters=[id_parameter("payment_id")],
                body=json_body(schema_ref("RefundRequest"), required=False) if refund else None,
            )
        }

    return {
        "/api/v1/payments/{payment_id}/void": reversal(
            ReversalKind.VOID,
            "Void an approved payment (all of it, before it settles). Supervisors: any; "
            "agents: their own, the same day",
        ),
        "/api/v1/payments/{payment_id}/refund": reversal(
            ReversalKind.REFUND,
            "Refund part or all of an approved payment. Supervisors: any; agents: their own, "
            "the same day",
        ),
    }
