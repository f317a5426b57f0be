"""Card validation (Luhn, brand by IIN and length, expiry, codes) and the digit container."""

from __future__ import annotations

import copy
import io
import logging
import pickle
from datetime import date

import pytest
import structlog

from payivr.core.cards import (
    Brand,
    CardDataExposure,
    CardProblem,
    ExpiryDate,
    MaskedCard,
    SecretDigits,
    check_card_number,
    check_expiry,
    check_postal_code,
    check_security_code,
    expiry_month_and_year,
    identify_brand,
    luhn_valid,
)
from payivr.core.events import Authorize, CardDetails, KeyPress

from ._harness import DECLINE_CARDS, SUCCESS_CARDS, card_number

ALL_BRANDS = frozenset(Brand)
PAN = "4242424242424242"


def check(number: str, accepted: frozenset[Brand] = ALL_BRANDS) -> Brand | CardProblem:
    return check_card_number(SecretDigits(number), accepted)


# --------------------------------------------------------------------------- test cards


@pytest.mark.parametrize(("number", "brand"), SUCCESS_CARDS, ids=[n for n, _ in SUCCESS_CARDS])
def test_every_success_test_card_is_its_brand(number: str, brand: Brand) -> None:
    assert check(number) is brand


@pytest.mark.parametrize("number", DECLINE_CARDS)
def test_every_decline_test_card_is_a_valid_visa(number: str) -> None:
    assert check(number) is Brand.VISA


def test_4242424242424241_fails_luhn() -> None:
    assert not luhn_valid(SecretDigits("4242424242424241"))
    assert check("4242424242424241") is CardProblem.LUHN


def test_luhn_of_nothing_is_false() -> None:
    assert not luhn_valid(SecretDigits())


# --------------------------------------------------------------------------- IIN ranges


IIN_CASES = [
    # Mastercard 2-series and 51-55, and just outside.
    ("2221", 16, Brand.MASTERCARD),
    ("2720", 16, Brand.MASTERCARD),
    ("2500", 16, Brand.MASTERCARD),
    ("2220", 16, None),
    ("2721", 16, None),
    ("51", 16, Brand.MASTERCARD),
    ("55", 16, Brand.MASTERCARD),
    ("50", 16, None),
    ("56", 16, None),
    # Discover 6011, 644-649, 65.
    ("6011", 16, Brand.DISCOVER),
    ("6010", 16, None),
    ("6012", 16, None),
    ("644", 16, Brand.DISCOVER),
    ("649", 19, Brand.DISCOVER),
    ("643", 16, None),
    ("65", 16, Brand.DISCOVER),
    ("66", 16, None),
    # Diners 300-305, 36, 38, 39.
    ("300", 14, Brand.DINERS),
    ("305", 14, Brand.DINERS),
    ("306", 14, None),
    ("36", 14, Brand.DINERS),
    ("38", 16, Brand.DINERS),
    ("39", 19, Brand.DINERS),
    # Amex 34, 37.
    ("34", 15, Brand.AMEX),
    ("37", 15, Brand.AMEX),
    ("33", 15, None),
    # JCB 3528-3589.
    ("3528", 16, Brand.JCB),
    ("3589", 19, Brand.JCB),
    ("3527", 16, None),
    ("3590", 16, None),
    # UnionPay 62.
    ("62", 16, Brand.UNIONPAY),
    ("622126", 19, Brand.UNIONPAY),
    ("63", 16, None),
    # Visa 4.
    ("4", 13, Brand.VISA),
    ("4", 16, Brand.VISA),
    ("4", 19, Brand.VISA),
    # Nothing starts with 1, 7, 8, 9.
    ("1", 16, None),
    ("7", 16, None),
    ("9", 16, None),
]


@pytest.mark.parametrize(("prefix", "length", "brand"), IIN_CASES)
def test_brand_by_iin(prefix: str, length: int, brand: Brand | None) -> None:
    number = card_number(prefix, length)
    iin = identify_brand(SecretDigits(number))
    assert (iin.brand if iin else None) is brand
    assert check(number) is (brand or CardProblem.UNKNOWN_BRAND)


LENGTH_CASES = [
    ("4", (13, 16, 19), (12, 14, 15, 17, 18)),
    ("51", (16,), (12, 15, 17, 19)),
    ("2221", (16,), (15, 17)),
    ("34", (15,), (14, 16)),
    ("6011", (16, 17, 18, 19), (12, 15)),
    ("36", (14, 15, 16, 17, 18, 19), (12, 13)),
    ("3528", (16, 17, 18, 19), (15,)),
    ("62", (16, 17, 18, 19), (15,)),
]


@pytest.mark.parametrize(("prefix", "good", "bad"), LENGTH_CASES)
def test_lengths_allowed_per_brand(
    prefix: str, good: tuple[int, ...], bad: tuple[int, ...]
) -> None:
    for length in good:
        assert isinstance(check(card_number(prefix, length)), Brand), length
    for length in bad:
        assert check(card_number(prefix, length)) is CardProblem.BAD_LENGTH_FOR_BRAND, length


def test_too_short_and_too_long() -> None:
    assert check(card_number("4", 11)) is CardProblem.TOO_SHORT
    assert check("") is CardProblem.TOO_SHORT
    assert check(card_number("4", 20)) is CardProblem.TOO_LONG


def test_accepted_brands_filter() -> None:
    visa_only = frozenset({Brand.VISA})
    assert check(PAN, visa_only) is Brand.VISA
    assert check("378282246310005", visa_only) is CardProblem.BRAND_NOT_ACCEPTED
    # A bad number is reported as bad, not as refused.
    assert check("4242424242424241", frozenset({Brand.AMEX})) is CardProblem.LUHN


def test_security_code_length_by_brand() -> None:
    assert Brand.AMEX.security_code_length == 4
    assert all(b.security_code_length == 3 for b in Brand if b is not Brand.AMEX)
    assert check_security_code(SecretDigits("1234"), Brand.AMEX) is None
    assert check_security_code(SecretDigits("123"), Brand.AMEX) is CardProblem.BAD_SECURITY_CODE
    assert check_security_code(SecretDigits("123"), Brand.VISA) is None
    assert check_security_code(SecretDigits("1234"), Brand.VISA) is CardProblem.BAD_SECURITY_CODE
    assert check_security_code(SecretDigits(), Brand.VISA) is CardProblem.BAD_SECURITY_CODE


@pytest.mark.parametrize(
    ("digits", "problem"),
    [
        ("94105", None),
        ("941051234", None),
        ("9410", CardProblem.BAD_POSTAL_CODE),
        ("", CardProblem.BAD_POSTAL_CODE),
        ("94a05", CardProblem.BAD_POSTAL_CODE),
    ],
)
def test_postal_code(digits: str, problem: CardProblem | None) -> None:
    assert check_postal_code(digits, frozenset({5, 9})) is problem


def test_masking_shows_brand_and_last_four_only() -> None:
    masked = MaskedCard(Brand.VISA, SecretDigits(PAN).last_four())
    assert str(masked) == "Visa ending 4242"
    assert str(MaskedCard(Brand.AMEX, "0005")) == "American Express ending 0005"


# --------------------------------------------------------------------------- expiry


EXPIRY_CASES = [
    # today, MMYY, problem
    (date(2025, 6, 15), "0625", None),
    (date(2025, 6, 15), "0525", CardProblem.EXPIRED),
    (date(2025, 6, 15), "1224", CardProblem.EXPIRED),
    (date(2025, 6, 15), "0645", None),  # exactly twenty years ahead
    (date(2025, 6, 15), "0745", CardProblem.EXPIRY_TOO_FAR),
    (date(2025, 6, 15), "1299", CardProblem.EXPIRY_TOO_FAR),
    (date(2025, 6, 15), "0030", CardProblem.BAD_EXPIRY_MONTH),
    (date(2025, 6, 15), "1330", CardProblem.BAD_EXPIRY_MONTH),
    (date(2025, 6, 15), "9930", CardProblem.BAD_EXPIRY_MONTH),
    (date(2025, 6, 15), "123", CardProblem.BAD_EXPIRY_FORMAT),
    (date(2025, 6, 15), "12300", CardProblem.BAD_EXPIRY_FORMAT),
    (date(2025, 6, 15), "", CardProblem.BAD_EXPIRY_FORMAT),
    # Around a new year.
    (date(2025, 12, 31), "1225", None),
    (date(2025, 12, 31), "1125", CardProblem.EXPIRED),
    (date(2025, 12, 31), "0126", None),
    (date(2026, 1, 1), "1225", CardProblem.EXPIRED),
    (date(2025, 12, 31), "1245", None),
    (date(2025, 12, 31), "0146", CardProblem.EXPIRY_TOO_FAR),
    # First of the month and last day of the month are the same month.
    (date(2030, 2, 1), "0230", None),
    (date(2030, 2, 28), "0230", None),
]


@pytest.mark.parametrize(("today", "mmyy", "problem"), EXPIRY_CASES)
def test_expiry(today: date, mmyy: str, problem: CardProblem | None) -> None:
    assert check_expiry(SecretDigits(mmyy), today) is problem


def test_expiry_month_and_year() -> None:
    assert expiry_month_and_year(SecretDigits("0731")) == (7, 2031)


def test_expiry_date_repr_is_hidden() -> None:
    assert "12" not in repr(ExpiryDate(12, 2030))
    assert "2030" not in str(ExpiryDate(12, 2030))


# --------------------------------------------------------------------------- SecretDigits


def _views(secret: object) -> list[str]:
    return [
        str(secret),
        repr(secret),
        format(secret),
        format(secret, ">40"),
        f"{secret}",
        f"{secret!r}",
        f"{secret!s}",
        format(secret, "s"),
        "%s" % (secret,),  # noqa: UP031
        "%r" % (secret,),  # noqa: UP031
        "{}".format(secret),  # noqa: UP032
        str([secret]),
        str({"card": secret}),
        str((secret,)),
    ]


def test_secret_digits_never_show_digits() -> None:
    secret = SecretDigits(PAN)
    for view in _views(secret):
        assert "SecretDigits" in view, view
        assert "4242" not in view, view
    assert repr(secret) == "<SecretDigits len=16>"
    secret.wipe()
    assert repr(secret) == "<SecretDigits wiped>"


def test_exception_carrying_secret_digits_shows_none() -> None:
    secret = SecretDigits(PAN)
    error = ValueError("bad card", secret)
    assert "4242" not in str(error) and "4242" not in repr(error)


def test_logging_with_percent_s_shows_no_digits() -> None:
    secret = SecretDigits(PAN)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(card)s"))
    logger = logging.getLogger("tests.core.cards")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        logger.info("card %s", secret, extra={"card": secret})
        logger.info("card %r", secret, extra={"card": secret})
        logger.info("dict %s", {"card": secret}, extra={"card": [secret]})
        try:
            raise RuntimeError(secret)
        except RuntimeError:
            logger.exception("failed", extra={"card": secret})
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert "SecretDigits len=16" in output
    assert "4242" not in output


@pytest.mark.parametrize(
    "renderer",
    [
        structlog.processors.KeyValueRenderer(),
        structlog.processors.JSONRenderer(),
        structlog.processors.LogfmtRenderer(),
        structlog.dev.ConsoleRenderer(colors=False),
    ],
    ids=["keyvalue", "json", "logfmt", "console"],
)
def test_structlog_shows_no_digits(renderer: object) -> None:
    stream = io.StringIO()
    log = structlog.wrap_logger(
        structlog.PrintLogger(file=stream),
        processors=[structlog.processors.format_exc_info, renderer],
    )
    secret = SecretDigits(PAN)
    log.info("card_keyed", card=secret, cards=[secret], nested={"card": secret})
    log.info("card %s", secret, positional=True)
    output = stream.getvalue()
    assert "SecretDigits len=16" in output
    assert "4242" not in output


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_secret_digits_refuse_pickling(protocol: int) -> None:
    with pytest.raises(CardDataExposure):
        pickle.dumps(SecretDigits(PAN), protocol=protocol)
    with pytest.raises(CardDataExposure):
        pickle.dumps({"card": [SecretDigits(PAN)]}, protocol=protocol)


def test_secret_digits_refuse_copying() -> None:
    secret = SecretDigits(PAN)
    with pytest.raises(CardDataExposure):
        copy.copy(secret)
    with pytest.raises(CardDataExposure):
        copy.deepcopy(secret)
    with pytest.raises(CardDataExposure):
        copy.deepcopy({"card": [secret]})


def test_card_details_refuse_copying_and_show_no_digits() -> None:
    card = CardDetails(
        number=SecretDigits(PAN),
        expiry=SecretDigits("1230"),
        security_code=SecretDigits("737"),
        postal_code="94105",
        brand=Brand.VISA,
    )
    for attempt in (copy.deepcopy, pickle.dumps):
        with pytest.raises(CardDataExposure):
            attempt(card)
    authorize = Authorize(card, 100, "USD", "pay_1")
    for text in (repr(card), str(card), repr(authorize), str(authorize)):
        assert "4242" not in text and "1230" not in text and "737" not in text
    with pytest.raises(CardDataExposure):
        copy.deepcopy(authorize)
    card.wipe()
    assert card.number.wiped and card.expiry.wiped and card.security_code is not None
    assert card.security_code.wiped


def test_key_press_repr_hides_the_digit() -> None:
    assert repr(KeyPress("7")) == "KeyPress(<hidden>)"
    assert "7" not in str([KeyPress("7")])


def test_secret_digits_have_no_dict_and_compare_by_identity() -> None:
    first, second = SecretDigits(PAN), SecretDigits(PAN)
    assert first != second
    assert first == first
    assert not hasattr(first, "__dict__")
    assert hash(first) != hash(second)


class _WatchedBuffer(bytearray):
    """A bytearray that remembers what it held just before being emptied."""

    before_clear: bytes | None = None

    def clear(self) -> None:
        self.before_clear = bytes(self)
        super().clear()


def test_wipe_zeroes_the_very_bytearray_in_place() -> None:
    secret = SecretDigits(PAN)
    buffer = secret._buffer
    watched = _WatchedBuffer(buffer)
    secret._buffer = watched
    buffer[:] = b"\x00" * len(buffer)  # (the copy we made is ours to clean)
    secret.wipe()
    assert secret._buffer is watched, "the buffer object is kept, not replaced"
    assert watched.before_clear == b"\x00" * 16, "every byte was zeroed before emptying"
    assert len(watched) == 0
    assert secret.wiped and len(secret) == 0


def test_wipe_keeps_and_empties_the_original_bytearray() -> None:
    secret = SecretDigits(PAN)
    buffer = secret._buffer
    secret.wipe()
    assert secret._buffer is buffer
    assert buffer == bytearray()
    assert all(byte == 0 for byte in buffer)


def test_wiped_buffer_refuses_use() -> None:
    secret = SecretDigits(PAN)
    secret.wipe()
    secret.wipe()  # twice is fine
    with pytest.raises(CardDataExposure):
        secret.reveal()
    with pytest.raises(CardDataExposure):
        secret.append("4")
    assert secret.last_four() == ""


@pytest.mark.parametrize("bad", ["*", "#", "a", "12", "", "٣"])
def test_only_single_ascii_digits_go_in(bad: str) -> None:
    secret = SecretDigits()
    with pytest.raises(ValueError) as raised:
        secret.append(bad)
    assert len(secret) == 0
    assert str(raised.value) == "only the digits 0-9 can be stored"


def test_safe_views() -> None:
    secret = SecretDigits(PAN)
    assert len(secret) == 16
    assert secret.last_four() == "4242"
    assert secret.prefix(8) == "424242"  # never more than the six-digit IIN
    assert secret.reveal() == PAN.encode()


def test_reveal_into_appends_a_slice_and_leaves_the_buffer_wipeable() -> None:
    secret = SecretDigits(PAN)
    plaintext = bytearray(b"n=")
    secret.reveal_into(plaintext, 0, 6)
    assert plaintext == bytearray(b"n=424242")
    secret.reveal_into(plaintext)
    assert plaintext.endswith(PAN.encode())
    secret.wipe()  # no buffer export is left behind to block the wipe
    assert secret.wiped
    with pytest.raises(CardDataExposure):
        secret.reveal_into(bytearray())
