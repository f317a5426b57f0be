"""A fake Stripe that replays recorded exchanges (tests/fixtures/stripe/*.json).

Each fixture is an ordered list of request/response pairs as Stripe documents them, with the
card fields redacted to ``<redacted>``. The fake checks every request against the next
recorded one (method, path, query, form fields, Idempotency-Key, Authorization,
Stripe-Version; card fields must be present and all digits) and answers the recorded
response. On top it behaves as Stripe documents idempotency
(https://docs.stripe.com/api/idempotent_requests, https://docs.stripe.com/error-low-level):

* the first answer to a key is saved (not 429 or 409, and not a 5xx marked
  ``Stripe-Should-Retry: true``) and replayed, with ``Idempotent-Replayed: true``, to any
  later request with the same key and the same parameters, without running it again;
* the same key with other parameters gets 400 ``idempotency_error``.

The ledger counts what actually ran (charges, refunds), so a test can prove one charge.
Transport faults are injected per request number: the request is lost before sending, or
it runs and its answer is lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from payivr.gateway.stripe_config import API_VERSION
from payivr.gateway.stripe_wire import CARD_FIELDS
from payivr.gateway.transport import Exchange, Lost, NotSent, Reply, Request

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"
SECRET_KEY = "sk_test_51PayivrFakeKeyForRecordedExchanges0000"
REDACTED = "<redacted>"


def load(name: str) -> list[dict[str, Any]]:
    document = json.loads((FIXTURES / f"{name}.json").read_text())
    exchanges: list[dict[str, Any]] = document["exchanges"]
    return exchanges


def empty_search(key: str) -> dict[str, Any]:
    """The recorded empty search result, as the answer to a search for ``key``."""
    [exchange] = load("search_empty")
    exchange["request"]["query"]["query"] = f"metadata['payivr_payment_id']:'{key}'"
    return exchange


class Mismatch(AssertionError):
    """The adapter sent something other than what the recording shows."""


@dataclass
class Ledger:
    charges: Counter[str] = field(default_factory=Counter)
    refunds: Counter[str] = field(default_factory=Counter)

    def record(self, key: str | None, response: dict[str, Any]) -> None:
        body = response["body"]
        if key is None or response["status"] != 200 or not isinstance(body, dict):
            return
        if body.get("object") == "payment_intent" and body.get("status") == "succeeded":
            self.charges[key] += 1
        if body.get("object") == "refund":
            self.refunds[key] += 1


@dataclass
class Seen:
    """A request as recorded by the fake: card fields already redacted."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]
    fingerprint: str
    card_last4: str | None


class FakeStripe:
    def __init__(self, *fixtures: str) -> None:
        self.script: list[dict[str, Any]] = [e for name in fixtures for e in load(name)]
        self.ledger = Ledger()
        self.seen: list[Seen] = []
        self.bodies: list[bytearray] = []
        self.lost_before_sending: set[int] = set()
        self.answers_lost: set[int] = set()
        self.on_request: list[Any] = []
        self._saved: dict[str, tuple[str, dict[str, Any]]] = {}
        self._count = 0

    @property
    def remaining(self) -> int:
        return len(self.script)

    async def close(self) -> None:
        pass

    async def send(self, request: Request) -> Exchange:
        self._count += 1
        for hook in self.on_request:
            hook(request)
        if request.body is not None:
            self.bodies.append(request.body)
        if self._count in self.lost_before_sending:
            return NotSent("Stripe could not be reached")
        await asyncio.sleep(0)
        seen = self._parse(request)
        self.seen.append(seen)
        response = self.answer(seen)
        if self._count in self.answers_lost:
            return Lost("no answer within the read timeout")
        return Reply(
            response["status"],
            {name.lower(): value for name, value in response["headers"].items()},
            json.dumps(response["body"]).encode(),
        )

    def answer(self, seen: Seen) -> dict[str, Any]:
        """Stripe's answer to a parsed request: a replay, an idempotency error or the next
        recorded exchange."""
        key = seen.headers.get("idempotency-key") if seen.method == "POST" else None
        fingerprint = seen.fingerprint
        if key is not None and key in self._saved:
            saved_fingerprint, saved = self._saved[key]
            if saved_fingerprint != fingerprint:
                return _idempotency_error(key)
            replay = dict(saved)
            replay["headers"] = {**saved["headers"], "Idempotent-Replayed": "true"}
            return replay
        if not self.script:
            raise Mismatch(f"no recorded exchange left for {seen.method} {seen.path}")
        exchange = self.script.pop(0)
        self._check(exchange["request"], seen)
        response: dict[str, Any] = exchange["response"]
        self.ledger.record(key, response)
        if key is not None and _saved_by_stripe(response):
            self._saved[key] = (fingerprint, response)
        return response

    def _parse(self, request: Request) -> Seen:
        headers = {name.lower(): value for name, value in request.headers.items()}
        if headers.get("authorization") != f"Bearer {SECRET_KEY}":
            raise Mismatch("the request does not carry the secret key as a Bearer token")
        if headers.get("stripe-version") != API_VERSION:
            raise Mismatch("the request does not pin the Stripe API version")
        parts = urlsplit(request.path)
        query = _pairs(parts.query)
        form: dict[str, str] = {}
        if request.body is not None:
            if headers.get("content-type") != "application/x-www-form-urlencoded":
                raise Mismatch("a body that is not form-encoded")
            form = _pairs(bytes(request.body).decode("ascii"))
        for name in CARD_FIELDS & set(form):
            if not form[name].isdigit():
                raise Mismatch(f"{name} is not digits")
        del headers["authorization"]
        fingerprint = _fingerprint(request.method, parts.path, form)
        number = form.get("payment_method_data[card][number]")
        # Keep nothing of the card but its last four.
        for name in CARD_FIELDS & set(form):
            form[name] = REDACTED
        last4 = number[-4:] if number else None
        return Seen(request.method, parts.path, query, headers, form, fingerprint, last4)

    def _check(self, recorded: dict[str, Any], seen: Seen) -> None:
        if (recorded["method"], recorded["path"]) != (seen.method, seen.path):
            raise Mismatch(
                f"expected {recorded['method']} {recorded['path']}, got {seen.method} {seen.path}"
            )
        if recorded.get("query", {}) != seen.query:
            raise Mismatch(f"query {seen.query} != recorded {recorded.get('query')}")
        for name, value in recorded.get("headers", {}).items():
            if seen.headers.get(name.lower()) != value:
                raise Mismatch(f"header {name}: {seen.headers.get(name.lower())!r} != {value!r}")
        if "Idempotency-Key" not in recorded.get("headers", {}) and "idempotency-key" in (
            seen.headers
        ):
            raise Mismatch("an idempotency key where the recording has none")
        if seen.form != recorded.get("form", {}):
            raise Mismatch(f"form {seen.form} != recorded {recorded.get('form', {})}")
        if recorded.get("card_last4") != seen.card_last4:
            raise Mismatch(
                f"card ending {seen.card_last4} != recorded {recorded.get('card_last4')}"
            )


def _pairs(encoded: str) -> dict[str, str]:
    pairs = parse_qsl(encoded, keep_blank_values=True, strict_parsing=bool(encoded))
    result = dict(pairs)
    if len(result) != len(pairs):
        raise Mismatch("a field sent twice")
    return result


def _fingerprint(method: str, path: str, form: dict[str, str]) -> str:
    """What Stripe compares between requests with one key (a hash: no card kept)."""
    material = json.dumps([method, path, sorted(form.items())])
    return hashlib.sha256(material.encode()).hexdigest()


def _saved_by_stripe(response: dict[str, Any]) -> bool:
    status = response["status"]
    if status in (409, 429):
        return False
    should_retry = {k.lower(): v for k, v in response["headers"].items()}.get("stripe-should-retry")
    return not (status >= 500 and should_retry == "true")


def _idempotency_error(key: str) -> dict[str, Any]:
    return {
        "status": 400,
        "headers": {"Content-Type": "application/json", "Request-Id": "req_idempotency0"},
        "body": {
            "error": {
                "message": "Keys for idempotent requests can only be used with the same "
                f"parameters they were first used with. Try using a key other than '{key}' if "
                "you meant to execute a different request.",
                "type": "idempotency_error",
            }
        },
    }
