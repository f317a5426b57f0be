"""What the agent sees of a payment in a real browser (issue 17): each state in words with
its time, the masked card field, "Authorising…", the decline's reason, amounts as typed,
outcomes worded once, History on a 400 px screen, the favicon."""

from __future__ import annotations

import re

from _console_helpers import ALICE, GOOD_KEYS, PASSWORD, SAM, Console
from conftest import Problems, open_page, screenshot
from playwright.async_api import Browser, Page, expect
from test_console_browser import (
    real_problems,
    request_payment,
    signed_in_page,
    step_status,
)

CLOCK = re.compile(r"^\d+:\d\d$")


async def approved_payment(
    browser: Browser, console: Console, problems: Problems, item: str, amount: str
) -> Page:
    """Alice's console, once her caller paid ``amount`` for ``item`` with the test Visa."""
    key = await console.calls.place_call("PJSIP/1001")
    page = await signed_in_page(browser, console, problems, ALICE)
    await request_payment(page, item, amount)
    await expect(step_status(page, "amount")).to_have_text("Caller is confirming…")
    await console.calls.press(key, GOOD_KEYS)
    await expect(page.locator("#result-title")).to_have_text("Payment successful")
    return page


async def test_each_state_with_its_time_the_card_masked_and_authorising(
    browser: Browser, console: Console
) -> None:
    problems = Problems()
    key = await console.calls.place_call("PJSIP/1001")
    page = await signed_in_page(browser, console, problems, ALICE)
    await request_payment(page, "Storage", "$1,000.00")  # as agents type it
    await expect(page.locator("#payment-amount")).to_have_text("1000.00 USD")
    await expect(step_status(page, "amount")).to_have_text("Caller is confirming…")
    await expect(page.locator("#payment-card")).to_have_text("")

    await console.calls.press(key, "1")
    await expect(step_status(page, "amount")).to_have_text("Done ✓")
    time = page.locator('#steps li[data-step="amount"] .step-time')
    await expect(time).to_have_text(CLOCK)
    await console.calls.press(key, "4")
    await expect(step_status(page, "card_number")).to_have_text("Entering… (1 digit)")
    await expect(page.locator("#payment-card")).to_have_text("Visa •")  # the brand, at once
    await console.calls.press(key, "2424242")
    await expect(page.locator("#payment-card")).to_have_text("Visa •••• ••••")
    await expect(page.locator('#steps li[data-step="card_number"] .step-time')).to_have_text(CLOCK)
    await console.calls.press(key, "42424242#")
    await expect(step_status(page, "card_number")).to_have_text("Caller is confirming…")
    await expect(page.locator("#payment-card")).to_have_text("Visa •••• 4242")
    await screenshot(page, "10-caller-confirming-card")

    console.calls.gateway.faults.latency = 3.0  # a slow gateway: the agent sees it working
    await console.calls.press(key, "1" + "1230" + "1" + "737" + "1" + "94105#" + "1")
    await expect(page.locator("#payment-title")).to_have_text("Authorising…")
    await expect(step_status(page, "authorization")).to_have_text("Authorising…")
    await screenshot(page, "11-authorising")
    await expect(page.locator("#result-title")).to_have_text("Payment successful", timeout=10_000)
    await expect(step_status(page, "authorization")).to_have_text("Done ✓")
    authorising = page.locator('#steps li[data-step="authorization"] .step-time')
    await expect(authorising).to_have_text(re.compile(r"^0:0[3-9]$"))
    await expect(page.locator("#payment-card")).to_have_text("Visa •••• 4242")
    assert "4242424242424242" not in await page.content()
    await screenshot(page, "12-approved-with-step-times")
    assert real_problems(problems) == []


async def test_a_console_opened_mid_payment_shows_the_states_so_far(
    browser: Browser, console: Console
) -> None:
    problems = Problems()
    key = await console.calls.place_call("PJSIP/1001")
    page = await signed_in_page(browser, console, problems, ALICE)
    await request_payment(page, "Storage", "5")
    await expect(step_status(page, "amount")).to_have_text("Caller is confirming…")
    await console.calls.press(key, "1" + "55555555")
    await expect(page.locator("#payment-card")).to_have_text("Mastercard •••• ••••")
    await page.reload()
    await expect(step_status(page, "amount")).to_have_text("Done ✓")
    await expect(step_status(page, "card_number")).to_have_text("Entering… (8 digits)")
    await expect(page.locator("#payment-card")).to_have_text("Mastercard •••• ••••")
    await expect(page.locator('#steps li[data-step="amount"] .step-time')).to_have_text(CLOCK)
    assert real_problems(problems) == []


async def test_the_decline_reason_in_words_and_outcomes_said_once(
    browser: Browser, console: Console
) -> None:
    problems = Problems()
    key = await console.calls.place_call("PJSIP/1001")
    page = await signed_in_page(browser, console, problems, ALICE)
    await request_payment(page, "Plan", "20")
    await expect(step_status(page, "amount")).to_have_text("Caller is confirming…")
    await console.calls.decline_every_try(
        key, GOOD_KEYS.replace("4242424242424242", "4000000000009995")
    )
    await expect(page.locator("#result-title")).to_have_text("Payment declined")
    await expect(page.locator("#result-detail")).to_have_text("The card has insufficient funds")
    await expect(step_status(page, "authorization")).to_have_text("Failed: declined")
    await screenshot(page, "13-declined-reason")

    await page.get_by_role("button", name="Request payment").click()
    await page.get_by_label("Item name").fill("Plan")
    await page.get_by_label("Total amount").fill("20")
    await page.get_by_role("button", name="Send to Pay").click()
    await expect(step_status(page, "amount")).to_have_text("Caller is confirming…")
    await console.calls.press(key, "1*")
    # The title says it; the reason ("the caller cancelled the payment") is not repeated.
    await expect(page.locator("#result-title")).to_have_text("The caller cancelled the payment")
    await expect(page.locator("#result-detail")).to_have_text("")
    await expect(step_status(page, "authorization")).to_have_text("Not asked")
    assert real_problems(problems) == []


async def test_amounts_as_typed_and_a_clear_error_otherwise(
    browser: Browser, console: Console
) -> None:
    problems = Problems()
    await console.calls.place_call("PJSIP/1001")
    page = await signed_in_page(browser, console, problems, ALICE)
    await request_payment(page, "Plan", "€5")
    await expect(page.locator("#request-error")).to_have_text(
        "the amount is written in another currency (€); this request is in USD"
    )
    await page.get_by_label("Currency").select_option("EUR")
    await page.get_by_label("Total amount").fill("1.234,50 €")
    await page.get_by_role("button", name="Send to Pay").click()
    await expect(page.locator("#payment-amount")).to_have_text("1234.50 EUR")
    assert real_problems(problems) == []


async def test_history_reads_at_400_px_and_the_page_has_a_favicon(
    browser: Browser, console: Console
) -> None:
    problems = Problems()
    page = await approved_payment(browser, console, problems, "Annual storage plan", "137.42")
    icon = await page.locator('link[rel="icon"]').get_attribute("href")
    assert icon is not None
    answer = await page.request.get(console.url.rstrip("/") + icon)
    assert answer.ok and answer.headers["content-type"] == "image/svg+xml"

    narrow = await open_page(browser, console, problems, width=400)
    await narrow.get_by_label("Name", exact=True).fill(SAM)
    await narrow.get_by_label("Password", exact=True).fill(PASSWORD)
    await narrow.get_by_role("button", name="Sign in").click()
    await narrow.get_by_role("button", name="History").click()
    row = narrow.locator("#history-rows tr").first
    await expect(row).to_contain_text("Annual storage plan")
    # Nothing wider than the screen: no sideways scrolling to read a payment.
    assert await narrow.evaluate("document.documentElement.scrollWidth") <= 400
    status = row.locator("td").nth(4)
    assert await status.get_attribute("data-label") == "Status"
    box = await status.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 400
    await screenshot(narrow, "14-history-400px")
    assert real_problems(problems) == []


async def test_the_agent_sends_the_caller_back_to_a_step_and_after_a_decline(
    browser: Browser, console: Console
) -> None:
    problems = Problems()
    key = await console.calls.place_call("PJSIP/1001")
    page = await signed_in_page(browser, console, problems, ALICE)
    await request_payment(page, "Plan", "20")
    await expect(step_status(page, "amount")).to_have_text("Caller is confirming…")
    await console.calls.press(key, "1" + "4242424242424242#" + "1" + "12")
    await expect(step_status(page, "expiry")).to_have_text("Entering… (2 digits)")
    choices = page.locator("#reask-step option")
    await expect(choices).to_have_text(
        ["Card number", "Expiry date", "Security code", "Postal code"]
    )
    await page.get_by_label("Step").select_option("card_number")
    await page.get_by_role("button", name="Re-ask this step").click()
    await expect(step_status(page, "card_number")).to_have_text("Entering…")
    await expect(step_status(page, "expiry")).to_have_text("Waiting")
    await console.calls.heard(key, "agent-asks-again")
    await screenshot(page, "14-re-asked")

    # A declined card: the caller tries another; the agent can cancel or re-ask again.
    await console.calls.press(key, GOOD_KEYS[1:].replace("4242424242424242", "4000000000000002"))
    await console.calls.heard(key, "declined-try-another-card")
    await expect(page.locator("#payment-title")).to_have_text("Payment in progress")
    await expect(page.get_by_role("button", name="Re-ask this step")).to_be_enabled()
    await expect(page.get_by_role("button", name="Cancel payment")).to_be_enabled()
    await console.calls.press(key, GOOD_KEYS[1:])
    await expect(page.locator("#result-title")).to_have_text("Payment successful")
    await expect(page.locator("#reask-controls")).to_be_hidden()
    assert real_problems(problems) == []
