"""Card data in free text: recognise it and take it out. Pure: no I/O.

payivr keeps text it did not write itself: a customer's text message, a gateway's decline
reason, a dialer's hangup detail, an audit event's resource. Any of it may carry card data
(a customer texts "use 4111 1111 1111 1111 exp 12/30 cvc 123"), so every such text goes
through :func:`redact_card_data` before it is stored or shown. What it takes out:

- runs of 7 or more digits (part of a card or bank account number, whatever else they are);
- digit groups split by single spaces, dashes or dots (``4111 1111 1111 1111``,
  ``4111-1111-…``, ``4111.1111.…``) holding 13 to 19 consecutive digits that pass the Luhn
  check;
- an expiry date: ``MM/YY`` or ``MM/YYYY`` anywhere, and ``MMYY``, ``MM-YY``, ``MM.YY``,
  ``MM YY`` after a word such as *exp*, *expiry*, *expires* or *valid thru*;
- a 3 or 4 digit code next to a word such as *cvc*, *cvv*, *csc*, *cid*, *security code* or
  *code* (``cvc 123``, ``code: 1234``, ``123 is the cvv``).

:func:`has_card_data` finds the same shapes but the plain 7-digit runs (identifiers and
payivr's own messages may hold those); the database's ``payivr_has_card_data`` check
(migration 0009) refuses exactly what it finds.
"""

from __future__ import annotations

import re

from payivr.core.cards import SecretDigits, luhn_valid

REMOVED = "[removed]"

MIN_PAN_LENGTH = 13
MAX_PAN_LENGTH = 19

_DIGIT_RUN = re.compile(r"[0-9]{7,}")
_CARD_LENGTH_RUN = re.compile(r"[0-9]{13,19}")
_DIGIT_GROUPS = re.compile(r"(?<![0-9])[0-9]+(?:[ .-][0-9]+)+(?![0-9])")
_GROUP_SEPARATOR = re.compile(r"[ .-]")
_EXPIRY = re.compile(
    r"(?<![0-9/])(?:0?[1-9]|1[0-2]) ?/ ?(?:20[0-9]{2}|[0-9]{2})(?![0-9/])"
    r"|\b(?:exp|expiry|expires|expiration|valid (?:thru|through|until)|good thru)\b[^0-9]{0,12}"
    r"(?:0[1-9]|1[0-2]) ?[/.-]? ?(?:20[0-9]{2}|[0-9]{2})(?![0-9])",
    re.IGNORECASE,
)
_CODE_WORDS = r"(?:cvc2?|cvv2?|csc|cid|security code)"
_SECURITY_CODE = re.compile(
    rf"\b(?:{_CODE_WORDS}|code)\b[^0-9]{{0,12}}[0-9]{{3,4}}(?![0-9])"
    rf"|(?<![0-9])[0-9]{{3,4}}[^0-9a-z]{{0,3}}(?:is )?(?:the |my )?{_CODE_WORDS}\b",
    re.IGNORECASE,
)


def _luhn(digits: str) -> bool:
    return luhn_valid(SecretDigits(digits))


def has_digit_run(text: str | None) -> bool:
    """True when free text holds 7+ consecutive digits (possibly part of a card number)."""
    return text is not None and _DIGIT_RUN.search(text) is not None


def has_pan(text: str | None) -> bool:
    """True when text holds a Luhn-valid run of 13 to 19 digits written together: the check
    for identifiers, which may hold other long digit runs (Asterisk ids, phone numbers)."""
    if text is None:
        return False
    return any(_luhn(run) for run in _CARD_LENGTH_RUN.findall(text))


def _groups_hold_pan(written: str) -> bool:
    """True when consecutive groups of ``4111 1111 …`` join into a Luhn-valid card number."""
    groups = _GROUP_SEPARATOR.split(written)
    for first in range(len(groups)):
        joined = ""
        for group in groups[first:]:
            joined += group
            if len(joined) > MAX_PAN_LENGTH:
                break
            if len(joined) >= MIN_PAN_LENGTH and _luhn(joined):
                return True
    return False


def has_card_data(text: str | None) -> bool:
    """True when text holds a card number (written together or in groups), an expiry date
    or a security code next to its name."""
    if text is None:
        return False
    return (
        has_pan(text)
        or any(_groups_hold_pan(match.group(0)) for match in _DIGIT_GROUPS.finditer(text))
        or _EXPIRY.search(text) is not None
        or _SECURITY_CODE.search(text) is not None
    )


def redact_card_data(text: str) -> str:
    """``text`` with every shape of card data in the module's list replaced by ``[removed]``."""
    text = _DIGIT_GROUPS.sub(
        lambda match: REMOVED if _groups_hold_pan(match.group(0)) else match.group(0), text
    )
    text = _EXPIRY.sub(REMOVED, text)
    text = _SECURITY_CODE.sub(REMOVED, text)
    return _DIGIT_RUN.sub(REMOVED, text)
