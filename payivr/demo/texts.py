"""The demo customer's texts: a card on file to pay by text with, and a phone for the texts.

``payivr demo`` runs texting on the built-in simulated carrier. The customer (CRM record
:data:`DEMO_CUSTOMER`, mobile :data:`DEMO_MOBILE`) has a card on file from the start, kept
as a customer who paid on a call and pressed 1 to keep the card would have it: only the
sandbox gateway's token with brand, last four and expiry. The demo phones page shows the
texts that mobile receives and sends its replies through the carrier.
"""

from __future__ import annotations

import uuid

import structlog

from payivr.config import SmsSection
from payivr.core.cards import Brand, SecretDigits
from payivr.core.errors import PayivrError
from payivr.core.events import CardDetails
from payivr.gateway.interface import Approved
from payivr.sim.sms import SimulatedCarrier, SimulatedPhone
from payivr.sms.service import SmsService
from payivr.store.cards_on_file import Customer, GatewayToken

log = structlog.get_logger(__name__)

DEMO_CUSTOMER = "C-1002"
DEMO_MOBILE = "+15550001002"
_DEMO_CARD = ("5555555555554444", "1230", "123", "90210", Brand.MASTERCARD)  # a sandbox test card


class DemoTextsError(PayivrError):
    """The demo could not set up the customer's card on file."""


def enable_demo_texting(sms: SmsSection) -> None:
    """Texting on the simulated carrier, sending at any hour, the worker looking every second
    (a reminder sent now reaches the demo phone at once)."""
    sms.enabled = True
    sms.provider = "simulator"
    sms.business_name = sms.business_name or "payivr demo"
    sms.send_from, sms.send_until = "00:00", "23:59:59"
    sms.poll_seconds = 1.0


async def keep_demo_card(sms: SmsService) -> str:
    """File a fresh sandbox token for the demo customer; returns the card as brand and last
    four. Cards kept by an earlier run go: their tokens died with that run's sandbox."""
    customer = Customer(caller_number=DEMO_MOBILE, crm_record_id=DEMO_CUSTOMER)
    for old in await sms.cards.list_for(customer):
        await sms.cards.delete(old.id, actor="demo")
    number, expiry, code, postal_code, brand = _DEMO_CARD
    card = CardDetails(
        SecretDigits(number), SecretDigits(expiry), SecretDigits(code), postal_code, brand
    )
    stored = await sms.gateway.tokenize(card, f"demo-card-{uuid.uuid4()}")
    if not isinstance(stored, Approved) or not stored.token or not stored.last_four:
        raise DemoTextsError(f"the sandbox gateway did not keep the demo card: {stored}")
    kept = await sms.cards.save(
        customer,
        GatewayToken(
            stored.token,
            stored.brand or brand,
            stored.last_four,
            stored.token_expiry_month,
            stored.token_expiry_year,
        ),
        actor="demo",
    )
    return str(kept.masked_card)


def demo_mobile(sms: SmsService) -> SimulatedPhone:
    """The demo customer's mobile on the simulated carrier payivr texts through."""
    if not isinstance(sms.provider, SimulatedCarrier):
        raise DemoTextsError("the demo texts through the simulated carrier")
    return sms.provider.phone(DEMO_MOBILE)
