"""The second line of defence on its own: payivr.log masks PAN-like numbers in whatever is
written, whichever way they got into an event (issue 8 §3).

Numbers of 12 to 19 digits (single spaces or dashes allowed between them) are masked to
``[card …1234]``, card or not: the mask errs towards masking (a 13-digit epoch in
milliseconds is masked too). Shorter numbers (ids, epoch seconds, ISO dates, amounts) are
left alone.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from payivr.log import configure_logging, mask_card_numbers, mask_text
from tests.logbuffer import payivr_log_buffer

PAN = "4242424242424242"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """Logging configured as payivr serve does, writing to a buffer; restored after."""
    with payivr_log_buffer() as buffer:
        yield buffer


def _masked(event: dict[str, Any]) -> dict[str, Any]:
    return dict(mask_card_numbers(None, "info", dict(event)))


@pytest.mark.parametrize(
    "written",
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "378282246310005",  # Amex, 15
        "3782 822463 10005",  # Amex as printed
        "36227206271667",  # Diners, 14
        "6200000000000005",
        "4242424242424241",  # fails Luhn: a mistyped card is still masked
        "4111111111111111111",  # 19 digits
        "4 2 4 2 4 2 4 2 4 2 4 2 4 2 4 2",  # spoken digit by digit
        "call-4242424242424242",
        "42424242424242425",  # 17 digits: not a card, masked all the same
    ],
)
def test_pan_shapes_are_masked_to_the_last_four(written: str) -> None:
    masked = mask_text(f"card={written};")
    digits = "".join(c for c in written if c.isdigit())
    assert masked.endswith(f"[card …{digits[-4:]}];")
    assert digits[:-4] not in masked.replace(" ", "").replace("-", "")


def test_a_pan_next_to_other_numbers_is_still_found() -> None:
    assert mask_text(f"12 {PAN} 1234") == "12 [card …4242] 1234"
    assert mask_text(f"ts=1763763150 pan={PAN}-x") == "ts=1763763150 pan=[card …4242]-x"
    assert mask_text("4242 4242 4242 4242 42424242") == "[card …4242] 42424242"


def test_pans_inside_urls_json_and_sentences() -> None:
    text = (
        f"GET /pay?pan={PAN}&cvc=1 "
        '{"card": "5555555555554444"} '
        "the caller said 6011 1111 1111 1117 twice"
    )
    masked = mask_text(text)
    for pan in (PAN, "5555555555554444", "6011 1111 1111 1117"):
        assert pan not in masked
    assert masked.count("[card …") == 3
    assert "/pay?pan=[card …4242]&cvc=1" in masked


def test_nested_values_ints_keys_and_objects() -> None:
    event = {
        "event": "gateway_failed",
        "nested": {"a": [{"b": "5555 5555 5555 4444"}, ("x", PAN)], "n": 4242424242424242},
        "count": 4242424242424242,
        "error": ValueError(f"card {PAN} refused"),
        "raw": PAN.encode(),
        "seen": {PAN},
        f"key{PAN}": 1,
    }
    masked = _masked(event)
    assert PAN not in json.dumps(masked, default=repr)
    assert "5555555555554444" not in json.dumps(masked, default=repr)
    assert masked["count"] == "[card …4242]"
    assert masked["nested"]["n"] == "[card …4242]"
    assert masked["key[card …4242]"] == 1


@pytest.mark.parametrize(
    "number",
    [
        "12345678",  # ids of 8 to 11 digits
        "123456789",
        "1234567890",
        "12345678901",
        "1763763150",  # epoch seconds
        "1763763150.123456",
        "2026-11-21T22:12:30.123456+00:00",
        "2026-11-21 22:12:30",
        "137.42",
        "+1 415 555",
        "6b0d6a52-66c3-4b52-9f3e-3c5e9b1f0a11",
        "PJSIP/1001-00000005",  # an Asterisk channel name: groups longer than a card's
        "SIP/trunk-0000a1b2 1001-00000005",
        "1001 00000005 12345678",
    ],
)
def test_numbers_that_are_not_cards_are_left_alone(number: str) -> None:
    assert mask_text(f"value {number} here") == f"value {number} here"
    assert _masked({"event": "e", "value": number, "n": 12345678901})["value"] == number
    assert _masked({"event": "e", "n": 12345678901})["n"] == 12345678901


def test_structlog_exception_tracebacks_are_masked(output: io.StringIO) -> None:
    log = structlog.get_logger("evidence")
    try:
        raise ValueError(f"the gateway refused {PAN}")
    except ValueError:
        log.exception("charge_failed", url=f"https://gw/charge?pan={PAN}")
    line = json.loads(output.getvalue())
    assert PAN not in output.getvalue()
    assert "Traceback (most recent call last)" in line["exception"]
    assert "ValueError: the gateway refused [card …4242]" in line["exception"]
    assert line["url"] == "https://gw/charge?pan=[card …4242]"


def test_reprs_and_keys_are_masked_in_the_written_line(output: io.StringIO) -> None:
    structlog.get_logger("evidence").info(
        "odd_values", error=ValueError(PAN), raw=PAN.encode(), **{f"k{PAN}": 1}
    )
    assert PAN not in output.getvalue()
    line = json.loads(output.getvalue())
    assert line["error"] == "ValueError('[card …4242]')"
    assert line["raw"] == "b'[card …4242]'"
    assert line["k[card …4242]"] == 1


def test_console_lines_are_masked_too() -> None:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()
    try:
        configure_logging("DEBUG", json=False, stream=buffer)
        try:
            raise RuntimeError(PAN)
        except RuntimeError:
            structlog.get_logger("evidence").exception("boom", error=KeyError(PAN))
    finally:
        structlog.configure(**saved)
        root.handlers[:], root.level = handlers, level
    assert PAN not in buffer.getvalue()
    assert "RuntimeError: [card …4242]" in buffer.getvalue()


def test_standard_logging_messages_args_and_tracebacks_are_masked(output: io.StringIO) -> None:
    """aiohttp and psycopg log through the standard library: message, arguments, the
    exception's traceback and the stack are masked before they are written."""
    logger = logging.getLogger("evidence.stdlib")
    logger.info("request to /pay?pan=%s", PAN)
    try:
        raise ConnectionError(f"peer sent {PAN}")
    except ConnectionError:
        logger.exception("failed with %s", "5555-5555-5555-4444", stack_info=True)
    text = output.getvalue()
    assert PAN not in text and "5555-5555-5555-4444" not in text
    assert "ConnectionError: peer sent [card …4242]" in text
    assert "Stack (most recent call last)" in text


def test_log_lines_below_the_level_are_not_written(output: io.StringIO) -> None:
    configure_logging("INFO", json=True, stream=output)
    structlog.get_logger("evidence").debug("quiet", pan=PAN)
    logging.getLogger("evidence").debug("quiet %s", PAN)
    assert output.getvalue() == ""


def test_payment_ids_survive_masking() -> None:
    """UUIDs hold digit runs that look like split card numbers; they are never masked."""
    import uuid

    from payivr.log import mask_text

    ids = [str(uuid.uuid4()) for _ in range(5000)] + ["12345678-1234-1234-1234-123456789012"]
    assert [mask_text(f"payment {value}") for value in ids] == [f"payment {value}" for value in ids]
