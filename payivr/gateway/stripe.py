"""A Stripe adapter: the :class:`~payivr.gateway.interface.Gateway` over Stripe's
PaymentIntents API (https://docs.stripe.com/api/payment_intents).

What it sends (form-encoded POSTs to ``https://api.stripe.com/v1``, ``Authorization:
Bearer <secret key>``, ``Stripe-Version`` pinned, ``Idempotency-Key`` = payivr's payment id):

* sale: ``POST /v1/payment_intents`` with ``confirm=true``, ``capture_method=automatic``,
  ``payment_method_types[]=card``, the card as ``payment_method_data[card][...]``,
  ``metadata[payivr_payment_id]`` and ``expand[]=latest_charge`` (brand and last four);
  ``payment_method_options[card][moto]=true`` when the account may flag phone orders as MOTO.
  With ``store_card`` a Customer is created first and the PaymentIntent gets ``customer`` and
  ``setup_future_usage=off_session``; the token is ``"<cus_...>:<pm_...>"``.
* tokenize: a Customer, then a confirmed SetupIntent (``usage=off_session``) with the card.
* sale_with_token: a PaymentIntent with ``customer``, ``payment_method``, ``off_session=true``,
  ``confirm=true`` (a merchant-initiated charge of a card on file).
* void: ``POST /v1/payment_intents/{id}/cancel``; a PaymentIntent that already succeeded
  (automatic capture: every approved sale) cannot be cancelled, so it is refunded in full.
* refund: ``POST /v1/refunds`` with ``payment_intent`` and ``amount``.
* status: the Search API, ``metadata['payivr_payment_id']:'<key>'``.

Raw card data and PCI DSS. Stripe accepts card numbers from a server only once it has
enabled "raw card data APIs" for the account, which it does after seeing proof of PCI DSS
compliance; until then every sale answers "Sending credit card numbers directly to the
Stripe API is generally unsafe" (mapped to a clear :class:`Error`). Sending raw card data puts
payivr's host in scope for PCI DSS as a system that processes cardholder data (SAQ D for
merchants, not the smaller questionnaires hosted payment pages allow). Unlike the encrypted
connector, the digits pass through TLS and the HTTP client's buffers in clear inside the
process; payivr wipes its own copies (the card and the form body) but cannot wipe
aiohttp's or OpenSSL's. Flagging payments as MOTO also needs Stripe's approval.

Never charging twice: Stripe stores the answer to the first request with a key for at least
24 hours and replays it to any request with the same key and the same parameters
(https://docs.stripe.com/api/idempotent_requests). So, unlike the generic connector, this
adapter *does* send a request again after a lost answer (timeout or dropped connection
after sending): with the same key and body, that is Stripe's own way of asking what became
of it, and it cannot charge twice. The same holds for 409 (same key in flight), 429 (the
rate limiter runs before the idempotency layer) and 5xx, which are retried as Stripe's
SDKs do (``Stripe-Should-Retry`` honoured). The form body is kept, wiped in ``finally``,
only until the call returns. If no answer comes back at all, the Search API is asked; a
PaymentIntent is searchable within about a minute, so an unanswered search means
:class:`Unknown` (reconciliation), never "no money moved".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import structlog

from payivr.core.events import CardDetails
from payivr.gateway import stripe_wire as wire
from payivr.gateway.interface import (
    Declined,
    Error,
    GatewayResult,
    RequestNotFound,
    StatusResult,
    Unknown,
    check_amount,
)
from payivr.gateway.stripe_config import StripeConfig
from payivr.gateway.transport import (
    AiohttpTransport,
    Exchange,
    Lost,
    NotSent,
    Refused,
    Reply,
    Request,
    Transport,
    TransportClient,
    verified_tls,
)

log = structlog.get_logger(__name__)


# --------------------------------------------------------------------------- the gateway


@dataclass(frozen=True)
class _Unanswered:
    """No final answer. ``reached``: Stripe may have started on it (outcome unknown)."""

    reason: str
    reached: bool
    refused: bool = False


class StripeGateway(TransportClient):
    """The :class:`~payivr.gateway.interface.Gateway` over Stripe. ``transport`` replaces
    HTTPS (tests); use ``async with`` or call :meth:`close`."""

    def __init__(
        self,
        config: StripeConfig,
        *,
        transport: Transport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            transport
            or AiohttpTransport(
                config.api_base, verified_tls(), config.timeouts, peer="Stripe", keep_alive=True
            )
        )
        self._config = config
        self._sleep = sleep
        self._clock = clock
        self._sent_at: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"<StripeGateway {self._config.api_base} version={self._config.api_version}>"

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
        with wire.Form() as form:
            try:
                check_amount(amount_minor, currency)
                wire.check_idempotency_key(idempotency_key)
                form.add_card(card)
            finally:
                card.wipe()
            customer = await self._create_customer(idempotency_key) if store_card else None
            if customer is not None and not isinstance(customer, str):
                return customer
            self._intent_fields(form, amount_minor, currency, idempotency_key)
            if customer is not None:
                form.add("customer", customer).add("setup_future_usage", "off_session")
            if self._config.moto:
                form.add("payment_method_options[card][moto]", True)
            return await self._charge(form, idempotency_key)

    async def sale_with_token(
        self, token: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> GatewayResult:
        check_amount(amount_minor, currency)
        wire.check_idempotency_key(idempotency_key)
        customer, payment_method = wire.split_token(token)
        with wire.Form() as form:
            self._intent_fields(form, amount_minor, currency, idempotency_key)
            form.add("customer", customer).add("payment_method", payment_method)
            form.add("off_session", True)
            return await self._charge(form, idempotency_key)

    async def tokenize(self, card: CardDetails, idempotency_key: str) -> GatewayResult:
        with wire.Form() as form:
            try:
                wire.check_idempotency_key(idempotency_key)
                form.add_card(card)
            finally:
                card.wipe()
            customer = await self._create_customer(idempotency_key)
            if not isinstance(customer, str):
                return customer
            form.add("customer", customer).add("confirm", True).add("usage", "off_session")
            form.add("payment_method_types[]", "card")
            form.add(f"metadata[{wire.METADATA_KEY}]", idempotency_key)
            form.add("expand[]", "payment_method")
            if self._config.moto:
                form.add("payment_method_options[card][moto]", True)
            answer = await self._post("/v1/setup_intents", form, idempotency_key)
        return self._final(answer, wire.setup_result, idempotency_key)

    async def void(self, reference: str, idempotency_key: str) -> GatewayResult:
        wire.check_stripe_id(reference, "pi_", "a sale's reference")
        wire.check_idempotency_key(idempotency_key)
        path = f"/v1/payment_intents/{quote(reference, safe='')}/cancel"
        with wire.Form() as form:
            form.add("cancellation_reason", "requested_by_customer")
            answer = await self._post(path, form, idempotency_key)
        error = _error_of(answer) if isinstance(answer, Reply) else None
        already_captured = (
            error is not None
            and error.code == "payment_intent_unexpected_state"
            and error.payment_intent is not None
            and error.payment_intent.get("status") == "succeeded"
        )
        if not already_captured:
            return self._final(answer, wire.cancel_result, idempotency_key)
        log.info("stripe.void_as_refund", idempotency_key=idempotency_key)
        with wire.Form() as form:
            form.add("payment_intent", reference)
            form.add(f"metadata[{wire.METADATA_KEY}]", idempotency_key)
            answer = await self._post("/v1/refunds", form, f"{idempotency_key}:refund")
        return self._final(answer, wire.refund_result, idempotency_key)

    async def refund(
        self, reference: str, amount_minor: int, idempotency_key: str
    ) -> GatewayResult:
        wire.check_stripe_id(reference, "pi_", "a sale's reference")
        wire.check_idempotency_key(idempotency_key)
        if isinstance(amount_minor, bool) or amount_minor <= 0:
            raise ValueError("a refund amount is a positive number of minor units")
        with wire.Form() as form:
            form.add("payment_intent", reference).add("amount", amount_minor)
            form.add(f"metadata[{wire.METADATA_KEY}]", idempotency_key)
            answer = await self._post("/v1/refunds", form, idempotency_key)
        return self._final(answer, wire.refund_result, idempotency_key)

    async def status(self, idempotency_key: str) -> StatusResult:
        """What became of the charge (sale or token sale) sent with this key, from the
        Search API. A miss is :class:`RequestNotFound` only when this adapter did not send the key
        within ``search_lag`` seconds: Stripe's search index trails by up to a minute."""
        wire.check_idempotency_key(idempotency_key)
        found = await self._search(idempotency_key)
        if isinstance(found, Error):
            return found
        if found is not None:
            return _read_found(found)
        sent_at = self._sent_at.get(idempotency_key)
        if sent_at is not None and self._clock() - sent_at < self._config.search_lag:
            return Unknown("Stripe's search does not show this payment yet; ask again later")
        return RequestNotFound()

    async def check(self) -> Error | None:
        """Probe Stripe (TLS, the secret key, the API version) with a search that finds
        nothing: ``None`` when all is well, else what is wrong. Call it at start."""
        found = await self._search("payivr-connectivity-check")
        if isinstance(found, Error):
            return found
        return None

    # ----------------------------------------------------------------- requests

    def _intent_fields(self, form: wire.Form, amount: int, currency: str, key: str) -> None:
        form.add("amount", amount).add("currency", currency.lower())
        form.add("confirm", True).add("capture_method", "automatic")
        form.add("payment_method_types[]", "card")
        form.add(f"metadata[{wire.METADATA_KEY}]", key)
        form.add("expand[]", "latest_charge")

    async def _create_customer(self, key: str) -> str | GatewayResult:
        """A Customer to hold a stored card. Nothing is charged, so a failure is an Error."""
        with wire.Form() as form:
            form.add(f"metadata[{wire.METADATA_KEY}]", key)
            answer = await self._post("/v1/customers", form, f"{key}:customer")
        if isinstance(answer, _Unanswered):
            return Error(answer.reason, retryable=not answer.refused)
        if answer.status != 200:
            return self._refusal(answer, key)
        try:
            return wire.object_id(answer.json(), "customer")
        except wire.StripeProtocolError as exc:
            return Error(str(exc), retryable=True)

    async def _charge(self, form: wire.Form, key: str) -> GatewayResult:
        answer = await self._post("/v1/payment_intents", form, key)
        if isinstance(answer, _Unanswered) and answer.reached:
            return await self._settle(key, answer.reason)
        if isinstance(answer, Reply) and answer.status == 200:
            try:
                return wire.intent_result(answer.json())
            except wire.StripeProtocolError as exc:
                log.warning("stripe.unreadable_answer", idempotency_key=key, problem=str(exc))
                return await self._settle(key, str(exc))
        return self._final(answer, wire.intent_result, key)

    def _final(
        self, answer: Reply | _Unanswered, read: Callable[[Any], GatewayResult], key: str
    ) -> GatewayResult:
        if isinstance(answer, _Unanswered):
            if answer.reached:
                log.error("stripe.needs_reconciliation", idempotency_key=key, reason=answer.reason)
                return Unknown(f"{answer.reason}; the request needs reconciliation")
            return Error(answer.reason, retryable=not answer.refused)
        if answer.status == 200:
            try:
                return read(answer.json())
            except wire.StripeProtocolError as exc:
                log.error("stripe.needs_reconciliation", idempotency_key=key, reason=str(exc))
                return Unknown(f"{exc}; the request needs reconciliation")
        return self._refusal(answer, key)

    def _refusal(self, answer: Reply, key: str | None) -> Declined | Error:
        """A final 4xx: nothing happened (https://docs.stripe.com/error-low-level)."""
        error = _error_of(answer)
        if error is None:
            return Error(f"Stripe refused the request ({answer.status})", retryable=False)
        result = wire.error_result(error)
        log.info(
            "stripe.refused" if isinstance(result, Error) else "stripe.declined",
            idempotency_key=key,
            **error.log_fields,
        )
        return result

    async def _post(self, path: str, form: wire.Form, key: str) -> Reply | _Unanswered:
        """Send until Stripe gives a final answer, always with the same key and body."""
        policy = self._config.retry
        reason = "Stripe could not be reached"
        reached = False
        self._remember(key)
        for attempt in range(1, policy.attempts + 1):
            wait = policy.wait(attempt)
            response = await self._exchange("POST", path, form.body, key)
            if isinstance(response, Refused):
                return _Unanswered(response.reason, reached, refused=True)
            if isinstance(response, Lost):
                log.warning("stripe.answer_lost", idempotency_key=key, problem=response.reason)
                reason, reached = response.reason, True
            elif isinstance(response, NotSent):
                reason = response.reason
            else:
                should_retry = response.headers.get("stripe-should-retry")
                status = response.status
                if status == 429:
                    reason = "Stripe asked us to slow down"
                elif status == 409 or status >= 500 or should_retry == "true":
                    reason, reached = f"Stripe failed ({status})", True
                else:
                    return response
                if should_retry == "false":
                    break
                retry_after = response.retry_after()
                if retry_after is not None:
                    if retry_after > policy.max_retry_after:
                        break
                    wait = max(wait, retry_after)
            if attempt < policy.attempts:
                log.info(
                    "stripe.retrying",
                    idempotency_key=key,
                    attempt=attempt,
                    wait=round(wait, 3),
                    reason=reason,
                )
                await self._sleep(wait)
        return _Unanswered(reason, reached)

    async def _settle(self, key: str, reason: str) -> GatewayResult:
        """No final answer to a charge: look for it with the Search API."""
        policy = self._config.retry
        for query in range(policy.status_queries):
            if query:
                await self._sleep(policy.status_interval * 2 ** (query - 1))
            found = await self._search(key)
            if isinstance(found, dict):
                result = _read_found(found)
                log.info(
                    "stripe.outcome_settled", idempotency_key=key, outcome=type(result).__name__
                )
                return result
        log.error("stripe.needs_reconciliation", idempotency_key=key, reason=reason)
        return Unknown(f"{reason}; the payment needs reconciliation")

    async def _search(self, key: str) -> dict[str, Any] | Error | None:
        """The PaymentIntent carrying ``key``; a search changes nothing, so it is retried."""
        policy = self._config.retry
        reason = "Stripe could not be reached"
        for attempt in range(1, policy.attempts + 1):
            wait = policy.wait(attempt)
            response = await self._exchange("GET", wire.search_path(key), None, None)
            if isinstance(response, Refused):
                return Error(response.reason, retryable=False)
            if isinstance(response, NotSent | Lost):
                reason = response.reason
            else:
                if response.status == 200:
                    try:
                        return wire.searched_intent(wire.parse_json(response.body))
                    except wire.StripeProtocolError as exc:
                        return Error(str(exc), retryable=True)
                if response.status != 429 and response.status < 500:
                    refusal = self._refusal(response, None)
                    return Error(refusal.reason, retryable=False)
                reason = f"Stripe's search failed ({response.status})"
            if attempt < policy.attempts:
                await self._sleep(wait)
        return Error(reason, retryable=True)

    # ----------------------------------------------------------------- one exchange

    async def _exchange(
        self, method: str, path: str, body: bytearray | None, key: str | None
    ) -> Exchange:
        headers = {
            "Authorization": f"Bearer {self._config.secret_key}",
            "Stripe-Version": self._config.api_version,
            "Accept": "application/json",
        }
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if key is not None:
            headers["Idempotency-Key"] = key
        response = await self.transport.send(Request(method, path, headers, body))
        if not isinstance(response, Reply):
            return response
        log.info(
            "stripe.answer",
            method=method,
            path=path.partition("?")[0],
            idempotency_key=key,
            status=response.status,
            request_id=response.headers.get("request-id"),
            replayed=response.headers.get("idempotent-replayed") == "true",
        )
        return response

    def _remember(self, key: str) -> None:
        now = self._clock()
        horizon = now - self._config.search_lag
        for old in [k for k, at in self._sent_at.items() if at < horizon]:
            del self._sent_at[old]
        self._sent_at.setdefault(key, now)


def _read_found(intent: dict[str, Any]) -> GatewayResult:
    try:
        return wire.intent_result(intent)
    except wire.StripeProtocolError as exc:
        return Unknown(f"{exc}; the payment needs reconciliation")


def _error_of(reply: Reply) -> wire.StripeError | None:
    if reply.status < 400:
        return None
    try:
        return wire.parse_error(reply.status, reply.json())
    except wire.StripeProtocolError:
        return None

