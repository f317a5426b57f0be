"""A payment request: what the agent (console, API, ``*7``) asks the caller to pay."""

from __future__ import annotations

from dataclasses import dataclass

from payivr.config import CallSettings
from payivr.core.amounts import amount_problem
from payivr.core.errors import PayivrError
from payivr.core.events import PaymentMethod
from payivr.core.prompts import LANGUAGES
from payivr.core.request import PrivacyMode

MAX_ITEM_LENGTH = 200


class RequestRefused(PayivrError, ValueError):
    """The request cannot be sent to the caller; the message says why, for a person."""


@dataclass(frozen=True)
class PaymentRequest:
    item: str
    amount_minor: int
    currency: str
    agent: str
    privacy_mode: PrivacyMode = PrivacyMode.HOLD
    # The prompts' language; None: the caller's channel language (CHANNEL(language)) when
    # payivr has prompts in it, else calls.language.
    language: str | None = None
    crm_record_id: str | None = None
    method: PaymentMethod = PaymentMethod.CARD
    # Ask the caller, once approved, whether to keep the card (its gateway token) on file
    # for this customer; None: as flow.offer_card_on_file says.
    offer_card_on_file: bool | None = None

    def check(self, max_amount_minor: int) -> None:
        """Raise :class:`RequestRefused` with a clear reason for any bad field."""
        if not self.item.strip():
            raise RequestRefused("the item name is empty")
        if len(self.item) > MAX_ITEM_LENGTH:
            raise RequestRefused(f"the item name is longer than {MAX_ITEM_LENGTH} characters")
        problem = amount_problem(self.amount_minor, self.currency, max_amount_minor)
        if problem is not None:
            raise RequestRefused(problem)
        if self.offer_card_on_file and self.method is not PaymentMethod.CARD:
            raise RequestRefused("only a card can be kept on file")
        if self.language is not None and self.language not in LANGUAGES:
            raise RequestRefused(f"the language must be one of {', '.join(LANGUAGES)}")


FEATURE_CODE_ITEM = "Payment"
"""The item of a payment the agent starts from the phone (``*7`` and an amount)."""


def feature_code_request(
    amount_minor: int, currency: str, agent: str, calls: CallSettings
) -> PaymentRequest:
    """The request of ``*7``, the amount and ``#``: the operator's privacy mode."""
    return PaymentRequest(
        FEATURE_CODE_ITEM, amount_minor, currency, agent, privacy_mode=calls.privacy
    )
