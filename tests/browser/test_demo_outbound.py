"""The demo's outbound collection call in a real (headless) Chromium: the agent calls the demo
customer from the console, the customer answers on the phones page and pays; then a call the
customer's line refuses as busy."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Page, expect
from test_demo_walkthrough import SCREENSHOTS, browser, demo, hears, press

from payivr.demo.texts import DEMO_MOBILE

__all__ = ["browser", "demo"]  # the fixtures this module uses


async def call_customer(console: Page) -> None:
    await console.locator("#outbound-number").fill(DEMO_MOBILE)
    await console.locator("#outbound-timezone").fill("America/New_York")
    await console.locator("#outbound-item").fill("Overdue invoice")
    await console.locator("#outbound-amount").fill("137.42")
    await console.get_by_role("button", name="Call", exact=True).click()


async def test_the_agent_calls_the_customer_who_answers_and_pays(
    demo: dict[str, Any], browser: Browser
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phones = await browser.new_page()
    await phones.goto(demo["phones"])
    await phones.get_by_label("play the prompts' audio").uncheck()
    console = await browser.new_page()
    await console.goto(demo["console"])
    await console.get_by_label("Name", exact=True).fill("alice")
    await console.get_by_label("Password").fill(demo["logins"]["alice"])
    await console.keyboard.press("Enter")

    await call_customer(console)
    await expect(phones.locator("#customer .state")).to_have_text("ringing…", timeout=15_000)
    await expect(console.locator("#outbound-status")).to_have_text("Calling the customer…")
    await phones.get_by_role("button", name="Answer", exact=True).click()
    await expect(console.locator("#outbound-status")).to_contain_text("Connected", timeout=15_000)
    await expect(console.locator("#caller-number")).to_have_text(DEMO_MOBILE)
    # On a call "Call a customer" folds away behind its title; the call's progress stays.
    fold = console.get_by_role("button", name="Call a customer")
    await expect(fold).to_have_attribute("aria-expanded", "false")
    await expect(console.locator("#outbound-form")).to_be_hidden()
    await expect(console.locator("#outbound-status")).to_be_visible()
    await console.screenshot(path=SCREENSHOTS / "demo-outbound-connected.png")
    await console.get_by_role("button", name="Request payment").click()
    await expect(console.locator("#item")).to_have_value("Overdue invoice")
    await expect(console.locator("#amount")).to_have_value("137.42")
    await console.get_by_role("button", name="Send to Pay").click()

    await hears(phones, "Press 1 to accept this amount")
    await press(phones, "customer", "1")
    await hears(phones, "Please enter your card number")
    await press(phones, "customer", "4242424242424242#")
    await hears(phones, "card, ending in")
    await press(phones, "customer", "1")
    await hears(phones, "two digits for the month")
    await press(phones, "customer", "1230")
    await hears(phones, "The expiry date is")
    await press(phones, "customer", "1")
    await hears(phones, "security code from the back")
    await press(phones, "customer", "123")
    await hears(phones, "Your security code was entered")
    await press(phones, "customer", "1")
    await hears(phones, "zip code of your billing address")
    await press(phones, "customer", "90210#")
    await hears(phones, "The zip code you entered is")
    await press(phones, "customer", "1")
    await expect(console.locator("#result-title")).to_have_text(
        "Payment successful", timeout=30_000
    )
    await expect(phones.locator("#agent .leaked")).to_have_text("0")

    await phones.locator("#customer .hangup").click()
    await expect(console.locator("#outbound-status")).to_have_text("Call ended", timeout=15_000)
    await expect(fold).to_have_attribute("aria-expanded", "true")  # off the call: open again
    await console.get_by_role("button", name="New call").click()

    await call_customer(console)
    await expect(phones.locator("#customer .state")).to_have_text("ringing…", timeout=15_000)
    await phones.get_by_role("button", name="Busy", exact=True).click()
    await expect(console.locator("#outbound-status")).to_have_text("Busy", timeout=15_000)
    await expect(console.locator("#outbound-detail")).to_have_text("the customer's line is busy")
    await console.screenshot(path=SCREENSHOTS / "demo-outbound-busy.png")
