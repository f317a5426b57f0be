"""The sandbox gateway's engine: decryption, idempotency, the ledger and the fault switches.

Transport-free, so the HTTP sandbox and the in-process sandbox share it. It speaks the
wire format of :mod:`payivr.gateway.wire` (paths, JSON bodies) and answers with
:class:`Answer`. It behaves like the best gateways for idempotency: same key and same
request gives the stored answer, same key and another request gives 422, same key while the
first is still being processed gives 409; keys are kept 24 hours.

It records what arrived (the encrypted token's kid and length, never the digits) and
keeps a ledger of money movements that tests read to prove "one charge".
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any

import structlog

from payivr.core.bank import AccountType
from payivr.core.errors import PayivrError
from payivr.core.redact import has_pan
from payivr.gateway import wire
from payivr.gateway.jwe import DecryptionKeys, JweError, parse_header
from payivr.gateway.testcards import (
    Approval,
    BankApproval,
    Decline,
    DeclineCode,
    decide,
    decide_bank_debit,
)

log = structlog.get_logger(__name__)

KEY_TTL_SECONDS = 24 * 60 * 60


def new_reference(prefix: str) -> str:
    """A fresh token, charge or refund id. About one random hex id in 1,200 holds a Luhn-valid
    run of 13+ digits, which payivr's card-data guards then refuse to store or log: drawn again."""
    while True:
        reference = f"{prefix}_{secrets.token_hex(10)}"
        if not has_pan(reference):
            return reference


@dataclass
class Faults:
    """Switches that make the sandbox misbehave, for tests and the demo.

    ``server_errors`` / ``rate_limits`` / ``drop_responses`` count down: the next N
    requests that change something are affected.
    """

    latency: float = 0.0
    drop_responses: int = 0
    server_errors: int = 0
    rate_limits: int = 0
    retry_after: int = 1
    decline_all: bool = False

    def update(self, changes: Mapping[str, Any]) -> None:
        types = {f.name: f.type for f in fields(self)}
        for name, value in changes.items():
            expected = types.get(name)
            if expected is None:
                raise ValueError(f"unknown fault switch {name!r}")
            if expected == "bool" and not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false")
            if expected == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be an integer")
            if expected == "float" and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"{name} must be a number")
            if expected != "bool" and value < 0:
                raise ValueError(f"{name} must not be negative")
        for name, value in changes.items():
            setattr(self, name, float(value) if types[name] == "float" else value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    """The HTTP layer closes the connection instead of answering (processing is done)."""


@dataclass(frozen=True)
class LedgerEntry:
    kind: str  # "sale", "void", "refund" or "token" (a stored card: no money moved)
    reference: str
    idempotency_key: str
    amount_minor: int
    currency: str
    brand: str  # a card brand, or "ach" for a bank debit
    last_four: str  # of a card; a bank account's last two
    sale_reference: str | None = None


class Ledger:
    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []

    def charges(self, idempotency_key: str | None = None) -> int:
        """How many sales were made (with this key)."""
        return sum(
            1
            for entry in self.entries
            if entry.kind == "sale"
            and (idempotency_key is None or entry.idempotency_key == idempotency_key)
        )

    def by_key(self) -> Counter[str]:
        return Counter(e.idempotency_key for e in self.entries if e.kind == "sale")

    def find_sale(self, reference: str) -> LedgerEntry | None:
        return next(
            (e for e in self.entries if e.kind == "sale" and e.reference == reference), None
        )

    def reversed_amount(self, sale_reference: str) -> int:
        return sum(
            e.amount_minor
            for e in self.entries
            if e.kind in ("void", "refund") and e.sale_reference == sale_reference
        )

    def as_list(self) -> list[dict[str, Any]]:
        return [asdict(entry) for entry in self.entries]


@dataclass
class _KeyRecord:
    fingerprint: bytes
    created: float
    answer: Answer | None = None  # None while the first request is being processed


@dataclass(frozen=True)
class _StoredCard:
    brand: str
    last_four: str
    exp_month: int
    exp_year: int
    decline: DeclineCode | None  # what a charge to this card answers (its test-card row)


class MalformedRequest(PayivrError, ValueError):
    """A request the sandbox cannot read; the message says what is wrong (answered as 400)."""


def _error(status: int, code: str, message: str, **headers: str) -> Answer:
    return Answer(status, {"error": code, "message": message}, dict(headers))


def _declined(code: str, message: str) -> Answer:
    return Answer(402, {"outcome": "declined", "decline_code": code, "message": message})


def _amount(body: Mapping[str, Any]) -> int:
    amount = body.get("amount_minor")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise MalformedRequest("amount_minor must be a positive integer")
    return amount


def _currency(body: Mapping[str, Any]) -> str:
    currency = body.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise MalformedRequest("currency must be a 3-letter ISO 4217 code")
    return currency.upper()


class SandboxProcessor:
    def __init__(
        self,
        keys: DecryptionKeys,
        *,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        key_ttl: float = KEY_TTL_SECONDS,
    ) -> None:
        self.keys = keys
        self.faults = faults or Faults()
        self.clock = clock
        self.ledger = Ledger()
        self.arrivals: list[dict[str, Any]] = []
        self._sleep = sleep
        self._key_ttl = key_ttl
        self._records: dict[str, _KeyRecord] = {}
        self._cards: dict[str, _StoredCard] = {}
        self._fingerprint_key = secrets.token_bytes(32)

    def today(self) -> date:
        return datetime.fromtimestamp(self.clock(), UTC).date()

    async def handle(
        self, method: str, path: str, idempotency_key: str | None, body: Any
    ) -> Answer:
        self._record_arrival(method, path, idempotency_key, body)
        if method == "GET" and path.startswith("/v1/requests/"):
            return self._status(path.removeprefix("/v1/requests/"))
        if method != "POST":
            return _error(405, "method_not_allowed", "only POST and status GET are served")
        if not idempotency_key:
            return _error(400, "idempotency_key_missing", "an Idempotency-Key header is needed")
        if not isinstance(body, dict):
            return _error(400, "invalid_request", "the body must be a JSON object")
        if self.faults.rate_limits:
            self.faults.rate_limits -= 1
            return _error(
                429,
                "rate_limited",
                "too many requests",
                **{"Retry-After": str(self.faults.retry_after)},
            )
        if self.faults.server_errors:
            self.faults.server_errors -= 1
            return _error(500, "internal_error", "the sandbox failed (fault switch)")
        try:
            operation, card = self._route(path, body)
            fingerprint = self._fingerprint(path, body, card)
        except MalformedRequest as exc:
            return _error(400, "invalid_request", str(exc))
        except JweError:
            return _error(400, "invalid_card_token", "the encrypted details cannot be decrypted")
        return await self._idempotent(idempotency_key, fingerprint, operation, card, body)

    # ------------------------------------------------------------------ idempotency

    async def _idempotent(
        self,
        key: str,
        fingerprint: bytes,
        operation: Callable[[str, Mapping[str, Any], dict[str, Any] | None], Answer],
        card: dict[str, Any] | None,
        body: Mapping[str, Any],
    ) -> Answer:
        now = self.clock()
        record = self._records.get(key)
        if record is not None and now - record.created >= self._key_ttl:
            del self._records[key]
            record = None
        if record is not None:
            if not hmac.compare_digest(record.fingerprint, fingerprint):
                return _error(
                    422, "idempotency_key_reused", "this key was used with a different request"
                )
            if record.answer is None:
                return _error(
                    409,
                    "idempotency_in_flight",
                    "a request with this key is in progress",
                )
            log.info("sandbox.replayed", idempotency_key=key, status=record.answer.status)
            return Answer(record.answer.status, record.answer.body, {wire.REPLAYED_HEADER: "true"})
        record = self._records[key] = _KeyRecord(fingerprint, now)
        try:
            if self.faults.latency:
                await self._sleep(self.faults.latency)
            answer = operation(key, body, card)
        except BaseException:
            del self._records[key]
            raise
        record.answer = answer
        if self.faults.drop_responses:
            self.faults.drop_responses -= 1
            log.info("sandbox.dropping_response", idempotency_key=key)
            return Answer(answer.status, answer.body, drop=True)
        return answer

    def _status(self, key: str) -> Answer:
        record = self._records.get(key)
        if record is None or self.clock() - record.created >= self._key_ttl:
            return _error(404, "not_found", "no request with this idempotency key")
        if record.answer is None:
            return Answer(200, {"idempotency_key": key, "state": "processing"})
        return Answer(
            200,
            {
                "idempotency_key": key,
                "state": "completed",
                "http_status": record.answer.status,
                "response": record.answer.body,
            },
        )

    def _fingerprint(
        self, path: str, body: Mapping[str, Any], card: Mapping[str, Any] | None
    ) -> bytes:
        # The decrypted details stand for the encrypted ones (a new JWE per encryption).
        visible = {
            name: value for name, value in body.items() if name not in ("card", "bank_account")
        }
        canonical = json.dumps([path, visible, card], sort_keys=True, separators=(",", ":"))
        return hmac.new(self._fingerprint_key, canonical.encode(), hashlib.sha256).digest()

    # ------------------------------------------------------------------ operations

    def _route(
        self, path: str, body: Mapping[str, Any]
    ) -> tuple[
        Callable[[str, Mapping[str, Any], dict[str, Any] | None], Answer], dict[str, Any] | None
    ]:
        if path == wire.SALES_PATH:
            _amount(body), _currency(body)
            if "card" in body:
                return self._sale, self._decrypt(body["card"])
            if "bank_account" in body:
                if "store_card" in body:
                    raise MalformedRequest("only cards can be stored")
                return self._bank_sale, self._decrypt_bank_account(body["bank_account"])
            if isinstance(body.get("token"), str):
                return self._token_sale, None
            raise MalformedRequest("a sale needs a card, a bank account or a token")
        if path == wire.TOKENS_PATH:
            return self._tokenize, self._decrypt(body.get("card"))
        parts = path.split("/")
        if len(parts) == 5 and parts[:3] == ["", "v1", "sales"] and parts[4] in ("void", "refunds"):
            if parts[4] == "refunds":
                _amount(body)
            operation = self._void if parts[4] == "void" else self._refund
            return (lambda key, b, _card: operation(key, parts[3], b)), None
        raise MalformedRequest("unknown path")

    def _decrypt_object(self, token: Any, what: str) -> dict[str, Any]:
        if not isinstance(token, str):
            raise MalformedRequest(f"{what} must be a compact JWE")
        try:
            details = json.loads(self.keys.decrypt(token))
        except JweError:
            raise
        except ValueError as exc:
            raise MalformedRequest(f"the {what} is not JSON") from exc
        if not isinstance(details, dict):
            raise MalformedRequest(f"the {what} is not an object")
        return details

    def _decrypt(self, token: Any) -> dict[str, Any]:
        card = self._decrypt_object(token, "card")
        for name in ("number", "exp_month", "exp_year"):
            if not isinstance(card.get(name), str) or not card[name].isdigit():
                raise MalformedRequest("the card needs number, exp_month and exp_year digits")
        return card

    def _decrypt_bank_account(self, token: Any) -> dict[str, Any]:
        account = self._decrypt_object(token, "bank account")
        for name in ("routing_number", "account_number"):
            if not isinstance(account.get(name), str) or not account[name].isdigit():
                raise MalformedRequest("the bank account needs routing_number and account_number")
        if account.get("account_type") not in {kind.value for kind in AccountType}:
            raise MalformedRequest("the account_type must be checking or savings")
        return account

    def _decision(self, card: Mapping[str, Any], storing_only: bool) -> Approval | Decline:
        decision = decide(
            card["number"],
            int(card["exp_month"]),
            int(card["exp_year"]),
            self.today(),
            storing_only=storing_only,
        )
        if self.faults.decline_all and isinstance(decision, Approval):
            return Decline(DeclineCode.GENERIC)
        return decision

    def _store_card(self, card: Mapping[str, Any], approval: Approval) -> dict[str, Any]:
        token = new_reference("tok")
        sale_decision = decide(
            card["number"], int(card["exp_month"]), int(card["exp_year"]), self.today()
        )
        self._cards[token] = _StoredCard(
            approval.brand.value,
            approval.last_four,
            int(card["exp_month"]),
            int(card["exp_year"]),
            sale_decision.code if isinstance(sale_decision, Decline) else None,
        )
        return {
            "token": token,
            "token_expiry_month": int(card["exp_month"]),
            "token_expiry_year": int(card["exp_year"]),
        }

    def _record_sale(
        self, key: str, body: Mapping[str, Any], brand: str, last_digits: str
    ) -> LedgerEntry:
        entry = LedgerEntry(
            "sale",
            new_reference("ch"),
            key,
            _amount(body),
            _currency(body),
            brand,
            last_digits,
        )
        self.ledger.entries.append(entry)
        log.info(
            "sandbox.charged",
            reference=entry.reference,
            idempotency_key=key,
            brand=brand,
            last_digits=last_digits,
            amount_minor=entry.amount_minor,
            currency=entry.currency,
        )
        return entry

    def _charge(self, key: str, body: Mapping[str, Any], brand: str, last_four: str) -> Answer:
        entry = self._record_sale(key, body, brand, last_four)
        return Answer(
            200,
            {
                "outcome": "approved",
                "object": "sale",
                "reference": entry.reference,
                "brand": brand,
                "last_four": last_four,
                "amount_minor": entry.amount_minor,
                "currency": entry.currency,
            },
        )

    def _sale(self, key: str, body: Mapping[str, Any], card: dict[str, Any] | None) -> Answer:
        assert card is not None
        decision = self._decision(card, storing_only=False)
        if isinstance(decision, Decline):
            return _declined(decision.code.value, decision.message)
        answer = self._charge(key, body, decision.brand.value, decision.last_four)
        if body.get("store_card") is True:
            answer.body.update(self._store_card(card, decision))
        return answer

    def _bank_sale(
        self, key: str, body: Mapping[str, Any], account: dict[str, Any] | None
    ) -> Answer:
        assert account is not None
        decision = decide_bank_debit(
            account["routing_number"],
            account["account_number"],
            AccountType(account["account_type"]),
        )
        if self.faults.decline_all and isinstance(decision, BankApproval):
            decision = Decline(DeclineCode.GENERIC, bank=True)
        if isinstance(decision, Decline):
            return _declined(decision.code.value, decision.message)
        entry = self._record_sale(key, body, "ach", decision.last_two)
        return Answer(
            200,
            {
                "outcome": "approved",
                "object": "sale",
                "payment_method": "ach",
                "reference": entry.reference,
                "account_type": decision.account_type.value,
                "last_two": decision.last_two,
                "amount_minor": entry.amount_minor,
                "currency": entry.currency,
            },
        )

    def _token_sale(self, key: str, body: Mapping[str, Any], card: dict[str, Any] | None) -> Answer:
        stored = self._cards.get(body["token"])
        if stored is None:
            return _error(404, "unknown_token", "no card is stored under this token")
        today = self.today()
        if (stored.exp_year, stored.exp_month) < (today.year, today.month):
            return _declined(DeclineCode.EXPIRED_CARD.value, DeclineCode.EXPIRED_CARD.message)
        decline = DeclineCode.GENERIC if self.faults.decline_all else stored.decline
        if decline is not None:
            return _declined(decline.value, decline.message)
        return self._charge(key, body, stored.brand, stored.last_four)

    def _tokenize(self, key: str, body: Mapping[str, Any], card: dict[str, Any] | None) -> Answer:
        assert card is not None
        decision = self._decision(card, storing_only=True)
        if isinstance(decision, Decline):
            return _declined(decision.code.value, decision.code.message)
        stored = self._store_card(card, decision)
        reference = new_reference("card")
        self.ledger.entries.append(
            LedgerEntry("token", reference, key, 0, "", decision.brand.value, decision.last_four)
        )
        return Answer(
            200,
            {
                "outcome": "approved",
                "object": "token",
                "reference": reference,
                "brand": decision.brand.value,
                "last_four": decision.last_four,
                **stored,
            },
        )

    def _reverse(self, kind: str, key: str, sale_reference: str, amount: int | None) -> Answer:
        sale = self.ledger.find_sale(sale_reference)
        if sale is None:
            return _error(404, "unknown_sale", "no sale with this reference")
        reversed_amount = self.ledger.reversed_amount(sale_reference)
        remaining = sale.amount_minor - reversed_amount
        if kind == "void" and reversed_amount:
            return _declined("charge_already_refunded", "the sale was already voided or refunded")
        amount = remaining if amount is None else amount
        if remaining <= 0:
            return _declined("charge_already_refunded", "the sale was already refunded in full")
        if amount > remaining:
            return _declined(
                "amount_too_large", "the refund is larger than what is left of the sale"
            )
        reference = new_reference("rf" if kind == "refund" else "vd")
        self.ledger.entries.append(
            LedgerEntry(
                kind,
                reference,
                key,
                amount,
                sale.currency,
                sale.brand,
                sale.last_four,
                sale_reference,
            )
        )
        log.info(
            "sandbox.reversed",
            kind=kind,
            reference=reference,
            sale_reference=sale_reference,
            amount_minor=amount,
        )
        return Answer(
            200,
            {
                "outcome": "approved",
                "object": kind,
                "reference": reference,
                "brand": sale.brand,
                "last_four": sale.last_four,
                "amount_minor": amount,
                "currency": sale.currency,
            },
        )

    def _void(self, key: str, sale_reference: str, body: Mapping[str, Any]) -> Answer:
        return self._reverse("void", key, sale_reference, None)

    def _refund(self, key: str, sale_reference: str, body: Mapping[str, Any]) -> Answer:
        return self._reverse("refund", key, sale_reference, _amount(body))

    # ------------------------------------------------------------------ what arrived

    def _record_arrival(self, method: str, path: str, key: str | None, body: Any) -> None:
        """Note what arrived, as a gateway's access log would: never the card's content."""
        arrival: dict[str, Any] = {"method": method, "path": path, "idempotency_key": key}
        if isinstance(body, dict):
            arrival["fields"] = sorted(body)
            for name in ("card", "bank_account"):
                token = body.get(name)
                if isinstance(token, str):
                    try:
                        kid = parse_header(token).get("kid")
                    except JweError:
                        kid = None
                    arrival[name] = {"kid": kid, "token_length": len(token)}
        self.arrivals.append(arrival)
        log.info("sandbox.request_received", **arrival)
