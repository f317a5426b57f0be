"""Refund and void in a real browser: from the payment's result, and from History."""

from __future__ import annotations

import re

from _console_helpers import SAM, Console
from conftest import Problems, screenshot
from playwright.async_api import Browser, expect
from test_console_browser import real_problems, signed_in_page
from test_console_states import approved_payment


async def test_the_agent_refunds_part_and_the_supervisor_the_rest(
    browser: Browser, console: Console
) -> None:
    problems = Problems()
    alice = await approved_payment(browser, console, problems, "Annual storage plan", "137.42")
    await alice.get_by_role("button", name="Refund or void…").click()
    amount = alice.get_by_label("Amount to refund")
    await expect(amount).to_have_value("137.42")
    await amount.fill("$40")
    await alice.get_by_role("button", name="Refund", exact=True).click()
    done = alice.locator("#reversal-done")
    await expect(done).to_have_text(re.compile(r"^Refunded 40\.00 USD \(transaction \S+\)$"))
    await expect(amount).to_have_value("97.42")
    # Partly refunded: a void (all of it) is no longer possible.
    await expect(alice.get_by_role("button", name="Void all of it")).to_be_disabled()
    await screenshot(alice, "15-refunded-from-the-result")

    sam = await signed_in_page(browser, console, problems, SAM)
    await sam.get_by_role("button", name="History").click()
    row = sam.locator("#history-rows tr").first
    await expect(row).to_contain_text("Refunded 40.00 USD")
    await row.get_by_role("button", name="Refund or void…").click()
    await expect(sam.get_by_label("Amount to refund")).to_have_value("97.42")
    await sam.get_by_role("button", name="Refund", exact=True).click()
    await expect(sam.locator("#reversal-done")).to_contain_text("Refunded 97.42 USD")
    await expect(row).to_contain_text("Refunded 137.42 USD")
    await expect(row.get_by_role("button", name="Refund or void…")).to_have_count(0)
    await screenshot(sam, "16-refunded-in-full-from-history")
    assert real_problems(problems) == []


async def test_a_void_and_the_reason_when_it_is_refused(
    browser: Browser, console: Console
) -> None:
    problems = Problems()
    alice = await approved_payment(browser, console, problems, "Plan", "20")
    await alice.get_by_role("button", name="Refund or void…").click()
    await alice.get_by_label("Amount to refund").fill("25")
    await alice.get_by_role("button", name="Refund", exact=True).click()
    await expect(alice.locator("#reversal-error")).to_have_text("at most $20.00 can be refunded")
    await alice.get_by_role("button", name="Void all of it").click()
    await expect(alice.locator("#reversal-done")).to_contain_text("Voided 20.00 USD")
    await alice.get_by_role("button", name="History").click()
    await expect(alice.locator("#history-rows tr").first).to_contain_text("Voided")
    assert real_problems(problems) == []
