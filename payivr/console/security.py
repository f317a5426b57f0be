"""Who is asking, and the browser protections every answer carries.

Two ways in: a session cookie (browsers; HttpOnly, SameSite=Strict, Secure under TLS) or a
Bearer API token (integrations). With a cookie, every state-changing request must carry the
session's CSRF token in ``X-CSRF-Token`` (synchronizer token) and, when the browser sends
one, an ``Origin`` matching the host. Bearer requests carry no ambient credential, so they
need no CSRF token.

Behind a proxy that ends TLS, payivr sees plain HTTP on an internal host: ``public_url``
(``console.public_url``) says what browsers use, so cookies stay Secure, HSTS is sent and the
Origin expected is the public one; ``trusted_proxies`` are the addresses whose
``X-Forwarded-For`` names the client (for the sign-in limits and the audit), nobody else's.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

from aiohttp import web

from payivr.console.accounts import Account, Accounts
from payivr.console.passwords import token_digest
from payivr.core.errors import PayivrError

SESSION_COOKIE = "payivr_session"
CSRF_HEADER = "X-CSRF-Token"
AUTOMATIC_HEADER = "X-Payivr-Automatic"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "media-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


class ApiError(PayivrError):
    """An answer for the client: HTTP status, a stable code and a message for a person."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after  # seconds, sent as Retry-After


@dataclass(frozen=True)
class Caller:
    """The authenticated account behind a request and how it proved itself."""

    account: Account
    via: str  # "session" or "token"
    credential: bytes  # the digest of the session cookie or API token
    csrf_token: str | None = None
    session_token: str | None = None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Deployment:
    """Where browsers reach the console (see the module doc)."""

    public_url: str | None = None
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()

    @property
    def public_origin(self) -> str | None:
        if self.public_url is None:
            return None
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"


DEPLOYMENT_KEY = web.AppKey("deployment", Deployment)


def _deployment(request: web.Request) -> Deployment:
    return request.app.get(DEPLOYMENT_KEY) or Deployment()


def browser_uses_tls(request: web.Request) -> bool:
    """True when the browser's side is HTTPS: here, or at the TLS proxy in front."""
    public = _deployment(request).public_url
    return request.secure or (public is not None and public.startswith("https://"))


def origin_of(request: web.Request) -> str:
    """The client's address: the peer's, or, from a trusted proxy, the nearest address in its
    ``X-Forwarded-For`` that is not a trusted proxy itself ("unknown" if that is no address)."""
    remote = request.remote or "unknown"
    proxies = _deployment(request).trusted_proxies
    if not _within(remote, proxies):
        return remote
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
    for hop in reversed([hop.strip() for hop in forwarded.split(",") if hop.strip()]):
        if not _within(hop, proxies):
            return str(_ip(hop) or "unknown")
    return remote


def _ip(address: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(address)
    except ValueError:
        return None


def _within(address: str, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in network for network in networks)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:
        _protect(request, error)
        raise
    _protect(request, response)
    return response


def _protect(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if not request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    if browser_uses_tls(request):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


async def authenticate(request: web.Request, accounts: Accounts) -> Caller:
    """The caller of ``request``, or :class:`ApiError` 401; enforces CSRF for cookies."""
    authorization = request.headers.get("Authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", "use 'Authorization: Bearer <token>'")
        account = await accounts.account_for_token(token.strip())
        if account is None:
            raise ApiError(401, "unauthorized", "the API token is not valid")
        return Caller(account, "token", token_digest(token.strip()))
    cookie = request.cookies.get(SESSION_COOKIE)
    # The page marks what it fetches on its own (polling) so that idle time still counts.
    activity = request.method not in SAFE_METHODS or request.headers.get(AUTOMATIC_HEADER) != "1"
    session = await accounts.session(cookie, activity=activity) if cookie else None
    if session is None or cookie is None:
        raise ApiError(401, "unauthorized", "please sign in")
    caller = Caller(session.account, "session", token_digest(cookie), session.csrf_token, cookie)
    if request.method not in SAFE_METHODS:
        check_csrf(request, session.csrf_token)
    return caller


def check_same_origin(request: web.Request) -> None:
    """Refuse a browser request sent from another site's page."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    expected = _deployment(request).public_origin or f"{request.scheme}://{request.host}"
    if origin != expected:
        raise ApiError(403, "cross_origin", "requests from other sites are refused")


def check_csrf(request: web.Request, expected: str) -> None:
    check_same_origin(request)
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise ApiError(403, "csrf", f"missing or wrong {CSRF_HEADER} header; reload the page")


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=browser_uses_tls(request),
        path="/",
    )


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(
        SESSION_COOKIE, path="/", samesite="Strict", secure=browser_uses_tls(request)
    )
