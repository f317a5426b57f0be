"""The CRM activity posted for each payment outcome (seed 002's fields, exactly)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from payivr.core.events import Outcome
from payivr.store.models import Payment

# ISO 4217 minor-unit exponents that are not 2.
_EXPONENTS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
_SYMBOLS = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "INR": "₹",
    "KRW": "₩",
    "CAD": "CA$",
    "AUD": "A$",
    "NZD": "NZ$",
    "HKD": "HK$",
    "SGD": "S$",
    "MXN": "MX$",
}


def format_amount(amount_minor: int, currency: str) -> str:
    """``1234, "USD"`` → ``$12.34``; currencies without a symbol here: ``12.34 CHF``."""
    exponent = _EXPONENTS.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    units, minor = divmod(abs(amount_minor), 10**exponent)
    number = f"{units:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    symbol = _SYMBOLS.get(currency)
    if symbol is None:
        return f"{sign}{number} {currency}"
    return f"{sign}{symbol}{number}"




def build_activity(payment: Payment) -> dict[str, Any]:
    """The activity JSON for a finished payment.

    The first six keys are seed 002's comment fields; the rest let the CRM find its record.
    """
    if payment.finished_at is None or payment.outcome is None:
        raise ValueError("a CRM activity is built only for a finished payment")
    charged = payment.outcome is Outcome.APPROVED
    activity: dict[str, Any] = {
        "Agent": payment.agent,
        "Product Name": payment.item_name,
        # The gateway's id for the charge, or empty: payivr's own id is "Payment ID" below.
        "Transaction ID": payment.gateway_reference or "",
        "Amount Charged": format_amount(payment.amount_minor if charged else 0, payment.currency),
        "Payment Status": "Success" if charged else "Failed",
        "Timestamp": payment.finished_at.astimezone(UTC).isoformat(timespec="seconds"),
        "Amount Requested": format_amount(payment.amount_minor, payment.currency),
        "Payment ID": str(payment.id),
        "Call ID": payment.call_id,
        "Caller Number": payment.caller_number,
    }
    if payment.crm_record_id is not None:
        activity["CRM Record ID"] = payment.crm_record_id
    return activity
