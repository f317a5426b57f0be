"""Only the encrypted token reaches the gateway; no digits in any log, record or result."""

import logging

import pytest
import structlog
from _gateway_helpers import TEST_PANS, MakeClient, card

from payivr.core.redact import has_pan
from payivr.gateway import Approved
from payivr.gateway.processor import new_reference
from payivr.gateway.sandbox import RunningSandbox
from payivr.gateway.testcards import DECLINE_CARDS, SUCCESS_CARDS


async def test_no_card_digits_anywhere_but_inside_the_token(
    make_client: MakeClient,
    sandbox: RunningSandbox,
    keys,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    client = make_client()
    results = []
    sandbox.faults.drop_responses = 1  # include the unknown-outcome path
    with structlog.testing.capture_logs() as events:
        for index, number in enumerate([*SUCCESS_CARDS, *DECLINE_CARDS]):
            results.append(await client.sale(card(number), 100 + index, "GBP", f"scan-{index}"))
        stored = await client.tokenize(card("4242424242424242"), "scan-token")
        results.append(stored)
        assert isinstance(stored, Approved) and stored.token
        results.append(await client.sale_with_token(stored.token, 100, "GBP", "scan-cof"))

    arrivals = sandbox.processor.arrivals
    card_arrivals = [a for a in arrivals if "card" in a]
    assert len(card_arrivals) == len(SUCCESS_CARDS) + len(DECLINE_CARDS) + 1
    for arrival in card_arrivals:
        assert arrival["card"]["kid"] == keys.kid
        assert arrival["card"]["token_length"] > 300
        assert set(arrival) == {"method", "path", "idempotency_key", "fields", "card"}

    received = [e for e in events if e["event"] == "sandbox.request_received"]
    assert len(received) == len(arrivals)

    out = capsys.readouterr()
    haystack = "\n".join(
        [
            repr(events),
            repr(arrivals),
            repr(sandbox.processor.ledger.as_list()),
            repr(results),
            out.out,
            out.err,
            caplog.text,
        ]
    )
    for pan in TEST_PANS:
        assert pan not in haystack
        assert pan[:6] + "******" not in haystack  # not even a masked-but-long form


def test_the_sandbox_never_issues_an_id_that_looks_like_a_card_number() -> None:
    """A hex id with a Luhn-valid 13-digit run (one in ~1,200) made saving that card on file
    fail: its token was refused as card data (seen once in CI)."""
    ids = [new_reference("tok") for _ in range(30_000)]
    assert not [reference for reference in ids if has_pan(reference)]
