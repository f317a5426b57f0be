"""Signing in and out of the console (``/api/v1/login``, ``logout``, ``me``) and a
supervisor unlocking an account."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from payivr.calls.requests import MAX_ITEM_LENGTH
from payivr.console.accounts import Account, AccountError, LoginRefused, check_name
from payivr.console.context import Console, console_of, json_object, request_caller
from payivr.console.passwords import LoginBusy
from payivr.console.security import (
    ApiError,
    check_same_origin,
    clear_session_cookie,
    origin_of,
    set_session_cookie,
)
from payivr.core.amounts import format_minor
from payivr.core.prompts import CURRENCIES, LANGUAGE_NAMES, LANGUAGES
from payivr.core.request import PrivacyMode


def _wait_before_signing_in(seconds: int) -> ApiError:
    return ApiError(
        429,
        "too_many_attempts",
        f"too many failed sign-ins from here: try again in {seconds} seconds",
        retry_after=seconds,
    )


async def login(request: web.Request) -> web.Response:
    """Every refusal is one of two answers whatever the name: 401 wrong name or password
    (unknown, wrong, disabled), or 429 wait (this address tried too often)."""
    console = console_of(request)
    check_same_origin(request)
    body = await json_object(request)
    name, password = body.get("name"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
        raise ApiError(422, "invalid_request", "give a name and a password")
    address = origin_of(request)
    wait = console.throttle.admit(address)
    if wait is not None:
        await console.audit("unknown", "login.throttled", False, request, "console")
        raise _wait_before_signing_in(wait)
    try:
        check_name(name)
    except AccountError:
        await console.audit("unknown", "login.failed", False, request, "console")
        raise ApiError(401, "login_failed", "wrong name or password") from None
    try:
        session = await console.accounts.login(name, password, address)
    except LoginBusy:
        await console.audit(name, "login.busy", False, request, "console")
        raise ApiError(
            503, "busy", "too many sign-ins at once: try again in a few seconds", retry_after=5
        ) from None
    except LoginRefused as refused:
        if refused.retry_after is not None:
            await console.audit(name, "login.throttled", False, request, "console")
            raise _wait_before_signing_in(refused.retry_after) from None
        await console.audit(name, "login.failed", False, request, "console")
        raise ApiError(401, "login_failed", "wrong name or password") from None
    await console.audit(name, "login.ok", True, request, "console")
    response = web.json_response(_me(console, session.account, session.csrf_token))
    set_session_cookie(request, response, session.token)
    return response


async def logout(request: web.Request) -> web.Response:
    console = console_of(request)
    caller = await request_caller(request)
    if caller.session_token is not None:
        await console.accounts.logout(caller.session_token)
        console.hub.end_sessions({caller.credential})
    await console.audit(caller.account.name, "logout", True, request, "console")
    response = web.json_response({"signed_out": True})
    clear_session_cookie(request, response)
    return response


def _me(console: Console, account: Account, csrf_token: str | None) -> dict[str, Any]:
    return {
        "name": account.name,
        "role": account.role.value,
        "endpoint": account.endpoint,
        "csrf_token": csrf_token,
        "currency": console.currency,
        "currencies": sorted(CURRENCIES),
        "privacy_mode": console.privacy_mode.value,
        "privacy_modes": [mode.value for mode in PrivacyMode],
        "languages": [{"code": code, "name": LANGUAGE_NAMES[code]} for code in LANGUAGES],
        "max_amount": format_minor(console.max_amount_minor, console.currency),
        "max_item_length": MAX_ITEM_LENGTH,
    }


async def me(request: web.Request) -> web.Response:
    caller = await request_caller(request)
    return web.json_response(_me(console_of(request), caller.account, caller.csrf_token))


async def unlock_agent(request: web.Request) -> web.Response:
    """A supervisor forgets the failed sign-ins on an account (``payivr agent unlock``)."""
    console = console_of(request)
    caller = await request_caller(request)
    name = request.match_info["name"]
    resource = f"account:{name}"
    if not caller.account.is_supervisor:
        await console.audit(caller.account.name, "account.unlock", False, request, resource)
        raise ApiError(403, "forbidden", "only supervisors can unlock accounts")
    try:
        forgotten = await console.accounts.unlock(name)
    except AccountError:
        raise ApiError(404, "unknown_account", "there is no such account") from None
    await console.audit(
        caller.account.name, "account.unlock", True, request, resource,
        detail=f"{forgotten} failed sign-in(s) forgotten",
    )  # fmt: skip
    return web.json_response({"name": name, "failures_forgotten": forgotten})


def route_table() -> list[web.RouteDef]:
    return [
        web.post("/api/v1/login", login),
        web.post("/api/v1/logout", logout),
        web.get("/api/v1/me", me),
        web.post("/api/v1/agents/{name}/unlock", unlock_agent),
    ]
