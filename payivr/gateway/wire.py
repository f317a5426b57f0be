"""The generic connector's wire format: paths, JSON bodies, and what each answer means.

Shared by the HTTP client, the HTTP sandbox and the in-process sandbox, so all three agree.

Requests (JSON; card fields only inside ``card``, bank fields only inside
``bank_account``, each a compact JWE):
  POST /v1/sales            {"amount_minor", "currency", "card"|"bank_account"|"token",
                             "store_card" (cards only)}
  POST /v1/tokens           {"card"}
  POST /v1/sales/{ref}/void {}
  POST /v1/sales/{ref}/refunds {"amount_minor"}
  GET  /v1/requests/{idempotency key}   status by key
Answers:
  200 {"outcome": "approved", "reference", "brand", "last_four", ["token",
       "token_expiry_month", "token_expiry_year"]}; a bank debit: "payment_method": "ach",
       "account_type", "last_two" (no brand, no last four)
  402 {"outcome": "declined", "decline_code", "message"}
  4xx/5xx {"error", "message"}; 409 = same key in flight; 422 = same key, other request;
  status: 200 {"state": "completed", "http_status", "response"} | {"state": "processing"};
  404 = no such key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from payivr.core.cards import Brand
from payivr.core.errors import RemoteError
from payivr.gateway.interface import (
    Approved,
    Declined,
    Error,
    GatewayResult,
    RequestNotFound,
    StatusResult,
)

SALES_PATH = "/v1/sales"
TOKENS_PATH = "/v1/tokens"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Every answer of payivr's sandbox gateway carries it: test cards only, nothing is charged.
SANDBOX_HEADER = "Payivr-Sandbox"
MAX_KEY_LENGTH = 255


class ProtocolError(RemoteError, ValueError):
    """The gateway answered something this connector cannot read (the peer broke it)."""


def void_path(reference: str) -> str:
    return f"{SALES_PATH}/{quote(reference, safe='')}/void"


def refund_path(reference: str) -> str:
    return f"{SALES_PATH}/{quote(reference, safe='')}/refunds"


def status_path(idempotency_key: str) -> str:
    return f"/v1/requests/{quote(idempotency_key, safe='')}"


def check_idempotency_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ValueError("an idempotency key is 1-255 printable ASCII characters")


@dataclass(frozen=True)
class Retry:
    """Not processed this time; the same request with the same key may be sent again."""

    reason: str
    retry_after: float | None
    server_error: bool = False


@dataclass(frozen=True)
class Processing:
    """A status query: the request with this key is still being processed."""


def _approved(body: dict[str, Any]) -> Approved:
    reference = body.get("reference")
    if not isinstance(reference, str) or not reference:
        raise ProtocolError("an approval without a reference")
    brand_value = body.get("brand")
    try:
        brand = Brand(brand_value) if brand_value is not None else None
    except ValueError:
        brand = None
    last_four = body.get("last_four")
    token = body.get("token")
    month, year = body.get("token_expiry_month"), body.get("token_expiry_year")
    return Approved(
        reference=reference,
        brand=brand,
        last_four=last_four if isinstance(last_four, str) else None,
        token=token if isinstance(token, str) else None,
        token_expiry_month=month if isinstance(month, int) else None,
        token_expiry_year=year if isinstance(year, int) else None,
    )


_REFUSALS = {
    400: "the payment service rejected the request as malformed",
    401: "the payment service did not accept our signature",
    403: "the payment service refused access",
    404: "the payment service does not know this payment",
    422: "the payment id was already used for a different payment",
}


def interpret(status: int, body: Any, retry_after: float | None = None) -> GatewayResult | Retry:
    """What an answer to a sale, tokenize, void or refund request means."""
    if not isinstance(body, dict):
        body = {}
    if status in (200, 201):
        if body.get("outcome") != "approved":
            raise ProtocolError("a success status without an approval")
        return _approved(body)
    if status == 402:
        code, message = body.get("decline_code"), body.get("message")
        if not isinstance(code, str) or not code:
            raise ProtocolError("a decline without a code")
        return Declined(code, message if isinstance(message, str) else "the card was declined")
    if status == 409:
        return Retry("the same payment is still being processed", retry_after)
    if status == 429:
        return Retry("the payment service asked us to slow down", retry_after)
    if 500 <= status <= 599:
        return Retry(f"the payment service failed ({status})", retry_after, server_error=True)
    return Error(
        _REFUSALS.get(status, f"the payment service refused the request ({status})"), False
    )


def interpret_status(
    status: int, body: Any, retry_after: float | None = None
) -> StatusResult | Processing | Retry:
    """What an answer to a status query means."""
    if status == 404:
        return RequestNotFound()
    if status != 200:
        outcome = interpret(status, body, retry_after)
        if isinstance(outcome, Retry | Error):
            return outcome
        raise ProtocolError("a status answer with an unexpected status")
    if not isinstance(body, dict):
        raise ProtocolError("a status answer that is not an object")
    if body.get("state") == "processing":
        return Processing()
    if body.get("state") == "completed" and isinstance(body.get("http_status"), int):
        stored = interpret(body["http_status"], body.get("response"))
        if isinstance(stored, Retry):
            raise ProtocolError("a stored answer that asks for a retry")
        return stored
    raise ProtocolError("a status answer with an unknown state")
