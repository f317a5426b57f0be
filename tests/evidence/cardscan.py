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
    grams = {
        card.pan[i : i + RUN_LENGTH]: card.pan
        for card in cards
        for i in range(len(card.pan) - RUN_LENGTH + 1)
        if card.pan[i : i + RUN_LENGTH].count("0") < 5
    }
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
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if len(digits) < RUN_LENGTH:
            continue
        for i in range(len(digits) - RUN_LENGTH + 1):
            pan = grams.get(digits[i : i + RUN_LENGTH])
            if pan is not None and not _pan_pattern(pan).fullmatch(match.group(0)):
                findings.append(
                    Finding(
                        source,
                        f"{RUN_LENGTH}+ digits of PAN {pan}",
                        _excerpt(text, match.start(), match.end()),
                    )
                )
                break
    return findings


def scan(corpus: Mapping[str, str], cards: Iterable[KeyedCard]) -> list[Finding]:
    """:func:`find_card_data` over every source of ``corpus`` (name -> text)."""
    cards = list(cards)
    return [f for name, text in corpus.items() for f in find_card_data(name, text, cards)]
