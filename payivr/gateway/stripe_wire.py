"""Stripe's wire format for payivr: form bodies that hold card digits, and what answers mean.

Pure functions and data (no I/O), shared by :mod:`payivr.gateway.stripe` and its tests.

Stripe takes ``application/x-www-form-urlencoded`` bodies with bracketed names
(``payment_method_data[card][number]=...``) and answers JSON: an object (PaymentIntent,
SetupIntent, Refund, search result) or ``{"error": {"type", "code", "decline_code",
"message", "param", "payment_intent", ...}}`` (https://docs.stripe.com/api/errors).

Stripe's own ``message`` is never passed on: it can quote what was sent. Results carry
payivr's words, chosen from ``type``/``code``/``decline_code``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

from payivr.core.cards import Brand, CardDataExposure, SecretDigits
from payivr.core.errors import RemoteError
from payivr.core.events import CardDetails
from payivr.gateway.interface import Approved, Declined, Error, GatewayResult, Unknown
from payivr.gateway.testcards import DeclineCode

METADATA_KEY = "payivr_payment_id"
"""PaymentIntents, SetupIntents, Customers and Refunds carry the payment id here, so the
Search API can find a PaymentIntent by idempotency key."""

CARD_FIELDS = frozenset(
    {
        "payment_method_data[card][number]",
        "payment_method_data[card][exp_month]",
        "payment_method_data[card][exp_year]",
        "payment_method_data[card][cvc]",
    }
)
"""Form fields that carry card data; everything else in a form is safe to log or record."""

TOKEN_SEPARATOR = ":"  # noqa: S105 (a separator, not a secret)
MAX_KEY_LENGTH = 200
"""payivr's key plus a suffix (``:customer``, ``:refund``) stays under Stripe's 255."""

_STRIPE_ID = re.compile(r"[A-Za-z0-9_]{3,255}")


class StripeProtocolError(RemoteError, ValueError):
    """Stripe answered something this adapter cannot read (the peer broke it)."""


def check_idempotency_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise ValueError(f"an idempotency key is 1-{MAX_KEY_LENGTH} printable ASCII characters")


def check_stripe_id(value: str, prefix: str, what: str) -> None:
    if not value.startswith(prefix) or not _STRIPE_ID.fullmatch(value):
        raise ValueError(f"{what} is a Stripe id starting with {prefix!r}")


def make_token(customer: str, payment_method: str) -> str:
    """A card on file: Stripe charges it only with both the Customer and the PaymentMethod."""
    return f"{customer}{TOKEN_SEPARATOR}{payment_method}"


def split_token(token: str) -> tuple[str, str]:
    customer, _, payment_method = token.partition(TOKEN_SEPARATOR)
    try:
        check_stripe_id(customer, "cus_", "a token's customer")
        check_stripe_id(payment_method, "pm_", "a token's payment method")
    except ValueError:
        raise ValueError("a Stripe card-on-file token is '<cus_...>:<pm_...>'") from None
    return customer, payment_method


# --------------------------------------------------------------------------- form bodies


class Form:
    """A form body built in one ``bytearray``, so card digits are only ever in buffers
    payivr wipes (``with Form() as form:`` wipes it on the way out, whatever happens).
    Never logged; its ``repr`` shows only the size."""

    __slots__ = ("_body",)

    def __init__(self) -> None:
        self._body = bytearray()

    def add(self, name: str, value: str | int | bool) -> Form:
        if isinstance(value, bool):
            value = "true" if value else "false"
        self._start(name)
        self._body += quote_plus(str(value)).encode("ascii")
        return self

    def add_digits(
        self, name: str, digits: SecretDigits, start: int = 0, stop: int | None = None
    ) -> Form:
        """Digits go in as they are: ``0``-``9`` need no escaping."""
        self._start(name)
        digits.reveal_into(self._body, start, stop)
        return self

    def add_card(self, card: CardDetails) -> Form:
        """The card as Stripe's raw card data fields, under ``payment_method_data``."""
        if card.number.wiped or card.expiry.wiped:
            raise CardDataExposure("this card was wiped and cannot be sent")
        if len(card.expiry) != 4:
            raise ValueError("the expiry must be MMYY")
        self.add("payment_method_data[type]", "card")
        self.add_digits("payment_method_data[card][number]", card.number)
        self._start("payment_method_data[card][exp_month]")
        month = bytearray()
        try:
            card.expiry.reveal_into(month, 0, 2)
            self._body += month[1:] if month[:1] == b"0" else month
        finally:
            month[:] = bytes(len(month))
        self._start("payment_method_data[card][exp_year]")
        self._body += b"20"
        card.expiry.reveal_into(self._body, 2, 4)
        if card.security_code is not None:
            self.add_digits("payment_method_data[card][cvc]", card.security_code)
        if card.postal_code is not None:
            self.add("payment_method_data[billing_details][address][postal_code]", card.postal_code)
        return self

    @property
    def body(self) -> bytearray:
        return self._body

    def __enter__(self) -> Form:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wipe()

    def wipe(self) -> None:
        self._body[:] = bytes(len(self._body))
        self._body.clear()

    def _start(self, name: str) -> None:
        if self._body:
            self._body += b"&"
        self._body += quote_plus(name).encode("ascii") + b"="

    def __repr__(self) -> str:
        return f"<Form {len(self._body)} bytes>"


def search_query(key: str) -> str:
    """Search API query for the PaymentIntent carrying ``key`` in its metadata."""
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"metadata['{METADATA_KEY}']:'{escaped}'"


def search_path(key: str) -> str:
    return (
        "/v1/payment_intents/search?query="
        + quote(search_query(key), safe="")
        + "&limit=10&"
        + quote("expand[]", safe="")
        + "=data.latest_charge"
    )


# --------------------------------------------------------------------------- answers

AUTHENTICATION_NEEDED = "the bank asks for authentication the phone cannot do"

_DECLINE_WORDS: dict[str, str] = {code.value: code.message for code in DeclineCode} | {
    "card_declined": DeclineCode.GENERIC.message,
    "do_not_honor": DeclineCode.GENERIC.message,
    "do_not_try_again": DeclineCode.GENERIC.message,
    # Stripe asks not to tell the customer a card is flagged (https://docs.stripe.com/declines/codes).
    "fraudulent": DeclineCode.GENERIC.message,
    "merchant_blacklist": DeclineCode.GENERIC.message,
    "pickup_card": DeclineCode.GENERIC.message,
    "restricted_card": DeclineCode.GENERIC.message,
    "security_violation": DeclineCode.GENERIC.message,
    "stop_payment_order": DeclineCode.GENERIC.message,
    "transaction_not_allowed": DeclineCode.GENERIC.message,
    "no_action_taken": DeclineCode.GENERIC.message,
    "revocation_of_authorization": DeclineCode.GENERIC.message,
    "invalid_account": "the card or the account it belongs to is not valid",
    "new_account_information_available": "the card or the account it belongs to is not valid",
    "card_not_supported": "the card does not support this kind of payment",
    "currency_not_supported": "the card does not support this currency",
    "card_velocity_exceeded": "the card has reached its limit",
    "withdrawal_count_limit_exceeded": "the card has reached its limit",
    "invalid_amount": "the amount is not allowed for this card",
    "invalid_cvc": DeclineCode.INCORRECT_CVC.message,
    "incorrect_zip": "the postal code does not match the card",
    "invalid_number": DeclineCode.INCORRECT_NUMBER.message,
    "invalid_expiry_month": "the expiry date is not valid",
    "invalid_expiry_year": "the expiry date is not valid",
    "authentication_required": AUTHENTICATION_NEEDED,
    "approve_with_id": DeclineCode.PROCESSING_ERROR.message,
    "issuer_not_available": "the card's bank could not be reached, please try again",
    "reenter_transaction": DeclineCode.PROCESSING_ERROR.message,
    "try_again_later": "the card's bank asks to try again later",
    "call_issuer": "the card was declined; the card's bank can say why",
    "not_permitted": DeclineCode.GENERIC.message,
    "service_not_allowed": DeclineCode.GENERIC.message,
    "testmode_decline": "a test card was used with a live key",
    "card_decline_rate_limit_exceeded": "the card was declined too many times; try again in a day",
}

KEY_REUSED = "the payment id was already used with Stripe for a different request"
RAW_CARD_REFUSED = (
    "Stripe refuses raw card numbers from this account: ask Stripe to enable raw card data "
    "APIs (it needs proof of PCI DSS compliance)"
)
_RAW_CARD_MESSAGE = "Sending credit card numbers directly to the Stripe API"

_REFUSALS: dict[int, str] = {
    401: "Stripe did not accept the secret key",
    403: "the Stripe key is not allowed to make this request",
    404: "Stripe does not know this payment",
}
_CODE_REFUSALS: dict[str, str] = {
    "amount_too_small": "the amount is below Stripe's minimum for this currency",
    "amount_too_large": "the amount is above Stripe's maximum",
    "charge_already_refunded": "the payment was already refunded in full",
    "refund_disputed_payment": "the payment is disputed and cannot be refunded",
    "resource_missing": "Stripe does not know this payment",
    "payment_intent_unexpected_state": "the payment is not in a state that allows this",
    "invalid_request_error": "Stripe refused the request as malformed",
    "secret_key_required": "the Stripe key must be a secret key (sk_...) or restricted key (rk_...)",
    "api_key_expired": "the Stripe secret key has expired",
}


@dataclass(frozen=True)
class StripeError:
    """The parts of Stripe's error object payivr reads (never ``message`` beyond a check)."""

    http_status: int
    type: str
    code: str | None
    decline_code: str | None
    param: str | None
    payment_intent: dict[str, Any] | None
    raw_card_refused: bool

    @property
    def log_fields(self) -> dict[str, Any]:
        return {
            "http_status": self.http_status,
            "error_type": self.type,
            "error_code": self.code,
            "decline_code": self.decline_code,
            "param": self.param,
        }


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise StripeProtocolError("Stripe's answer is not JSON") from None


def parse_error(http_status: int, body: Any) -> StripeError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        raise StripeProtocolError(f"Stripe answered {http_status} without an error object")
    message = error.get("message")
    intent = error.get("payment_intent")
    return StripeError(
        http_status=http_status,
        type=_text(error.get("type")) or "api_error",
        code=_text(error.get("code")),
        decline_code=_text(error.get("decline_code")),
        param=_text(error.get("param")),
        payment_intent=intent if isinstance(intent, dict) else None,
        raw_card_refused=isinstance(message, str) and message.startswith(_RAW_CARD_MESSAGE),
    )


def decline(code: str | None) -> Declined:
    code = code or "card_declined"
    return Declined(code, _DECLINE_WORDS.get(code, DeclineCode.GENERIC.message))


def error_result(error: StripeError) -> Declined | Error:
    """What a final (not to be retried) 4xx answer means."""
    if error.type == "card_error":
        return decline(error.decline_code or error.code)
    if error.type == "idempotency_error":
        return Error(KEY_REUSED, retryable=False)
    if error.raw_card_refused:
        return Error(RAW_CARD_REFUSED, retryable=False)
    if error.http_status in _REFUSALS:
        return Error(_REFUSALS[error.http_status], retryable=False)
    if error.code in _CODE_REFUSALS:
        return Error(_CODE_REFUSALS[error.code], retryable=False)
    return Error(
        f"Stripe refused the request ({error.http_status} {error.code or error.type})",
        retryable=False,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _object(body: Any, kind: str) -> dict[str, Any]:
    if not isinstance(body, dict) or body.get("object") != kind:
        raise StripeProtocolError(f"Stripe's answer is not a {kind}")
    if not isinstance(body.get("id"), str) or not isinstance(body.get("status"), str):
        raise StripeProtocolError(f"a {kind} without an id or status")
    return body


def _brand(value: Any) -> Brand | None:
    try:
        return Brand(value)
    except ValueError:
        return None


def _card_of(charge_or_method: Any) -> dict[str, Any]:
    """``card`` of an expanded Charge (``payment_method_details.card``) or PaymentMethod."""
    if not isinstance(charge_or_method, dict):
        return {}
    details = charge_or_method.get("payment_method_details")
    holder = details if isinstance(details, dict) else charge_or_method
    card = holder.get("card")
    return card if isinstance(card, dict) else {}


def _id_of(value: Any) -> str | None:
    """An id field that may be expanded into its object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def intent_result(body: Any) -> GatewayResult:
    """What a PaymentIntent means for a sale (https://docs.stripe.com/payments/paymentintents/lifecycle)."""
    intent = _object(body, "payment_intent")
    status = intent["status"]
    if status == "succeeded":
        card = _card_of(intent.get("latest_charge")) or _card_of(intent.get("payment_method"))
        customer, method = _id_of(intent.get("customer")), _id_of(intent.get("payment_method"))
        stored = intent.get("setup_future_usage") == "off_session" and customer and method
        last_four = card.get("last4")
        return Approved(
            reference=intent["id"],
            brand=_brand(card.get("brand")),
            last_four=last_four if isinstance(last_four, str) else None,
            token=make_token(customer, method) if stored and customer and method else None,
            token_expiry_month=_int(card.get("exp_month")) if stored else None,
            token_expiry_year=_int(card.get("exp_year")) if stored else None,
        )
    if status == "requires_action":
        return decline("authentication_required")
    if status == "requires_payment_method":
        failure = intent.get("last_payment_error")
        if isinstance(failure, dict):
            return decline(_text(failure.get("decline_code")) or _text(failure.get("code")))
        return decline(None)
    if status == "canceled":
        return Declined("canceled", "the payment was cancelled before it completed")
    if status == "processing":
        return Unknown("Stripe is still processing the payment; it needs reconciliation")
    return Unknown(f"Stripe left the payment in state {status!r}; it needs reconciliation")


def setup_result(body: Any) -> GatewayResult:
    """A SetupIntent that stored a card on a Customer."""
    intent = _object(body, "setup_intent")
    status = intent["status"]
    if status == "succeeded":
        customer, method = _id_of(intent.get("customer")), _id_of(intent.get("payment_method"))
        if customer is None or method is None:
            raise StripeProtocolError("a succeeded SetupIntent without a customer or payment method")
        card = _card_of(intent.get("payment_method"))
        last_four = card.get("last4")
        return Approved(
            reference=intent["id"],
            brand=_brand(card.get("brand")),
            last_four=last_four if isinstance(last_four, str) else None,
            token=make_token(customer, method),
            token_expiry_month=_int(card.get("exp_month")),
            token_expiry_year=_int(card.get("exp_year")),
        )
    if status == "requires_action":
        return decline("authentication_required")
    if status == "requires_payment_method":
        failure = intent.get("last_setup_error")
        if isinstance(failure, dict):
            return decline(_text(failure.get("decline_code")) or _text(failure.get("code")))
        return decline(None)
    return Unknown(f"Stripe left the stored card in state {status!r}; it needs reconciliation")


def refund_result(body: Any) -> GatewayResult:
    refund = _object(body, "refund")
    status = refund["status"]
    if status in ("succeeded", "pending"):
        return Approved(reference=refund["id"])
    if status in ("failed", "canceled"):
        reason = _text(refund.get("failure_reason")) or "refund_failed"
        return Declined(reason, "Stripe could not refund the payment")
    return Unknown(f"Stripe left the refund in state {status!r}; it needs reconciliation")


def cancel_result(body: Any) -> GatewayResult:
    intent = _object(body, "payment_intent")
    if intent["status"] == "canceled":
        return Approved(reference=intent["id"])
    return Unknown(f"Stripe left the payment in state {intent['status']!r} after cancelling")


def object_id(body: Any, kind: str) -> str:
    if not isinstance(body, dict) or body.get("object") != kind:
        raise StripeProtocolError(f"Stripe's answer is not a {kind}")
    value = body.get("id")
    if not isinstance(value, str) or not value:
        raise StripeProtocolError(f"a {kind} without an id")
    return value


def searched_intent(body: Any) -> dict[str, Any] | None:
    """The PaymentIntent a search found, or ``None`` when none matched. With the key in use
    twice (after Stripe pruned it, 24 h on), a succeeded one wins, then the newest."""
    if not isinstance(body, dict) or body.get("object") != "search_result":
        raise StripeProtocolError("Stripe's answer is not a search result")
    data = body.get("data")
    if not isinstance(data, list):
        raise StripeProtocolError("a search result without data")
    intents = [item for item in data if isinstance(item, dict)]
    if not intents:
        return None
    return max(
        intents,
        key=lambda item: (item.get("status") == "succeeded", _int(item.get("created")) or 0),
    )
