"""What every ``/api/v1`` handler starts from: the :class:`Console`, who is calling, and the
request's JSON body and query."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from aiohttp import web

from payivr import jsontext
from payivr.console.accounts import Account, Accounts
from payivr.console.live import EventHub
from payivr.console.metrics import Metrics
from payivr.console.ports import CallControl, HealthCheck
from payivr.console.security import ApiError, Caller, authenticate, origin_of
from payivr.console.throttle import AddressThrottle
from payivr.core.redact import redact_card_data
from payivr.core.request import PrivacyMode
from payivr.store.database import Database
from payivr.store.models import Clock, Origin, utc_now
from payivr.store.payments import PaymentStore
from payivr.store.reversals import ReversalStore

MAX_LIST = 500
_Service = TypeVar("_Service")


@dataclass
class Console:
    """Everything the handlers share (one per application)."""

    db: Database
    accounts: Accounts
    store: PaymentStore
    calls: CallControl
    hub: EventHub
    metrics: Metrics
    checks: dict[str, HealthCheck]
    currency: str
    max_amount_minor: int
    privacy_mode: PrivacyMode
    language: str
    reversals: ReversalStore
    throttle: AddressThrottle
    clock: Clock = utc_now
    check_timeout: float = 3.0

    async def audit(
        self,
        actor: str,
        action: str,
        success: bool,
        request: web.Request,
        resource: str,
        *,
        payment_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        await self.store.append_audit(
            actor=actor,
            action=action,
            success=success,
            origin=Origin.ip(origin_of(request)),
            resource=redact_card_data(resource),
            payment_id=uuid.UUID(payment_id) if payment_id else None,
            detail=redact_card_data(detail) if detail else None,
        )


CONSOLE_KEY = web.AppKey("console", Console)


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE_KEY]


async def request_caller(request: web.Request) -> Caller:
    console = console_of(request)
    try:
        caller = await authenticate(request, console.accounts)
    except ApiError as error:
        if request.headers.get("Authorization"):
            await console.audit("unknown", "api_token.refused", False, request, request.path)
        raise error
    if caller.via == "token":
        await console.audit(
            caller.account.name, "api_token.used", True, request, f"{request.method} {request.path}"
        )
    structlog.contextvars.bind_contextvars(actor=caller.account.name)
    return caller


async def json_object(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "not_json", "send the request body as application/json")
    try:
        body = jsontext.loads(await request.read())
    except jsontext.BadJson as bad:
        raise ApiError(400, "bad_json", str(bad)) from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "the request body must be a JSON object")
    return body


def optional_string(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(422, "invalid_request", f"{name} must be a string")
    if len(value) > limit:
        raise ApiError(422, "invalid_request", f"{name} must have at most {limit} characters")
    return value


def limit_param(request: web.Request) -> int:
    text = request.query.get("limit", "100")
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIST:
        raise ApiError(422, "invalid_request", f"limit must be a whole number from 1 to {MAX_LIST}")
    return int(text)


def listed_agent(request: web.Request, account: Account) -> str | None:
    """Whose records a listing shows: an agent's own; a supervisor's choice (``?agent=``), or
    everyone's (None)."""
    if account.is_supervisor:
        return request.query.get("agent") or None
    return account.name


class OptionalService(Generic[_Service]):
    """A part of payivr the console serves only when it is configured (texts, outbound
    calls). Its routes are always there (they are in the OpenAPI document); without the
    service they answer 404 ``code``."""

    def __init__(self, name: str, kind: type[_Service], code: str, message: str) -> None:
        self.key = web.AppKey(name, kind)
        self._code = code
        self._message = message

    def install(
        self, app: web.Application, service: _Service | None, routes: list[web.RouteDef]
    ) -> None:
        if service is not None:
            app[self.key] = service
        app.router.add_routes(routes)

    def of(self, request: web.Request) -> _Service:
        service = request.app.get(self.key)
        if service is None:
            raise ApiError(404, self._code, self._message)
        return service

    async def posted(self, request: web.Request) -> tuple[Caller, _Service, dict[str, Any]]:
        """For a ``POST`` to the service: the signed-in caller, the service and the JSON body."""
        caller = await request_caller(request)
        service = self.of(request)
        return caller, service, await json_object(request)

    async def listing(self, request: web.Request) -> tuple[_Service, str | None, int]:
        """For a listing of the service's records by the signed-in caller: the service, whose
        records (:func:`listed_agent`) and how many (``?limit=``)."""
        caller = await request_caller(request)
        service = self.of(request)
        return service, listed_agent(request, caller.account), limit_param(request)
