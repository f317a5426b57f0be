"""After payments with every test card, no table holds a PAN, security code or expiry."""

import re

import psycopg
from _store_helpers import new_payment

from payivr.core.events import Outcome, Step, StepStatus
from payivr.store import Origin, OutboxWorker, PaymentStore, WebhookAdapter

# DESIGN.md test cards: (number, brand, outcome)
TEST_CARDS = [
    ("4242424242424242", "visa", Outcome.APPROVED),
    ("5555555555554444", "mastercard", Outcome.APPROVED),
    ("2223003122003222", "mastercard", Outcome.APPROVED),
    ("378282246310005", "amex", Outcome.APPROVED),
    ("6011111111111117", "discover", Outcome.APPROVED),
    ("36227206271667", "diners", Outcome.APPROVED),
    ("3566002020360505", "jcb", Outcome.APPROVED),
    ("6200000000000005", "unionpay", Outcome.APPROVED),
    ("4000000000000002", "visa", Outcome.DECLINED),
    ("4000000000009995", "visa", Outcome.DECLINED),
    ("4000000000009987", "visa", Outcome.DECLINED),
    ("4000000000009979", "visa", Outcome.DECLINED),
    ("4000000000000069", "visa", Outcome.DECLINED),
    ("4000000000000127", "visa", Outcome.DECLINED),
    ("4000000000000119", "visa", Outcome.GATEWAY_ERROR),
]
# What the callers keyed besides the card: distinctive so a leak would be visible.
EXPIRY = "0939"
EXPIRY_FORMS = ["0939", "09/39", "09/2039", "2039-09"]
SECURITY_CODES = ["737", "7373"]


def _dump(url: str) -> str:
    """Every column of every row of every table in the public schema, as text."""
    with psycopg.connect(url) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        assert {"payments", "audit_events", "crm_outbox", "crm_endpoints"} <= set(tables)
        lines = []
        for table in tables:
            for (row,) in conn.execute(f'SELECT t::text FROM "{table}" t'):
                lines.append(f"{table}: {row}")
        return "\n".join(lines)


async def test_dump_of_every_table_holds_no_card_data(database, database_url, clock, secret):
    store = PaymentStore(database, crm_endpoints=["crm"], clock=clock)
    for number, brand, outcome in TEST_CARDS:
        payment_id = await store.create_payment(new_payment())
        await store.append_audit(
            actor="Alice Agent",
            action="payment.requested",
            success=True,
            origin=Origin.ip("192.0.2.10"),
            resource=f"payment:{payment_id}",
            payment_id=payment_id,
        )
        for step in Step:
            await store.update_step(payment_id, step, StepStatus.DONE)
        await store.record_card(payment_id, brand=brand, last_four=number[-4:])
        await store.mark_authorizing(payment_id)
        await store.record_outcome(
            payment_id,
            outcome,
            gateway_reference=f"ch_{brand}_{number[-4:]}",
            reason=None if outcome is Outcome.APPROVED else "card declined",
        )
        await store.append_audit(
            actor="payivr",
            action="payment.finished",
            success=outcome is Outcome.APPROVED,
            origin=Origin.channel("1732222222.42"),
            resource=f"payment:{payment_id}",
            payment_id=payment_id,
            detail=f"{brand} ending {number[-4:]}",
        )

    async def accept(_request):
        from payivr.store import WebhookResponse

        return WebhookResponse(200)

    adapter = WebhookAdapter("crm", "http://127.0.0.1:9/", secret, accept, clock=clock)
    await OutboxWorker(database, [adapter], clock=clock).run_once()

    dump = _dump(database_url)
    assert dump.count("payments:") == len(TEST_CARDS)
    # Random ids and timestamps may contain any short digit sequence; leave them out.
    cleaned = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", dump)
    cleaned = re.sub(
        r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?)?", "<time>", cleaned
    )
    digits_only = re.sub(r"\D", "", cleaned)
    for number, _, _ in TEST_CARDS:
        assert number not in dump
        assert number not in digits_only  # not even split by spaces or dashes
    for secret_value in EXPIRY_FORMS + SECURITY_CODES:
        assert not re.search(rf"(?<!\d){re.escape(secret_value)}(?!\d)", cleaned)
    # The card appears only as brand and last four.
    assert "4242" in dump and "visa" in dump
