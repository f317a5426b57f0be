"""Cards on file: the gateway's token for a customer's card, never the card itself.

A caller who pays by card can keep it for future payments (pay by text charges it later
with :meth:`Gateway.sale_with_token`). What is kept is what the gateway returned with the
token: brand, last four, expiry month and year. PCI DSS protects the expiry date only when
it is stored with the PAN; payivr never holds the PAN, the token stands in for it.

Each card belongs to a customer, known by caller number and/or CRM record id. Saving,
looking up (for pay by text), using and deleting a card are audited.

Pay by text charges a card without the cardholder on the line, so it finds a card only by
:meth:`CardsOnFile.bound_to`: the customer's CRM record id *and* the mobile the card was kept
with must both match. (Found by either, an agent could name the victim's CRM record and
their own mobile, reply YES and charge the victim's card.)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import psycopg
import structlog
from psycopg.rows import dict_row

from payivr.core.cards import Brand, MaskedCard
from payivr.core.redact import has_pan
from payivr.store.database import Database
from payivr.store.errors import CardDataRefused, StoreError
from payivr.store.models import AuditEntry, Clock, Origin, utc_now
from payivr.store.payment_rows import AUDIT_INSERT, audit_values

logger = structlog.get_logger(__name__)


class CardOnFileNotFound(StoreError):
    def __init__(self, card_id: UUID) -> None:
        super().__init__(f"no card on file {card_id}")
        self.card_id = card_id


class NoCustomerReference(StoreError):
    """A card cannot be kept for a payment that names no customer (no caller number and no
    CRM record id)."""


@dataclass(frozen=True)
class Customer:
    """Who a card on file belongs to: a caller number, a CRM record id, or both."""

    caller_number: str | None = None
    crm_record_id: str | None = None

    def __post_init__(self) -> None:
        if not self.caller_number and not self.crm_record_id:
            raise ValueError("a customer needs a caller number or a CRM record id")


@dataclass(frozen=True)
class GatewayToken:
    """What a gateway returned when it stored a card (``Approved`` with ``token``)."""

    token: str
    brand: Brand
    last_four: str
    expiry_month: int | None = None
    expiry_year: int | None = None

    def __post_init__(self) -> None:
        if len(self.last_four) != 4 or not self.last_four.isdigit():
            raise ValueError("last_four must be exactly four digits")
        if (self.expiry_month is None) != (self.expiry_year is None):
            raise ValueError("an expiry has both a month and a year, or neither")

    def __repr__(self) -> str:
        # The token charges the card: keep it out of logs and tracebacks.
        return f"GatewayToken(<hidden>, {self.brand.value} ending {self.last_four})"


@dataclass(frozen=True)
class CardOnFile:
    id: UUID
    customer: Customer
    token: str
    brand: Brand
    last_four: str
    expiry_month: int | None
    expiry_year: int | None
    payment_id: UUID | None
    created_at: datetime

    @property
    def masked_card(self) -> MaskedCard:
        return MaskedCard(self.brand, self.last_four)

    def expired(self, today: date) -> bool:
        """True once the card's expiry month is over (False when the expiry is unknown)."""
        if self.expiry_month is None or self.expiry_year is None:
            return False
        return (self.expiry_year, self.expiry_month) < (today.year, today.month)

    def __repr__(self) -> str:
        return f"<CardOnFile {self.id} {self.masked_card}>"


def _card_from_row(row: dict[str, Any]) -> CardOnFile:
    return CardOnFile(
        id=row["id"],
        customer=Customer(row["caller_number"], row["crm_record_id"]),
        token=row["gateway_token"],
        brand=Brand(row["brand"]),
        last_four=row["last_four"],
        expiry_month=row["expiry_month"],
        expiry_year=row["expiry_year"],
        payment_id=row["payment_id"],
        created_at=row["created_at"],
    )


class CardsOnFile:
    """The ``cards_on_file`` table. Every change is written with its audit event."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    async def save(
        self,
        customer: Customer,
        token: GatewayToken,
        *,
        payment_id: UUID | None = None,
        actor: str = "payivr",
        origin: Origin | None = None,
    ) -> CardOnFile:
        """Keep a card for ``customer``. Saving the same token again returns the card kept."""
        for field, value in (
            ("caller_number", customer.caller_number),
            ("crm_record_id", customer.crm_record_id),
            ("gateway_token", token.token),
        ):
            if has_pan(value):
                raise CardDataRefused(field)
        card_id = uuid.uuid4()
        now = self._clock()
        async with self._db.pool.connection() as conn, conn.transaction():
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(
                "INSERT INTO cards_on_file (id, caller_number, crm_record_id, gateway_token,"
                " brand, last_four, expiry_month, expiry_year, payment_id, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (gateway_token) DO NOTHING RETURNING *",
                (
                    card_id,
                    customer.caller_number,
                    customer.crm_record_id,
                    token.token,
                    token.brand.value,
                    token.last_four,
                    token.expiry_month,
                    token.expiry_year,
                    payment_id,
                    now,
                ),
            )
            row = await cursor.fetchone()
            if row is None:
                await cursor.execute(
                    "SELECT * FROM cards_on_file WHERE gateway_token = %s", (token.token,)
                )
                existing = await cursor.fetchone()
                assert existing is not None
                return _card_from_row(existing)
            card = _card_from_row(row)
            await self._audit(conn, "card_on_file.saved", card, actor, origin, payment_id)
        logger.info(
            "card_on_file_saved",
            card_id=str(card.id),
            brand=card.brand.value,
            last_four=card.last_four,
            payment_id=str(payment_id) if payment_id else None,
        )
        return card

    async def save_for_payment(self, payment_id: UUID, token: GatewayToken) -> CardOnFile:
        """Keep a card for the customer of a payment (its caller number and CRM record id):
        what the caller asked for by pressing 1 during that payment."""
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT caller_number, crm_record_id FROM payments WHERE id = %s", (payment_id,)
            )
            row = await cursor.fetchone()
        if row is None or not (row[0] or row[1]):
            raise NoCustomerReference(f"payment {payment_id} names no customer")
        return await self.save(
            Customer(row[0] or None, row[1] or None),
            token,
            payment_id=payment_id,
            origin=Origin.system(),
        )

    async def list_for(self, customer: Customer) -> list[CardOnFile]:
        """The customer's cards, newest first: those kept under the caller number or under
        the CRM record id given."""
        rows = await self._db.rows(
            "SELECT * FROM cards_on_file"
            " WHERE (%(number)s::text IS NOT NULL AND caller_number = %(number)s)"
            " OR (%(crm)s::text IS NOT NULL AND crm_record_id = %(crm)s)"
            " ORDER BY created_at DESC, id",
            {"number": customer.caller_number, "crm": customer.crm_record_id},
        )
        return [_card_from_row(row) for row in rows]

    async def bound_to(
        self, crm_record_id: str, phone: str, *, actor: str, origin: Origin | None = None
    ) -> list[CardOnFile]:
        """The cards kept for this CRM record id together with this caller number, newest
        first. Every lookup is audited (``card_on_file.looked_up``; a failure when none)."""
        async with self._db.pool.connection() as conn, conn.transaction():
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(
                "SELECT * FROM cards_on_file WHERE crm_record_id = %s AND caller_number = %s"
                " ORDER BY created_at DESC, id",
                (crm_record_id, phone),
            )
            found = [_card_from_row(row) for row in await cursor.fetchall()]
            looked_up = AuditEntry(
                actor,
                "card_on_file.looked_up",
                success=bool(found),
                origin=origin or Origin.system(),
                resource=f"customer:{crm_record_id}",
                detail=f"{len(found)} found",
            )
            await conn.execute(AUDIT_INSERT, audit_values(self._clock(), looked_up))
        return found

    async def lookups_finding_nothing(self, actor: str, since: datetime) -> int:
        """How many of ``actor``'s lookups since ``since`` found no card."""
        async with self._db.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT count(*) FROM audit_events WHERE action = 'card_on_file.looked_up'"
                " AND NOT success AND actor = %s AND occurred_at >= %s",
                (actor, since),
            )
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def get(self, card_id: UUID) -> CardOnFile:
        row = await self._db.row("SELECT * FROM cards_on_file WHERE id = %s", (card_id,))
        if row is None:
            raise CardOnFileNotFound(card_id)
        return _card_from_row(row)

    async def delete(
        self, card_id: UUID, *, actor: str = "payivr", origin: Origin | None = None
    ) -> CardOnFile:
        """Forget a card (the customer asked, or the card expired). Raises
        :class:`CardOnFileNotFound`. Deleting the token at the gateway is the caller's job."""
        async with self._db.pool.connection() as conn, conn.transaction():
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute("DELETE FROM cards_on_file WHERE id = %s RETURNING *", (card_id,))
            row = await cursor.fetchone()
            if row is None:
                raise CardOnFileNotFound(card_id)
            card = _card_from_row(row)
            await self._audit(conn, "card_on_file.deleted", card, actor, origin, card.payment_id)
        logger.info("card_on_file_deleted", card_id=str(card_id))
        return card

    async def _audit(
        self,
        conn: psycopg.AsyncConnection[Any],
        action: str,
        card: CardOnFile,
        actor: str,
        origin: Origin | None,
        payment_id: UUID | None,
    ) -> None:
        entry = AuditEntry(
            actor,
            action,
            success=True,
            origin=origin or Origin.system(),
            resource=f"card_on_file:{card.id}",
            payment_id=payment_id,
            detail=str(card.masked_card),
        )
        await conn.execute(AUDIT_INSERT, audit_values(self._clock(), entry))
