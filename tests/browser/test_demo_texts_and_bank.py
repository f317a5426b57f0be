"""Pay by text, reminders and bank account payments in the demo, in a real (headless) Chromium.

One ``payivr demo`` process serves the three tests (they run in this order: the reminder's
STOP opts the demo mobile out of texts). The agent works in the console; the customer reads
and answers texts, and keys the bank account, on the demo phones page.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from payivr.demo.texts import DEMO_CUSTOMER, DEMO_MOBILE

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROUTING = "110000000"  # the sandbox's test routing number (valid ABA checksum)
ACCOUNT = "000123456789"  # the sandbox approves it


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("demo")
    ready = tmp / "ready.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "payivr.cli", "demo", "--console-listen", "127.0.0.1:0",
         "--phones-listen", "127.0.0.1:0", "--ready-file", str(ready)],
        cwd=ROOT, env={**os.environ, "XDG_DATA_HOME": str(tmp / "data")},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.exists(), process.communicate(timeout=5)[0]
        yield json.loads(ready.read_text())
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
        assert process.returncode == 0, output
        # The bank account shows only in the printed instructions, the card on file never.
        assert output.count(ACCOUNT) == 1 and "5555555555554444" not in output, output


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def pages(browser: Browser, demo: dict[str, Any], errors: list[str]) -> tuple[Page, Page]:
    """The demo phones page and alice's console, signed in; script errors go to ``errors``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phones = await browser.new_page()
    phones.on("pageerror", lambda error: errors.append(str(error)))
    await phones.goto(demo["phones"])
    await phones.get_by_label("play the prompts' audio").uncheck()
    console = await browser.new_page(viewport={"width": 1280, "height": 1000})
    console.on("pageerror", lambda error: errors.append(str(error)))
    await console.goto(demo["console"])
    await console.get_by_label("Name", exact=True).fill("alice")
    await console.get_by_label("Password").fill(demo["logins"]["alice"])
    await console.keyboard.press("Enter")
    await expect(console.locator("#connection")).to_have_text("live")
    return phones, console


async def open_texts(console: Page) -> None:
    await console.get_by_role("button", name="Texts", exact=True).click()
    await console.get_by_label("Customer reference").fill(DEMO_CUSTOMER)
    await console.get_by_label("Mobile number").fill(DEMO_MOBILE)
    await console.get_by_label("Mobile number").press("Tab")  # the card is looked up
    await expect(console.locator("#texts-card")).to_have_text(
        "Card on file: Mastercard ending 4444"
    )


async def reply(phones: Page, body: str) -> None:
    await phones.get_by_label("Reply by text").fill(body)
    await phones.get_by_role("button", name="Send text").click()


async def test_pay_by_text_from_the_console_to_the_receipt(
    demo: dict[str, Any], browser: Browser
) -> None:
    errors: list[str] = []
    phones, console = await pages(browser, demo, errors)
    await open_texts(console)
    await console.get_by_label("Amount to pay").fill("25.00")
    await console.get_by_label("Item", exact=True).fill("Unit 12 <b>rent</b>")
    await console.get_by_role("button", name="Text the payment request").click()
    row = console.locator("#text-payments-rows tr").first
    await expect(row).to_contain_text("Waiting for the customer's reply")
    await expect(row).to_contain_text("Unit 12 <b>rent</b>")  # shown as text, not markup

    thread = phones.locator("#thread")
    await expect(thread).to_contain_text(
        "Pay $25.00 for Unit 12 <b>rent</b> with your Mastercard ending 4444? Reply YES"
    )
    await reply(phones, "Yes")
    await expect(thread.locator("li.received").last).to_contain_text("Paid $25.00 for Unit 12")
    await expect(row).to_contain_text("Paid · Transaction ID:")
    await expect(row).to_contain_text("Asked → Replied “Yes” → Receipt sent")
    await console.screenshot(path=SCREENSHOTS / "demo-texts-paid.png", full_page=True)
    await phones.screenshot(path=SCREENSHOTS / "demo-texts-phone.png", full_page=True)
    assert errors == []


async def test_a_reminder_sent_now_reaches_the_phone_and_stop_opts_out(
    demo: dict[str, Any], browser: Browser
) -> None:
    errors: list[str] = []
    phones, console = await pages(browser, demo, errors)
    await open_texts(console)
    due = datetime.now(UTC).date() + timedelta(days=7)
    await console.get_by_label("Amount due").fill("40")
    await console.get_by_label("Due date", exact=True).fill(due.isoformat())
    await console.get_by_label("Send now").check()
    await console.get_by_role("button", name="Schedule reminder").click()
    row = console.locator("#reminders-rows tr").first
    await expect(row).to_contain_text(due.isoformat())

    thread = phones.locator("#thread")
    await expect(thread.locator("li.received").last).to_contain_text(
        "Reminder: $40.00 for your bill is due on", timeout=15_000
    )
    await expect(row).to_contain_text("Sent")
    await reply(phones, "STOP")
    await expect(thread.locator("li.received").last).to_contain_text("You are unsubscribed")
    await expect(row).to_contain_text("Sent · opted out (STOP)")
    # An opted-out mobile gets no more texts: the console says so instead.
    await console.get_by_label("Amount to pay").fill("5")
    await console.get_by_label("Item", exact=True).fill("Late fee")
    await console.get_by_role("button", name="Text the payment request").click()
    await expect(console.locator("#text-pay-error")).to_contain_text("opted out")
    assert errors == []


async def test_a_bank_account_payment_keyed_on_the_demo_keypad(
    demo: dict[str, Any], browser: Browser
) -> None:
    errors: list[str] = []
    phones, console = await pages(browser, demo, errors)
    await phones.get_by_role("button", name="Customer calls the agent").click()
    await expect(console.locator("#caller-number")).to_have_text("1002")
    await console.get_by_role("button", name="Request payment").click()
    await console.locator("#item").fill("Annual storage plan")
    await console.locator("#amount").fill("60.00")
    await console.get_by_label("Pay by", exact=True).select_option(label="Bank account (ACH)")
    await console.get_by_role("button", name="Send to Pay").click()

    heard = phones.locator("#customer .heard")
    for words, keys in (
        ("Press 1 to accept this amount", "1"),
        ("nine digit routing number", ROUTING),
        ("routing number ending in", "1"),
        ("enter your account number", ACCOUNT + "#"),
        ("account number ending in", "1"),
        ("For a checking account, press 1", "1"),
        ("You chose a checking account", "1"),
    ):
        await expect(heard).to_contain_text(words, timeout=30_000)
        for key in keys:
            await phones.get_by_role("button", name=f"customer key {key}", exact=True).click()
            await asyncio.sleep(0.15)

    await expect(console.locator("#result-title")).to_have_text(
        "Payment successful", timeout=30_000
    )
    await expect(console.locator("#payment-card")).to_have_text("checking account ending 89")
    await expect(phones.locator("#agent .leaked")).to_have_text("0")
    screen = await console.locator("body").inner_text()
    assert ROUTING not in screen and ACCOUNT not in screen
    await console.screenshot(path=SCREENSHOTS / "demo-ach-result.png", full_page=True)
    assert errors == []
