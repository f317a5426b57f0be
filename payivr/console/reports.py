"""Reporting: ``GET /api/v1/reports/payments`` (totals per agent and per day, success rate)
and ``GET /api/v1/reports/payments.csv`` (the payments, one a row, for a spreadsheet).

Both take the History's filters: ``from`` and ``to`` (days, UTC, both included), ``outcome``
(``approved``, ``not_approved``, ``in_progress`` or one outcome such as ``declined``) and,
for supervisors, ``agent``; an agent always gets their own. Neither holds card data: the
card is brand and last four, a bank account its type and last two.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from payivr.console.context import console_of, limit_param, listed_agent, request_caller
from payivr.console.openapi_parts import (
    COMMON_ERRORS,
    error_responses,
    json_content,
    object_schema,
    operation,
    schema_ref,
)
from payivr.console.security import ApiError
from payivr.console.shapes import payment_json
from payivr.core.amounts import format_minor
from payivr.core.events import Outcome
from payivr.store.payments import PaymentTotals

MAX_EXPORT = 50_000
NOT_APPROVED = tuple(o.value for o in Outcome if o is not Outcome.APPROVED)
OUTCOME_FILTERS: dict[str, tuple[str, ...]] = {
    "approved": (Outcome.APPROVED.value,),
    "not_approved": NOT_APPROVED,
    "in_progress": ("in_progress",),
    **{value: (value,) for value in NOT_APPROVED},
}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def route_table() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/payments", history),
        web.get("/api/v1/reports/payments", totals),
        web.get("/api/v1/reports/payments.csv", export_csv),
    ]


def payment_filters(request: web.Request, agent: str | None) -> dict[str, Any]:
    """The listing's filters from the query (``from``, ``to``, ``outcome``): the keyword
    arguments of :meth:`PaymentStore.list_payments`; a bad one is a 422 saying which."""
    since = _day(request, "from")
    until = _day(request, "to")
    if since and until and until < since:
        raise ApiError(422, "invalid_request", "to must not be before from")
    outcome = request.query.get("outcome") or None
    if outcome is not None and outcome not in OUTCOME_FILTERS:
        raise ApiError(
            422, "invalid_request", f"outcome must be one of {', '.join(OUTCOME_FILTERS)}"
        )
    return {
        "agent": agent,
        "since": datetime.combine(since, time(), UTC) if since else None,
        "until": datetime.combine(until + timedelta(days=1), time(), UTC) if until else None,
        "outcomes": OUTCOME_FILTERS[outcome] if outcome else None,
    }


def _day(request: web.Request, name: str) -> date | None:
    text = request.query.get(name) or None
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(422, "invalid_request", f"{name} must be a day such as 2026-12-04") from None


async def history(request: web.Request) -> web.Response:
    """``GET /api/v1/payments``: the History, newest first, with the filters."""
    console = console_of(request)
    caller = await request_caller(request)
    agent = listed_agent(request, caller.account)
    filters = payment_filters(request, agent)
    payments = await console.store.list_payments(**filters, limit=limit_param(request))
    reversals = await console.reversals.for_payments(p.id for p in payments)
    await console.audit(
        caller.account.name, "history.viewed", True, request, f"payments:{agent or 'all'}"
    )
    return web.json_response({"payments": [payment_json(p, reversals[p.id]) for p in payments]})


async def totals(request: web.Request) -> web.Response:
    console = console_of(request)
    caller = await request_caller(request)
    agent = listed_agent(request, caller.account)
    filters = payment_filters(request, agent)
    rows = await console.store.payment_totals(**filters)
    await console.audit(
        caller.account.name, "report.viewed", True, request, f"payments:{agent or 'all'}"
    )
    return web.json_response(
        {
            "total": _summed(rows),
            "agents": [
                {"agent": name, **_summed(group)}
                for name, group in _grouped(rows, lambda r: r.agent)
            ],
            "days": [
                {"day": day.isoformat(), **_summed(group)}
                for day, group in _grouped(rows, lambda r: r.day)
            ],
        }
    )


def _grouped(rows: list[PaymentTotals], key: Any) -> Iterable[tuple[Any, list[PaymentTotals]]]:
    groups: dict[Any, list[PaymentTotals]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return groups.items()


def _summed(rows: list[PaymentTotals]) -> dict[str, Any]:
    finished = sum(r.finished for r in rows)
    approved = sum(r.approved for r in rows)
    by_currency: dict[str, int] = defaultdict(int)
    for row in rows:
        by_currency[row.currency] += row.approved_minor
    return {
        "payments": sum(r.payments for r in rows),
        "finished": finished,
        "approved": approved,
        "success_rate": round(approved / finished, 4) if finished else None,
        "approved_amounts": [
            format_minor(minor, currency)
            for currency, minor in sorted(by_currency.items())
            if minor
        ],
    }


CSV_COLUMNS = (
    "created_at",
    "finished_at",
    "agent",
    "item",
    "amount",
    "currency",
    "outcome",
    "paid_with",
    "transaction_id",
    "refunded",
    "reason",
    "payment_id",
    "call_id",
)


async def export_csv(request: web.Request) -> web.Response:
    console = console_of(request)
    caller = await request_caller(request)
    agent = listed_agent(request, caller.account)
    payments = await console.store.list_payments(
        **payment_filters(request, agent), limit=MAX_EXPORT
    )
    reversals = await console.reversals.for_payments(p.id for p in payments)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for payment in payments:
        shown = payment_json(payment, reversals[payment.id])
        writer.writerow(
            _cell(value)
            for value in (
                shown["created_at"],
                shown["finished_at"],
                shown["agent"],
                shown["item"],
                format_minor(payment.amount_minor, payment.currency).split()[0],
                payment.currency,
                shown["outcome"] or "in_progress",
                shown["paid_with"],
                shown["transaction_id"],
                format_minor(shown["refunded_minor"], payment.currency).split()[0]
                if shown["refunded_minor"]
                else "",
                shown["reason"],
                shown["id"],
                shown["call"],
            )
        )
    await console.audit(
        caller.account.name,
        "report.exported",
        True,
        request,
        f"payments:{agent or 'all'}",
        detail=f"{len(payments)} rows",
    )
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="payivr-payments.csv"'},
    )


def _cell(value: object) -> str:
    """A spreadsheet cell: text a spreadsheet would run as a formula starts with a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


FILTER_PARAMETERS = [
    {
        "name": "from",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "format": "date"},
        "description": "First day (UTC), included.",
    },
    {
        "name": "to",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "format": "date"},
        "description": "Last day (UTC), included.",
    },
    {
        "name": "outcome",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": list(OUTCOME_FILTERS)},
    },
    {
        "name": "agent",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "Supervisors: only this agent's (agents always get their own).",
    },
]

_ERRORS = {
    **COMMON_ERRORS,
    422: "A filter is wrong; the message says which.",
}

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Totals": {
        "type": "object",
        "required": ["payments", "finished", "approved", "success_rate", "approved_amounts"],
        "properties": {
            "payments": {"type": "integer"},
            "finished": {"type": "integer"},
            "approved": {"type": "integer"},
            "success_rate": {
                "type": "number",
                "nullable": True,
                "description": "approved / finished (null with none finished).",
            },
            "approved_amounts": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Taken, per currency: ['1374.20 USD'].",
            },
        },
    },
}


def openapi_paths() -> dict[str, Any]:
    agent_totals = {
        "allOf": [
            schema_ref("Totals"),
            {"type": "object", "required": ["agent"], "properties": {"agent": {"type": "string"}}},
        ]
    }
    day_totals = {
        "allOf": [
            schema_ref("Totals"),
            {
                "type": "object",
                "required": ["day"],
                "properties": {"day": {"type": "string", "format": "date"}},
            },
        ]
    }
    return {
        "/api/v1/reports/payments": {
            "get": operation(
                "Totals of the payments the filters select: overall, per agent and "
                "per day (UTC), with the success rate",
                "paymentTotals",
                json_content(
                    object_schema(
                        ["total", "agents", "days"],
                        {
                            "total": schema_ref("Totals"),
                            "agents": {"type": "array", "items": agent_totals},
                            "days": {"type": "array", "items": day_totals},
                        },
                    ),
                    "The totals.",
                ),
                error_responses(_ERRORS, 401, 422),
                parameters=FILTER_PARAMETERS,
            )
        },
        "/api/v1/reports/payments.csv": {
            "get": operation(
                f"The payments the filters select as CSV, newest first (at most "
                f"{MAX_EXPORT}); no card data: the card as brand and last four",
                "exportPayments",
                {
                    "description": "One payment a row; columns: " + ", ".join(CSV_COLUMNS),
                    "content": {"text/csv": {"schema": {"type": "string"}}},
                },
                error_responses(_ERRORS, 401, 422),
                parameters=FILTER_PARAMETERS,
            )
        },
    }
