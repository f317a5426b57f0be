"""A pay-by-text rig on real objects: the store, the sandbox gateway, the simulated carrier."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from payivr.core.cards import SecretDigits, identify_brand
from payivr.core.events import CardDetails
from payivr.gateway.inprocess import InProcessGateway
from payivr.gateway.interface import Approved, GatewayResult
from payivr.sim.sms import SimulatedCarrier, SimulatedPhone
from payivr.sms import ReminderPolicy, SmsService, SmsSettings, SmsStore, Texts, WebhookVerifier
from payivr.store.cards_on_file import CardOnFile, CardsOnFile, Customer, GatewayToken
from payivr.store.database import Database
from payivr.store.payments import PaymentStore

SECRET = "whsec_c21zLXdlYmhvb2stc2VjcmV0LWZvci1wYXlpdnItdGVzdHM="
PHONE = "+15551230001"
CUSTOMER = "CUST-A1"
AGENT = "Alice Agent"
# Monday 2 June 2025, 10:00 in New York.
START = datetime(2025, 6, 2, 14, 0, tzinfo=UTC)
TEST_PANS = (
    "4242424242424242",
    "4000000000000002",
    "4000000000009995",
    "5555555555554444",
    "378282246310005",
)


@dataclass
class FakeClock:
    """Test time (a real clock object the components read; tests move it)."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def card(number: str, expiry: str = "1230") -> CardDetails:
    digits = SecretDigits(number)
    iin = identify_brand(digits)
    assert iin is not None
    code = "1234" if iin.brand.security_code_length == 4 else "123"
    return CardDetails(digits, SecretDigits(expiry), SecretDigits(code), "94107", iin.brand)


POLICY = ReminderPolicy(
    window_days=7,
    lead_days=1,
    daily_cap=1000,
    send_from=time(9, 0),
    send_until=time(19, 0),
    time_zone="America/New_York",
)


@dataclass
class Rig:
    db: Database
    clock: FakeClock
    gateway: InProcessGateway
    carrier: SimulatedCarrier
    payments: PaymentStore
    cards: CardsOnFile
    service: SmsService
    keys: list[str] = field(default_factory=list)

    def phone(self, number: str = PHONE) -> SimulatedPhone:
        return self.carrier.phone(number)

    async def keep_card(
        self, number: str = "4242424242424242", *, customer: str = CUSTOMER, phone: str = PHONE
    ) -> CardOnFile:
        key = f"tok-{len(self.keys)}"
        self.keys.append(key)
        stored = await self.gateway.tokenize(card(number), key)
        assert isinstance(stored, Approved) and stored.token, stored
        assert stored.brand is not None and stored.last_four is not None
        return await self.cards.save(
            Customer(caller_number=phone, crm_record_id=customer),
            GatewayToken(
                stored.token,
                stored.brand,
                stored.last_four,
                stored.token_expiry_month,
                stored.token_expiry_year,
            ),
        )

    def charges(self, key: str | None = None) -> int:
        return self.gateway.processor.ledger.charges(key)

    def another_service(self) -> SmsService:
        """A second instance on the same database and carrier (another payivr process)."""
        return make_service(self.db, self.clock, self.gateway, self.carrier, self.payments)


def make_service(
    db: Database,
    clock: FakeClock,
    gateway: Any,
    carrier: SimulatedCarrier,
    payments: PaymentStore,
    **settings: Any,
) -> SmsService:
    return SmsService(
        SmsStore(db),
        carrier,
        gateway,
        payments,
        CardsOnFile(db, clock=clock),
        settings=SmsSettings(texts=Texts("Acme Storage"), reminders=POLICY, **settings),
        verifier=WebhookVerifier(SECRET, tolerance=300, clock=clock),
        clock=clock,
    )


class LostAnswerGateway:
    """The sandbox, but the answer to a token sale is lost after the charge is made
    (a connection reset): the outcome is unknown until asked by idempotency key."""

    def __init__(self, inner: InProcessGateway) -> None:
        self.inner = inner

    async def sale_with_token(
        self, token: str, amount_minor: int, currency: str, idempotency_key: str
    ) -> GatewayResult:
        await self.inner.sale_with_token(token, amount_minor, currency, idempotency_key)
        raise ConnectionResetError("connection reset after the request was sent")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def dump_tables(db: Database) -> str:
    """Every row of every table as text, for card-data scans."""
    out = []
    async with db.pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        for (table,) in await cursor.fetchall():
            rows = await conn.execute(f'SELECT * FROM "{table}"')
            out.extend(repr(row) for row in await rows.fetchall())
    return "\n".join(out)
