"""Finding card data in captured text: the scanner the leak test runs over everything.

What counts as a leak of a card that was keyed (:class:`KeyedCard`):

- its PAN, written plainly or split by spaces or dashes as people write it;
- any run of 7 or more consecutive digits of the PAN inside a run of digits in the text,
  written together or in card-like groups of up to six (a truncated PAN, the first six and
  more). Seven digits with five or more zeros are not looked for: the decline cards
  (4000000000000119...) are mostly zeros, and ``0000001`` is in every Asterisk channel name
  (``PJSIP/1101-00000010``) and padded counter. The last four alone are allowed: payivr shows
  and reads back "card ending 4242" (PCI DSS 3.4.1 allows first six / last four; payivr
  keeps only the last four);
- its expiry in any usual form: ``MMYY``, ``MM/YY``, ``MM-YY``, ``MM/YYYY``, ``YYYY-MM``,
  ``YYYYMM``. A year alone (``number:2031``, the second half of the read-back "September
  2031") is not counted: a year is not an expiry date and every log line carries one;
- its security code next to something naming it (``cvc``, ``cvv``, ``security``, ``code``...):
  a three-digit number alone is everywhere (ports, statuses, milliseconds) and proves nothing.

The postal code is not card data (it is read back to the caller on purpose).

A bank account (:class:`KeyedBankAccount`) leaks by its routing number or account number
written whole (plainly or grouped), or 7 or more consecutive digits of the account number
(the same rule as a PAN's). Payivr shows and reads back the last two digits only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

RUN_LENGTH = 7
_DIGIT_RUN = re.compile(r"\d{7,}|(?<!\d)\d{1,6}(?:[ -]\d{1,6})+(?!\d)")
_CODE_NAMES = r"(?:cvc|cvv|cv2|cvn|csc|cid|security|code)"


@dataclass(frozen=True)
class KeyedCard:
    pan: str
    expiry: str  # MMYY as keyed
    security_code: str

    @property
    def expiry_forms(self) -> tuple[str, ...]:
        month, year = self.expiry[:2], self.expiry[2:]
        full = f"20{year}"
        return (
            f"{month}{year}",
            f"{month}/{year}",
            f"{month}-{year}",
            f"{month}/{full}",
            f"{full}-{month}",
            f"{full}/{month}",
            f"{full}{month}",
        )


@dataclass(frozen=True)
class KeyedBankAccount:
    routing_number: str
    account_number: str


@dataclass(frozen=True)
class Finding:
    source: str
    what: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.source}: {self.what}: …{self.excerpt}…"


def _excerpt(text: str, start: int, end: int) -> str:
    return text[max(0, start - 60) : end + 60].replace("\n", "⏎")


def _pan_pattern(pan: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\d)" + "[ -]?".join(pan) + r"(?!\d)")


def find_card_data(source: str, text: str, cards: Iterable[KeyedCard]) -> list[Finding]:
    """Every place ``text`` holds card data of ``cards`` (see the module docstring)."""
    cards = list(cards)
    findings: list[Finding] = []
    for card in cards:
        for match in _pan_pattern(card.pan).finditer(text):
            findings.append(
                Finding(source, f"PAN {card.pan}", _excerpt(text, match.start(), match.end()))
            )
        for form in card.expiry_forms:
            pattern = re.compile(r"(?<![\w.])" + re.escape(form) + r"(?![\w])")
            for match in pattern.finditer(text):
                findings.append(
                    Finding(
                        source,
                        f"expiry {form} of {card.pan}",
                        _excerpt(text, match.start(), match.end()),
                    )
                )
        code = re.compile(
            _CODE_NAMES + r"[^0-9\n]{0,24}(?<!\d)" + card.security_code + r"(?!\d)", re.I
        )
        for match in code.finditer(text):
            findings.append(
                Finding(
                    source,
                    f"security code {card.security_code} of {card.pan}",
                    _excerpt(text, match.start(), match.end()),
                )
            )
    findings.extend(_digit_runs(source, text, [card.pan for card in cards], "PAN"))
    return findings


def find_bank_data(source: str, text: str, accounts: Iterable[KeyedBankAccount]) -> list[Finding]:
    """Every place ``text`` holds a routing or account number of ``accounts``."""
    accounts = list(accounts)
    findings: list[Finding] = []
    for account in accounts:
        for what, number in (
            ("routing number", account.routing_number),
            ("account number", account.account_number),
        ):
            for match in _pan_pattern(number).finditer(text):
                findings.append(
                    Finding(source, f"{what} {number}", _excerpt(text, match.start(), match.end()))
                )
    numbers = [account.account_number for account in accounts]
    findings.extend(_digit_runs(source, text, numbers, "account number"))
    return findings


def _digit_runs(source: str, text: str, numbers: list[str], what: str) -> list[Finding]:
    """Runs of 7+ digits of ``numbers`` inside the text's digit runs (not the whole number:
    that is found on its own)."""
    grams = {
        number[i : i + RUN_LENGTH]: number
        for number in numbers
        for i in range(len(number) - RUN_LENGTH + 1)
        if number[i : i + RUN_LENGTH].count("0") < 5
    }
    findings = []
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if len(digits) < RUN_LENGTH:
            continue
        for i in range(len(digits) - RUN_LENGTH + 1):
            number = grams.get(digits[i : i + RUN_LENGTH])
            if number is not None and not _pan_pattern(number).fullmatch(match.group(0)):
                findings.append(
                    Finding(
                        source,
                        f"{RUN_LENGTH}+ digits of {what} {number}",
                        _excerpt(text, match.start(), match.end()),
                    )
                )
                break
    return findings


def scan(corpus: Mapping[str, str], cards: Iterable[KeyedCard]) -> list[Finding]:
    """:func:`find_card_data` over every source of ``corpus`` (name -> text)."""
    cards = list(cards)
    return [f for name, text in corpus.items() for f in find_card_data(name, text, cards)]
