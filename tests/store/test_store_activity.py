import pytest

from payivr.store import format_amount


@pytest.mark.parametrize(
    "minor, currency, text",
    [
        (1234, "USD", "$12.34"),
        (5, "USD", "$0.05"),
        (123456789, "USD", "$1,234,567.89"),
        (1234, "GBP", "£12.34"),
        (1234, "EUR", "€12.34"),
        (1234, "JPY", "¥1,234"),
        (12345, "KWD", "12.345 KWD"),
        (1234, "CHF", "12.34 CHF"),
        (1234, "CAD", "CA$12.34"),
    ],
)
def test_amount_is_formatted_per_currency(minor, currency, text):
    assert format_amount(minor, currency) == text
