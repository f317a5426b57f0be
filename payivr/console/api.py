"""The REST API ``/api/v1`` and the event WebSocket; the browser console uses the same API.

Authorization is the same whichever way the caller signed in: an agent sees and acts on
their own calls and payments only (their softphone endpoint, their name on the payment); a
supervisor sees all calls, the whole history and the audit trail. Another agent's call or
payment answers 404, exactly as one that does not exist. Every action is audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
import uuid
from typing import Any, TypeVar

import structlog
from aiohttp import WSMsgType, web

from payivr.calls.payment import PaymentRefused
from payivr.calls.requests import PaymentRequest, RequestRefused
from payivr.calls.views import CallInfo
from payivr.console.accounts import Account
from payivr.console.amounts import parse_amount
from payivr.console.context import (
    Console,
    console_of,
    json_object,
    limit_param,
    optional_string,
    request_caller,
)
from payivr.console.live import SESSION_ENDED
from payivr.console.security import ApiError, Caller, check_same_origin
from payivr.console.shapes import call_json, payment_json
from payivr.core.amounts import format_minor
from payivr.core.events import PaymentMethod
from payivr.core.prompts import CURRENCIES, LANGUAGES
from payivr.core.redact import has_digit_run, has_pan
from payivr.core.request import PrivacyMode
from payivr.core.steps import SPECS
from payivr.store.database import Database
from payivr.store.errors import PaymentNotFound
from payivr.store.models import Payment

log = structlog.get_logger(__name__)

WS_HEARTBEAT = 30.0
SESSION_ENDED_CLOSE_CODE = 4401  # the WebSocket's session ended (signed out, idle, reset)
_CALL_KEY = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
_Choice = TypeVar("_Choice", bound=enum.Enum)
_FIELD_WORDS = {"privacy_mode": "privacy mode", "method": "payment method"}


# ------------------------------------------------------------------ calls


async def _agents_call(console: Console, account: Account) -> CallInfo | None:
    """The call the account's agent is on, on any of their phones."""
    for endpoint in await console.accounts.endpoints_of(account):
        info = await console.calls.current_call(endpoint)
        if info is not None:
            return info
    return None


async def current_call(request: web.Request) -> web.Response:
    console = console_of(request)
    caller = await request_caller(request)
    info = await _agents_call(console, caller.account)
    live = None
    if info is not None and info.payment_id is not None:
        payment = console.hub.live_payment(info.payment_id)
        live = payment.as_json() if payment else None
    return web.json_response({"call": call_json(info) if info else None, "live_payment": live})


async def list_calls(request: web.Request) -> web.Response:
    console = console_of(request)
    caller = await request_caller(request)
    account = caller.account
    calls = await console.calls.active_calls()
    if not account.is_supervisor:
        endpoints = await console.accounts.endpoints_of(account)
        calls = [info for info in calls if info.agent_endpoint in endpoints]
    return web.json_response({"calls": [call_json(info) for info in calls]})


# ------------------------------------------------------------------ payments


def _one_of(kind: type[_Choice], body: dict[str, Any], name: str, default: _Choice) -> _Choice:
    """The request field ``name`` as one of ``kind``'s values (``default`` when absent)."""
    value = body.get(name, default.value)
    for member in kind:
        if member.value == value:
            return member
    words = _FIELD_WORDS.get(name, name)
    raise RequestRefused(f"the {words} must be one of {', '.join(m.value for m in kind)}")


def _payment_request(console: Console, body: dict[str, Any], agent: str) -> PaymentRequest:
    item = body.get("item")
    if not isinstance(item, str):
        raise RequestRefused(
            "the item name is empty" if item is None else "the item name must be text"
        )
    currency = body.get("currency", console.currency)
    if not isinstance(currency, str) or currency not in CURRENCIES:
        raise RequestRefused(f"the currency must be one of {', '.join(sorted(CURRENCIES))}")
    if "amount" not in body:
        raise RequestRefused("the amount is missing")
    amount_minor = parse_amount(body["amount"], currency)
    privacy_mode = _one_of(PrivacyMode, body, "privacy_mode", console.privacy_mode)
    method = _one_of(PaymentMethod, body, "method", PaymentMethod.CARD)
    crm_record_id = optional_string(body, "crm_record_id", 200)
    language = body.get("language")
    if language is not None and (not isinstance(language, str) or language not in LANGUAGES):
        raise RequestRefused(f"the language must be one of {', '.join(LANGUAGES)}")
    offer_card_on_file = body.get("offer_card_on_file")
    if offer_card_on_file is not None and not isinstance(offer_card_on_file, bool):
        raise RequestRefused("offer_card_on_file must be true or false")
    # What could be a card number is never stored, so it is refused here with a reason.
    if has_digit_run(item):
        raise RequestRefused("the item name cannot contain 7 or more digits in a row")
    if has_pan(crm_record_id):
        raise RequestRefused("the CRM record id looks like a card number")
    request = PaymentRequest(
        item.strip(),
        amount_minor,
        currency,
        agent,
        privacy_mode=privacy_mode,
        language=language,
        crm_record_id=crm_record_id,
        method=method,
        offer_card_on_file=offer_card_on_file,
    )
    request.check(console.max_amount_minor)
    return request


async def request_payment(request: web.Request) -> web.Response:
    console = console_of(request)
    caller = await request_caller(request)
    account = caller.account
    body = await json_object(request)
    target = body.get("call", "current")
    if not isinstance(target, str) or not (target == "current" or _CALL_KEY.match(target)):
        raise ApiError(422, "invalid_request", "call must be 'current' or a call key")
    resource = f"call:{target}"
    try:
        payment = _payment_request(console, body, account.name)
    except RequestRefused as refused:
        await console.audit(
            account.name, "payment.request", False, request, resource, detail=str(refused)
        )
        raise ApiError(422, "invalid_request", str(refused)) from None
    try:
        if target == "current":
            if account.endpoint is None:
                raise ApiError(409, "no_endpoint", "your account has no softphone endpoint")
            info = await _agents_call(console, account)
            if info is None or info.agent_endpoint is None:
                raise ApiError(409, "no_call", "you are not on a call right now")
            resource = f"call:{info.call_key}"
            structlog.contextvars.bind_contextvars(call_id=info.call_key)
            payment_id = await console.calls.request_for_agent(info.agent_endpoint, payment)
        else:
            info = await console.calls.call(target)
            if info is None or not (
                account.is_supervisor
                or info.agent_endpoint in await console.accounts.endpoints_of(account)
            ):
                raise ApiError(404, "unknown_call", "there is no such call")
            structlog.contextvars.bind_contextvars(call_id=info.call_key)
            payment_id = await console.calls.request_on_call(target, payment)
    except ApiError as error:
        await console.audit(
            account.name, "payment.request", False, request, resource, detail=error.message
        )
        raise
    except RequestRefused as refused:
        await console.audit(
            account.name, "payment.request", False, request, resource, detail=str(refused)
        )
        raise ApiError(422, "invalid_request", str(refused)) from None
    except PaymentRefused as refused:
        await console.audit(
            account.name, "payment.request", False, request, resource, detail=str(refused)
        )
        raise ApiError(409, "payment_refused", str(refused)) from None
    except LookupError:
        await console.audit(
            account.name, "payment.request", False, request, resource, detail="unknown call"
        )
        raise ApiError(404, "unknown_call", "the call has ended or is not known") from None
    structlog.contextvars.bind_contextvars(payment_id=payment_id)
    await console.audit(
        account.name,
        "payment.requested",
        True,
        request,
        resource,
        payment_id=payment_id,
        detail=f"{format_minor(payment.amount_minor, payment.currency)} via {caller.via}",
    )
    log.info("payment_requested_from_console", via=caller.via)
    return web.json_response(
        {
            "payment": payment_id,
            "call": info.call_key,
            "amount": format_minor(payment.amount_minor, payment.currency),
            "status_url": f"/api/v1/payments/{payment_id}",
        },
        status=201,
    )


async def visible_payment(request: web.Request, caller: Caller) -> Payment:
    console = console_of(request)
    text = request.match_info["payment_id"]
    try:
        payment_id = uuid.UUID(text)
    except ValueError:
        raise ApiError(404, "unknown_payment", "there is no such payment") from None
    try:
        payment = await console.store.get_payment(payment_id)
    except PaymentNotFound:
        raise ApiError(404, "unknown_payment", "there is no such payment") from None
    if not caller.account.is_supervisor and payment.agent != caller.account.name:
        await console.audit(
            caller.account.name,
            "payment.denied",
            False,
            request,
            f"payment:{payment_id}",
            payment_id=str(payment_id),
        )
        raise ApiError(404, "unknown_payment", "there is no such payment")
    structlog.contextvars.bind_contextvars(payment_id=str(payment.id), call_id=payment.call_id)
    return payment


async def payment_status(request: web.Request) -> web.Response:
    console = console_of(request)
    caller = await request_caller(request)
    payment = await visible_payment(request, caller)
    reversals = await console.reversals.for_payments([payment.id])
    return web.json_response(payment_json(payment, reversals[payment.id], console.hub))


async def cancel_payment(request: web.Request) -> web.Response:
    console = console_of(request)
    caller = await request_caller(request)
    payment = await visible_payment(request, caller)
    payment_id = str(payment.id)
    resource = f"payment:{payment_id}"
    if payment.outcome is not None and not payment.needs_reconciliation:
        await console.audit(
            caller.account.name,
            "payment.cancel",
            False,
            request,
            resource,
            payment_id=payment_id,
            detail="already finished",
        )
        raise ApiError(409, "payment_finished", "the payment has already finished")
    cancelled = await console.calls.cancel_payment(payment_id)
    await console.audit(
        caller.account.name,
        "payment.cancel",
        cancelled,
        request,
        resource,
        payment_id=payment_id,
        detail=f"via {caller.via}" if cancelled else "not in progress",
    )
    if not cancelled:
        raise ApiError(409, "payment_not_in_progress", "the payment is not in progress any more")
    log.info("payment_cancel_requested", via=caller.via)
    return web.json_response({"payment": payment_id, "cancelling": True}, status=202)


async def reask_step(request: web.Request) -> web.Response:
    """The agent sends the caller back to one step (``{"step": "expiry"}``): it and the
    steps after it are keyed again. Who may: as for a cancel."""
    console = console_of(request)
    caller = await request_caller(request)
    payment = await visible_payment(request, caller)
    payment_id = str(payment.id)
    body = await json_object(request)
    keyed = [step.value for step in SPECS]
    step = next((step for step in SPECS if step.value == body.get("step")), None)
    if step is None:
        raise ApiError(422, "invalid_request", f"step must be one of {', '.join(keyed)}")
    if payment.outcome is not None and not payment.needs_reconciliation:
        raise ApiError(409, "payment_finished", "the payment has already finished")
    asked = await console.calls.reask_step(payment_id, step)
    await console.audit(
        caller.account.name,
        "payment.reask",
        asked,
        request,
        f"payment:{payment_id}",
        payment_id=payment_id,
        detail=step.value if asked else f"{step.value}: not where it can be asked again",
    )
    if not asked:
        raise ApiError(
            409,
            "step_not_available",
            "the caller is not where this step can be asked again (not reached yet, not "
            "asked in this payment, or the payment is already being charged)",
        )
    return web.json_response({"payment": payment_id, "step": step.value}, status=202)


async def audit_trail(request: web.Request) -> web.Response:
    console = console_of(request)
    caller = await request_caller(request)
    account = caller.account
    if not account.is_supervisor:
        await console.audit(account.name, "audit.viewed", False, request, "audit")
        raise ApiError(403, "forbidden", "only supervisors can see the audit trail")
    limit = limit_param(request)
    events = await _latest_audit(console.db, limit)
    await console.audit(account.name, "audit.viewed", True, request, "audit")
    return web.json_response({"events": events})


async def _latest_audit(db: Database, limit: int) -> list[dict[str, Any]]:
    """The newest audit events first (the store lists oldest first, for exports)."""
    async with db.pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, occurred_at, actor, action, success, origin, resource, payment_id, detail"
            " FROM audit_events ORDER BY id DESC LIMIT %s",
            (limit,),
        )
        rows = await cursor.fetchall()
    return [
        {
            "id": row[0],
            "occurred_at": row[1].isoformat(),
            "actor": row[2],
            "action": row[3],
            "success": row[4],
            "origin": row[5],
            "resource": row[6],
            "payment": str(row[7]) if row[7] else None,
            "detail": row[8],
        }
        for row in rows
    ]


# ------------------------------------------------------------------ events


async def events(request: web.Request) -> web.StreamResponse:
    """WebSocket: a ``hello`` with the payments in progress, then every event one may see."""
    console = console_of(request)
    check_same_origin(request)  # a WebSocket is not covered by SameSite on every browser
    caller = await request_caller(request)
    socket = web.WebSocketResponse(heartbeat=WS_HEARTBEAT)
    await socket.prepare(request)
    await console.audit(caller.account.name, "events.subscribed", True, request, "events")
    async with console.hub.listen(caller.account, caller.credential) as queue:
        await socket.send_json(
            {"type": "hello", "live_payments": console.hub.live_payments(caller.account)}
        )
        reader = asyncio.create_task(_drain_client(socket))
        try:
            while not reader.done():
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                event = getter.result()
                if event is SESSION_ENDED:
                    await socket.send_json(event)
                    await socket.close(code=SESSION_ENDED_CLOSE_CODE, message=b"session ended")
                    break
                if event is None:
                    if console.hub.closing:
                        await socket.close(code=1001, message=b"server shutting down")
                    else:
                        await socket.close(code=1013, message=b"too slow")
                    break
                await socket.send_json(event)
        except (ConnectionResetError, RuntimeError):
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    await socket.close()
    return socket


async def _drain_client(socket: web.WebSocketResponse) -> None:
    """The client sends nothing we use; read until it closes."""
    async for message in socket:
        if message.type == WSMsgType.ERROR:
            break


def route_table() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/calls", list_calls),
        web.get("/api/v1/calls/current", current_call),
        web.post("/api/v1/payments", request_payment),
        web.get("/api/v1/payments/{payment_id}", payment_status),
        web.post("/api/v1/payments/{payment_id}/cancel", cancel_payment),
        web.post("/api/v1/payments/{payment_id}/reask", reask_step),
        web.get("/api/v1/audit", audit_trail),
        web.get("/api/v1/events", events),
    ]
