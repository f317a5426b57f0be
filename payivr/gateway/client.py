"""The encrypted HTTP gateway client: payivr's generic connector.

Card fields leave as a JWE for the gateway's public key; every request is signed
(Standard Webhooks style) and carries ``Idempotency-Key`` (the payment id); TLS always
verifies the gateway's certificate, and plain ``http://`` is refused.

Never charging twice is the rule everything here serves:

* A request is retried (same key, same body) only when it certainly did not reach the
  gateway (the connection failed before a byte was written), or when the gateway said it
  did not process it (5xx, 409 same key in flight, 429), honouring ``Retry-After``.
* Once a request may have reached the gateway and no answer came back (timeout or
  connection dropped after sending), the outcome is *unknown*: the client asks for the
  status by key, and if that does not settle it the result is :class:`Unknown` (needs
  reconciliation). It never sends the charge again.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog

from payivr.core.errors import PayivrError
from payivr.core.events import BankAccountDetails, CardDetails
from payivr.gateway import signing, wire
from payivr.gateway.interface import (
    Approved,
    Declined,
    Error,
    GatewayResult,
    RequestNotFound,
    StatusResult,
    Unknown,
    check_amount,
)
from payivr.gateway.jwe import EncryptionKey, KeyConfigError, encrypt_bank_account, encrypt_card
from payivr.gateway.transport import (
    AiohttpTransport,
    Exchange,
    Lost,
    NotSent,
    Refused,
    Reply,
    Request,
    Timeouts,
    Transport,
    TransportClient,
    verified_tls,
)

log = structlog.get_logger(__name__)


class GatewayConfigError(PayivrError, ValueError):
    """The gateway settings are unusable; the message says which and why."""


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    """Attempts of one request in all (first try included)."""
    backoff: float = 0.25
    """First wait in seconds; doubles per attempt, with jitter, up to ``max_backoff``."""
    max_backoff: float = 5.0
    max_retry_after: float = 30.0
    """A longer ``Retry-After`` ends the retries instead of blocking the caller."""
    status_queries: int = 3
    """Status queries after an unknown outcome, ``status_interval`` apart (doubling)."""
    status_interval: float = 0.5

    def wait(self, attempt: int) -> float:
        base: float = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return base * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class HttpGatewayConfig:
    url: str
    encryption_key: EncryptionKey
    signing_secret: str = field(repr=False)
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = RetryPolicy()

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme != "https":
            raise GatewayConfigError(
                f"the gateway url must start with https:// (got {parts.scheme or 'no'} scheme): "
                "card data is only ever sent over verified TLS"
            )
        if not parts.hostname or parts.query or parts.fragment or parts.username:
            raise GatewayConfigError("the gateway url must be https://host[:port][/path]")
        try:
            signing.decode_secret(self.signing_secret)
        except ValueError as exc:
            raise GatewayConfigError(f"the gateway signing secret is unusable: {exc}") from None
        for name in ("ca_bundle", "client_cert", "client_key"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise GatewayConfigError(f"gateway {name} file not found: {path}")
        if self.client_key is not None and self.client_cert is None:
            raise GatewayConfigError("a gateway client_key needs a client_cert")

    @classmethod
    def from_values(
        cls,
        *,
        url: str,
        public_key: str | Path,
        signing_secret: str,
        kid: str | None = None,
        ca_bundle: str | Path | None = None,
        client_cert: str | Path | None = None,
        client_key: str | Path | None = None,
        connect_timeout: float = 5.0,
        send_timeout: float = 5.0,
        read_timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> HttpGatewayConfig:
        """From plain config values. ``public_key``: a PEM/JWK/JWKS file, or inline PEM/JWK."""
        try:
            key = EncryptionKey.load(public_key, kid)
        except KeyConfigError as exc:
            raise GatewayConfigError(f"gateway public key: {exc}") from None
        return cls(
            url=url,
            encryption_key=key,
            signing_secret=signing_secret,
            ca_bundle=Path(ca_bundle) if ca_bundle else None,
            client_cert=Path(client_cert) if client_cert else None,
            client_key=Path(client_key) if client_key else None,
            timeouts=Timeouts(connect_timeout, send_timeout, read_timeout),
            retry=retry or RetryPolicy(),
        )

    def ssl_context(self) -> ssl.SSLContext:
        """:func:`verified_tls` against ``ca_bundle``, with the client certificate if set."""
        try:
            context = verified_tls(str(self.ca_bundle) if self.ca_bundle else None)
            if self.client_cert is not None:
                context.load_cert_chain(
                    self.client_cert, self.client_key if self.client_key else None
                )
        except (ssl.SSLError, OSError) as exc:
            raise GatewayConfigError(f"gateway TLS files unusable: {exc}") from None
        return context


class HttpGateway(TransportClient):
    """The :class:`~payivr.gateway.interface.Gateway` over HTTPS. Use ``async with`` or
    call :meth:`close`."""

    def __init__(
        self,
        config: HttpGatewayConfig,
        *,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(
            transport
            or AiohttpTransport(
                config.url, config.ssl_context(), config.timeouts, peer="the payment service"
            )
        )
        self._config = config
        self._signer = signing.Signer(signing.decode_secret(config.signing_secret), clock)
        self._sleep = sleep
        self._sandbox_seen = False

    # ----------------------------------------------------------------- the Gateway API

    async def sale(
        self,
        card: CardDetails,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        *,
        store_card: bool = False,
    ) -> GatewayResult:
        token = self._sealed(card, idempotency_key, (amount_minor, currency))
        body = {"amount_minor": amount_minor, "currency": currency, "card": token}
        if store_card:
            body["store_card"] = True
        return await self._post(wire.SALES_PATH, body, idempotency_key)

    async def debit_bank_account(
        self,
        account: BankAccountDetails,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
    ) -> GatewayResult:
        encrypted = self._sealed(account, idempotency_key, (amount_minor, currency))
        body = {"amount_minor": amount_minor, "currency": currency, "bank_account": encrypted}
        return await self._post(wire.SALES_PATH, body, idempotency_key)

    async def sale_with_token(
        self, token: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> GatewayResult:
        check_amount(amount_minor, currency)
        wire.check_idempotency_key(idempotency_key)
        body = {"amount_minor": amount_minor, "currency": currency, "token": token}
        return await self._post(wire.SALES_PATH, body, idempotency_key)

    async def tokenize(self, card: CardDetails, idempotency_key: str) -> GatewayResult:
        token = self._sealed(card, idempotency_key, None)
        return await self._post(wire.TOKENS_PATH, {"card": token}, idempotency_key)

    async def void(self, reference: str, idempotency_key: str) -> GatewayResult:
        wire.check_idempotency_key(idempotency_key)
        return await self._post(wire.void_path(reference), {}, idempotency_key)

    async def refund(
        self, reference: str, amount_minor: int, idempotency_key: str
    ) -> GatewayResult:
        wire.check_idempotency_key(idempotency_key)
        if isinstance(amount_minor, bool) or amount_minor <= 0:
            raise ValueError("a refund amount is a positive number of minor units")
        return await self._post(
            wire.refund_path(reference), {"amount_minor": amount_minor}, idempotency_key
        )

    async def status(self, idempotency_key: str) -> StatusResult:
        wire.check_idempotency_key(idempotency_key)
        answer = await self._query_status(idempotency_key)
        if isinstance(answer, wire.Processing):
            return Unknown("the gateway is still processing this payment")
        return answer

    async def check(self) -> Error | None:
        """Probe the gateway (TLS, client certificate, signature) with a status query for a
        key that cannot exist: ``None`` when all is well, else what is wrong. Call it at
        start, so a bad setup shows before a caller keys a card."""
        answer = await self._query_status("payivr-connectivity-check")
        if isinstance(answer, RequestNotFound):
            return None
        if isinstance(answer, Error):
            return answer
        return Error("the gateway answered the connectivity check unexpectedly", False)

    def _sealed(
        self,
        details: CardDetails | BankAccountDetails,
        idempotency_key: str,
        charge: tuple[int, str] | None,
    ) -> str:
        """``details`` as a JWE for the gateway, once the key and the ``charge`` (amount and
        currency) pass their checks; the details are wiped whatever happens."""
        try:
            if charge is not None:
                check_amount(*charge)
            wire.check_idempotency_key(idempotency_key)
            if isinstance(details, BankAccountDetails):
                return encrypt_bank_account(details, self._config.encryption_key)
            return encrypt_card(details, self._config.encryption_key)
        finally:
            details.wipe()

    # ----------------------------------------------------------------- retries

    async def _post(self, path: str, payload: dict[str, Any], key: str) -> GatewayResult:
        body = json.dumps(payload, separators=(",", ":")).encode()
        del payload
        policy = self._config.retry
        reason = "the payment service could not be reached"
        ask_status_at_end = False
        for attempt in range(1, policy.attempts + 1):
            exchange = await self._exchange("POST", path, body, key)
            wait = policy.wait(attempt)
            match exchange:
                case Refused(reason=problem):
                    return Error(problem, retryable=False)
                case Lost(reason=problem):
                    log.warning("gateway.outcome_unknown", idempotency_key=key, problem=problem)
                    return await self._settle(key, problem, not_found_means_unsent=False)
                case NotSent(reason=problem):
                    reason = problem
                case Reply():
                    try:
                        result = wire.interpret(
                            exchange.status, exchange.json(), exchange.retry_after()
                        )
                    except wire.ProtocolError as exc:
                        log.warning(
                            "gateway.unreadable_answer", idempotency_key=key, problem=str(exc)
                        )
                        return await self._settle(key, str(exc), not_found_means_unsent=False)
                    if not isinstance(result, wire.Retry):
                        return result
                    reason = result.reason
                    ask_status_at_end = ask_status_at_end or exchange.status != 429
                    if result.retry_after is not None:
                        if result.retry_after > policy.max_retry_after:
                            break
                        wait = result.retry_after
            if attempt < policy.attempts:
                log.info(
                    "gateway.retrying",
                    idempotency_key=key,
                    attempt=attempt,
                    wait=round(wait, 3),
                    reason=reason,
                )
                await self._sleep(wait)
        if ask_status_at_end:
            # A 5xx or 409 may hide a request the gateway is processing or did process.
            return await self._settle(key, reason, not_found_means_unsent=True)
        return Error(reason, retryable=True)

    async def _settle(
        self, key: str, reason: str, *, not_found_means_unsent: bool
    ) -> GatewayResult:
        """Ask for the outcome by key; never send the request again."""
        policy = self._config.retry
        for query in range(policy.status_queries):
            if query:
                await self._sleep(policy.status_interval * 2 ** (query - 1))
            answer = await self._query_status(key)
            match answer:
                case Approved() | Declined():
                    log.info(
                        "gateway.outcome_settled",
                        idempotency_key=key,
                        outcome=type(answer).__name__,
                    )
                    return answer
                case RequestNotFound() if not_found_means_unsent:
                    return Error(reason, retryable=True)
        log.error("gateway.needs_reconciliation", idempotency_key=key, reason=reason)
        return Unknown(f"{reason}; the payment needs reconciliation")

    async def _query_status(self, key: str) -> StatusResult | wire.Processing:
        policy = self._config.retry
        reason = "the payment service could not be reached"
        for attempt in range(1, policy.attempts + 1):
            wait = policy.wait(attempt)
            # A status query changes nothing, so a lost answer is simply asked again.
            exchange = await self._exchange("GET", wire.status_path(key), None, None)
            match exchange:
                case Refused(reason=problem):
                    return Error(problem, retryable=False)
                case NotSent(reason=problem) | Lost(reason=problem):
                    reason = problem
                case Reply():
                    try:
                        answer = wire.interpret_status(
                            exchange.status, exchange.json(), exchange.retry_after()
                        )
                    except wire.ProtocolError as exc:
                        return Error(str(exc), retryable=True)
                    if not isinstance(answer, wire.Retry):
                        return answer
                    reason = answer.reason
                    if answer.retry_after is not None:
                        wait = min(answer.retry_after, policy.max_retry_after)
            if attempt < policy.attempts:
                await self._sleep(wait)
        return Error(reason, retryable=True)

    # ----------------------------------------------------------------- one exchange

    async def _exchange(
        self, method: str, path: str, body: bytes | None, key: str | None
    ) -> Exchange:
        headers = {"Accept": "application/json", **self._signer.headers(body or b"")}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if key is not None:
            headers[wire.IDEMPOTENCY_HEADER] = key
        exchange = await self.transport.send(Request(method, path, headers, body))
        if not isinstance(exchange, Reply):
            return exchange
        if wire.SANDBOX_HEADER in exchange.headers and not self._sandbox_seen:
            self._sandbox_seen = True
            log.warning(
                "gateway_is_the_sandbox",
                url=self._config.url.rstrip("/"),
                warning="THE PAYMENT GATEWAY IS PAYIVR'S SANDBOX: it approves test"
                " cards and charges nothing. Never take real payments with it.",
            )
        log.info(
            "gateway.answer",
            method=method,
            path=path,
            idempotency_key=key,
            status=exchange.status,
            replayed=exchange.headers.get(wire.REPLAYED_HEADER) == "true",
        )
        return exchange
