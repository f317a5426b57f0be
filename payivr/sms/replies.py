"""What a customer's text means, and the words payivr texts back. Pure: no I/O, no clock.

Keywords follow carrier practice (CTIA): a message that is exactly one of the opt-out
words (case, surrounding spaces and a trailing full stop or exclamation mark ignored)
opts the number out; START/UNSTOP opt it back in; HELP/INFO get the help text. A payment
is confirmed only by a reply whose first word is YES ("yes please", "YES ", "Yes!");
everything else, "Y E S" and an empty text included, is no.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from payivr.core.cards import MaskedCard
from payivr.store.activity import format_amount

STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"}
)
START_WORDS = frozenset({"START", "UNSTOP", "SUBSCRIBE"})
HELP_WORDS = frozenset({"HELP", "INFO"})
PAY_WORDS = frozenset({"PAY"})

_EDGE_PUNCTUATION = ".!,;:?"


class ReplyKind(enum.Enum):
    YES = "yes"
    NO = "no"
    STOP = "stop"
    START = "start"
    HELP = "help"
    PAY = "pay"


def _keyword(body: str) -> str:
    return " ".join(body.split()).strip(_EDGE_PUNCTUATION + " ").upper()


def classify(body: str) -> ReplyKind:
    """The meaning of one inbound text."""
    keyword = _keyword(body)
    if keyword.replace(" ", "") in STOP_WORDS:
        return ReplyKind.STOP
    if keyword in START_WORDS:
        return ReplyKind.START
    if keyword in HELP_WORDS:
        return ReplyKind.HELP
    if keyword in PAY_WORDS:
        return ReplyKind.PAY
    words = body.split()
    if words and words[0].strip(_EDGE_PUNCTUATION).upper() == "YES":
        return ReplyKind.YES
    return ReplyKind.NO


def stop_keyword(body: str) -> str:
    """The opt-out word as stored (``"OPT OUT"`` is kept as ``OPTOUT``)."""
    return _keyword(body).replace(" ", "")[:20]


@dataclass(frozen=True)
class Texts:
    """The messages payivr sends. ``sender`` (the business name) starts each one, as
    carriers expect a business to identify itself; empty leaves it out."""

    sender: str = ""

    def _signed(self, text: str) -> str:
        return f"{self.sender}: {text}" if self.sender else text

    def ask(self, amount_minor: int, currency: str, item: str, card: MaskedCard) -> str:
        return self._signed(
            f"Pay {format_amount(amount_minor, currency)} for {item} with your {card}?"
            " Reply YES to pay, anything else to decline. Reply STOP to opt out."
        )

    def receipt(self, amount_minor: int, currency: str, item: str, reference: str) -> str:
        return self._signed(
            f"Paid {format_amount(amount_minor, currency)} for {item}, reference {reference}."
            " Thank you."
        )

    def declined(self, card: MaskedCard | None) -> str:
        what = f"Your {card}" if card else "Your card"
        return self._signed(
            f"{what} was declined, so nothing was charged. Please call us to pay another way."
        )

    def refused(self) -> str:
        return self._signed("OK, no payment was made.")

    def expired(self) -> str:
        return self._signed(
            "Sorry, this payment request has expired, so nothing was charged."
            " Please call us if you would like to pay."
        )

    def failed(self) -> str:
        return self._signed(
            "We could not take the payment just now, so nothing was charged. Please call us."
        )

    def confirming(self) -> str:
        return self._signed(
            "We are confirming your payment with the bank and will text you the result."
        )

    def no_payment(self) -> str:
        return self._signed("There is no payment to make by text right now. Please call us.")

    def opted_out(self) -> str:
        return self._signed(
            "You are unsubscribed and will get no more texts from us. Reply START to subscribe"
            " again."
        )

    def opted_in(self) -> str:
        return self._signed("You are subscribed again. Reply STOP to opt out.")

    def help(self) -> str:
        return self._signed(
            "Payment reminders and pay-by-text. Reply STOP to opt out. Call us for help."
        )

    def reminder(
        self,
        amount_minor: int,
        currency: str,
        item: str,
        due: date,
        pay_with: MaskedCard | None,
    ) -> str:
        when = f"{due:%A} {due.day} {due:%B}"
        offer = f" Reply PAY to pay with your {pay_with}." if pay_with else ""
        return self._signed(
            f"Reminder: {format_amount(amount_minor, currency)} for {item} is due on {when}."
            f"{offer} Reply STOP to opt out."
        )
