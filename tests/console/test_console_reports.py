"""History filters, totals per agent and per day, the CSV export (issue 17 item 6)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from _console_helpers import ALICE, BOB, GOOD_KEYS, Client, Console

DECLINED_KEYS = GOOD_KEYS.replace("4242424242424242", "4000000000009995")


async def _pay(console: Console, client: Client, endpoint: str, item: str, keys: str) -> str:
    key = await console.calls.place_call(endpoint)
    created = await client.send("/api/v1/payments", {"item": item, "amount": "100.00"})
    payment_id: str = (await created.json())["payment"]
    if keys == DECLINED_KEYS:
        await console.calls.decline_every_try(key, keys)
    else:
        await console.calls.press(key, keys)
    await console.calls.wait_finished(key, payment_id)
    await console.calls.hang_up(key)
    return payment_id


async def _day_of_payments(console: Console, alice: Client, bob: Client) -> None:
    await _pay(console, alice, "PJSIP/1001", "Plan A", GOOD_KEYS)
    await _pay(console, alice, "PJSIP/1001", "=HYPERLINK(\"http://evil.example\")", GOOD_KEYS)
    await _pay(console, alice, "PJSIP/1001", "Plan C", DECLINED_KEYS)
    await _pay(console, bob, "PJSIP/1002", "Plan D", GOOD_KEYS)


async def test_totals_per_agent_and_per_day_with_the_success_rate(
    console: Console, alice: Client, bob: Client, sam: Client
) -> None:
    await _day_of_payments(console, alice, bob)
    report: dict[str, Any] = await sam.json("/api/v1/reports/payments")
    today = datetime.now(UTC).date().isoformat()
    assert report["total"] == {
        "payments": 4,
        "finished": 4,
        "approved": 3,
        "success_rate": 0.75,
        "approved_amounts": ["300.00 USD"],
    }
    by_agent = {row["agent"]: row for row in report["agents"]}
    assert (by_agent[ALICE]["approved"], by_agent[ALICE]["success_rate"]) == (2, 0.6667)
    assert (by_agent[BOB]["approved"], by_agent[BOB]["success_rate"]) == (1, 1.0)
    assert [(row["day"], row["payments"]) for row in report["days"]] == [(today, 4)]
    # An agent's report is their own, whatever they ask for.
    own = await alice.json(f"/api/v1/reports/payments?agent={BOB.replace(' ', '%20')}")
    assert [row["agent"] for row in own["agents"]] == [ALICE]
    declined = await sam.json("/api/v1/reports/payments?outcome=not_approved")
    assert declined["total"]["payments"] == 1 and declined["total"]["success_rate"] == 0.0


async def test_history_filters_by_day_outcome_and_agent(
    console: Console, alice: Client, bob: Client, sam: Client
) -> None:
    await _day_of_payments(console, alice, bob)
    today = datetime.now(UTC).date()

    async def items(query: str) -> list[str]:
        return [p["item"] for p in (await sam.json(f"/api/v1/payments?{query}"))["payments"]]

    assert len(await items("")) == 4
    assert await items("outcome=declined") == ["Plan C"]
    assert len(await items("outcome=approved")) == 3
    assert await items(f"agent={BOB.replace(' ', '%20')}") == ["Plan D"]
    assert len(await items(f"from={today}&to={today}")) == 4
    assert await items(f"from={today + timedelta(days=1)}") == []
    assert await items(f"to={today - timedelta(days=1)}") == []
    for query, message in (
        ("from=yesterday", "from must be a day such as 2026-12-04"),
        (f"from={today}&to={today - timedelta(days=1)}", "to must not be before from"),
        ("outcome=won", "outcome must be one of approved, not_approved, in_progress, "
         "declined, declined_by_caller, cancelled, agent_cancelled, attempts_exhausted, "
         "timed_out, caller_hung_up, gateway_error, pending"),
    ):
        response = await sam.get(f"/api/v1/payments?{query}")
        assert response.status == 422
        assert (await response.json())["error"]["message"] == message


async def test_the_csv_export_has_no_card_data_and_runs_no_formula(
    console: Console, alice: Client, bob: Client, sam: Client
) -> None:
    await _day_of_payments(console, alice, bob)
    response = await sam.get("/api/v1/reports/payments.csv?outcome=approved")
    assert response.status == 200
    assert response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = await response.text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3
    assert {row["paid_with"] for row in rows} == {"Visa ending 4242"}
    assert {row["amount"] for row in rows} == {"100.00"}
    # The attack: an item name a spreadsheet would run as a formula arrives as text.
    assert "'=HYPERLINK(\"http://evil.example\")" in {row["item"] for row in rows}
    assert "4242424242424242" not in text  # (tests/evidence scans it for all card data)
    mine = await alice.get("/api/v1/reports/payments.csv")
    assert len(list(csv.DictReader(io.StringIO(await mine.text())))) == 3  # her own only
