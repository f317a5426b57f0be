"""What any payment gateway adapter offers, what it answers, and how that feeds the flow.

Every method takes an idempotency key: the same key with the same request never charges
twice. Card-taking methods wipe the :class:`CardDetails` they are given, whatever happens;
bank debits (:class:`BankDebitGateway`, a capability not every gateway has) likewise wipe
the :class:`BankAccountDetails`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from payivr.core.cards import Brand, MaskedCard
from payivr.core.events import (
    Authorize,
    BankAccountDetails,
    CardDetails,
    GatewayApproval,
    GatewayDecline,
    GatewayFailure,
    GatewayOutcomeUnknown,
)


@dataclass(frozen=True)
class Approved:
    """Money moved (sale, token sale, void, refund) or a card was stored (tokenize)."""

    reference: str
    brand: Brand | None = None
    last_four: str | None = None
    token: str | None = None
    token_expiry_month: int | None = None
    token_expiry_year: int | None = None

    @property
    def masked_card(self) -> MaskedCard | None:
        if self.brand is None or self.last_four is None:
            return None
        return MaskedCard(self.brand, self.last_four)


@dataclass(frozen=True)
class Declined:
    """The issuer or gateway said no. ``reason`` is words a person understands."""

    code: str
    reason: str


@dataclass(frozen=True)
class Error:
    """No money moved. ``retryable``: trying again later (same key) may succeed."""

    reason: str
    retryable: bool


@dataclass(frozen=True)
class Unknown:
    """Sent, but neither the answer nor a status query settled it: needs reconciliation."""

    reason: str = "the gateway did not answer; the payment needs reconciliation"


@dataclass(frozen=True)
class RequestNotFound:
    """A status query: the gateway has no request with this key (it never arrived)."""


GatewayResult = Approved | Declined | Error | Unknown
StatusResult = GatewayResult | RequestNotFound


class Gateway(Protocol):
    async def sale(
        self,
        card: CardDetails,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        *,
        store_card: bool = False,
    ) -> GatewayResult:
        """Authorize and capture. With ``store_card`` the approval also carries a token."""
        ...

    async def sale_with_token(
        self, token: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> GatewayResult:
        """Charge a card on file."""
        ...

    async def tokenize(self, card: CardDetails, idempotency_key: str) -> GatewayResult:
        """Store a card (card on file): the approval carries the token; nothing is charged."""
        ...

    async def status(self, idempotency_key: str) -> StatusResult:
        """What became of the request sent with this key."""
        ...

    async def void(self, reference: str, idempotency_key: str) -> GatewayResult:
        """Cancel a sale in full before it settles."""
        ...

    async def refund(
        self, reference: str, amount_minor: int, idempotency_key: str
    ) -> GatewayResult:
        """Give back part or all of a sale."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class BankDebitGateway(Protocol):
    """A gateway that also debits bank accounts (ACH)."""

    async def debit_bank_account(
        self,
        account: BankAccountDetails,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
    ) -> GatewayResult:
        """Debit the account once; the account is wiped whatever happens."""
        ...


NO_RECORD_REASON = "the gateway has no record of this payment; no money moved"


def to_flow_event(
    result: StatusResult,
) -> GatewayApproval | GatewayDecline | GatewayFailure | GatewayOutcomeUnknown:
    """The event the payment flow takes back for a gateway result."""
    match result:
        case Approved():
            return GatewayApproval(result.reference, result.brand, result.last_four)
        case Declined():
            return GatewayDecline(result.code, result.reason)
        case Error():
            return GatewayFailure(result.reason)
        case Unknown():
            return GatewayOutcomeUnknown(result.reason)
        case RequestNotFound():
            return GatewayFailure(NO_RECORD_REASON)


NO_BANK_DEBIT_REASON = "this payment gateway does not take bank account payments"


def check_amount(amount_minor: int, currency: str) -> None:
    """A programming error, not a refusal: raises ValueError for what no gateway takes."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise ValueError("an amount is a positive number of minor units")
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError("a currency is a 3-letter ISO 4217 code")


async def send_authorization(gateway: Gateway, command: Authorize) -> GatewayResult:
    """The gateway's answer to the flow's :class:`Authorize`: one sale (asking for a token
    when the caller keeps the card on file) or one bank debit, keyed by the payment id.

    The card or account is wiped whatever happens. Programming errors (a bad amount or
    currency) still raise, after the wipe.
    """
    details = command.details
    if isinstance(details, BankAccountDetails):
        if not isinstance(gateway, BankDebitGateway):
            details.wipe()
            return Error(NO_BANK_DEBIT_REASON, retryable=False)
        return await gateway.debit_bank_account(
            details, command.amount_minor, command.currency, command.idempotency_key
        )
    return await gateway.sale(
        details,
        command.amount_minor,
        command.currency,
        command.idempotency_key,
        store_card=command.store_card,
    )

