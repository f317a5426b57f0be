"""History's filters, totals and CSV download in a real browser (issue 17 item 6)."""

from __future__ import annotations

from _console_helpers import ALICE, GOOD_KEYS, SAM, Console
from conftest import Problems, screenshot
from playwright.async_api import Browser, expect
from test_console_browser import real_problems, request_payment, signed_in_page, step_status

DECLINED_KEYS = GOOD_KEYS.replace("4242424242424242", "4000000000009995")


async def test_a_supervisor_filters_reads_the_totals_and_downloads_the_csv(
    browser: Browser, console: Console
) -> None:
    problems = Problems()
    alice = await signed_in_page(browser, console, problems, ALICE)
    for item, keys in (("Plan A", GOOD_KEYS), ("Plan B", DECLINED_KEYS), ("Plan C", GOOD_KEYS)):
        key = await console.calls.place_call("PJSIP/1001")
        await request_payment(alice, item, "10")
        await expect(step_status(alice, "amount")).to_have_text("Caller is confirming…")
        if keys == DECLINED_KEYS:
            await console.calls.decline_every_try(key, keys)
        else:
            await console.calls.press(key, keys)
        await expect(alice.locator("#result")).to_be_visible()
        await console.calls.hang_up(key)

    sam = await signed_in_page(browser, console, problems, SAM)
    await sam.get_by_role("button", name="History").click()
    await expect(sam.locator("#history-rows tr")).to_have_count(3)
    await expect(sam.locator("#totals-summary")).to_have_text(
        "3 payments · 2 successful (66.7%) · taken: 20.00 USD"
    )
    await expect(sam.locator("#totals-rows")).to_contain_text(ALICE)
    await sam.get_by_label("Outcome").select_option("declined")
    await sam.get_by_role("button", name="Show").click()
    await expect(sam.locator("#history-rows tr")).to_have_count(1)
    await expect(sam.locator("#history-rows")).to_contain_text("Plan B")
    await expect(sam.locator("#history-rows")).to_contain_text("The card has insufficient funds")
    await expect(sam.locator("#totals-summary")).to_have_text(
        "1 payment · 0 successful (0%) · taken: nothing"
    )
    await screenshot(sam, "17-history-filtered-with-totals")
    href = await sam.get_by_role("link", name="Download CSV").get_attribute("href")
    assert href == "/api/v1/reports/payments.csv?outcome=declined"
    download = await sam.request.get(console.url.rstrip("/") + href)
    csv = await download.text()
    assert csv.splitlines()[0].startswith("created_at,finished_at,agent,item,amount")
    assert "Plan B" in csv and "Plan A" not in csv
    await sam.get_by_label("Agent", exact=True).fill("Nobody")
    await sam.get_by_role("button", name="Show").click()
    await expect(sam.locator("#history-rows tr")).to_have_count(0)
    assert real_problems(problems) == []
