"""The one redactor for text payivr keeps but did not write (payivr.core.redact)."""

from __future__ import annotations

import pytest

from payivr.core.redact import has_card_data, redact_card_data
from payivr.store.database import Database

CARD_DATA = [
    ("use 4111 1111 1111 1111 exp 12/30 cvc 123", "use [removed] [removed] [removed]"),
    ("4111-1111-1111-1111", "[removed]"),
    ("card 4111.1111.1111.1111 thanks", "card [removed] thanks"),
    ("amex 3782 822463 10005", "amex [removed]"),
    ("yes 4242424242424242 thanks", "yes [removed] thanks"),
    ("expires 1230", "[removed]"),
    ("Exp: 12-2030", "[removed]"),
    ("good till 03/27 ok", "good till [removed] ok"),
    ("valid thru 1/29", "valid thru [removed]"),
    ("CVV: 1234", "[removed]"),
    ("security code is 999", "[removed]"),
    ("the code 321", "the [removed]"),
    ("123 is the cvc", "[removed]"),
]

NOT_CARD_DATA = [
    "yes",
    "YES please, 12 34",
    "pay 137.42 now",
    "call me on +1 555 000 1002",
    "my zip code is 90210",
    "see you 2026-12-04",
    "4111 1111 1111 1112",  # 16 digits in groups, not Luhn-valid
    "reference ABC-123",
    "Pay $137.42 for Unit 12 rent with your Visa ending 4242? Reply YES to pay.",
]


@pytest.mark.parametrize(("text", "kept"), CARD_DATA)
def test_card_data_in_any_shape_is_removed(text: str, kept: str) -> None:
    assert has_card_data(text)
    assert redact_card_data(text) == kept
    assert not has_card_data(redact_card_data(text))


@pytest.mark.parametrize("text", NOT_CARD_DATA)
def test_other_text_is_kept(text: str) -> None:
    assert not has_card_data(text)
    assert redact_card_data(text) == text


def test_runs_of_seven_digits_go_but_are_no_card_data_alone() -> None:
    assert redact_card_data("order 1234567") == "order [removed]"
    assert not has_card_data("order 1234567")


async def test_the_database_check_finds_what_the_redactor_finds(database: Database) -> None:
    """Migration 0009's payivr_has_card_data is the SQL twin of has_card_data."""
    texts = [text for text, _ in CARD_DATA] + NOT_CARD_DATA + ["order 1234567"]
    async with database.pool.connection() as conn:
        for text in texts:
            cursor = await conn.execute("SELECT payivr_has_card_data(%s)", (text,))
            row = await cursor.fetchone()
            assert row is not None and row[0] is has_card_data(text), text
