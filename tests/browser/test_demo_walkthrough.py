"""The README's demo, as a newcomer does it, in a real (headless) Chromium.

``payivr demo`` runs as its own process (simulated Asterisk, sandbox gateway, embedded
PostgreSQL, console, demo phones, CRM inbox); the browser signs in to the console, places
the customer's call, requests a payment, keys the card on the customer's keypad, and sees
the result on the agent's screen and the activity in the CRM inbox.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    ready = tmp_path / "ready.json"
    environment = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    process = subprocess.Popen(
        [sys.executable, "-m", "payivr.cli", "demo", "--console-listen", "127.0.0.1:0",
         "--phones-listen", "127.0.0.1:0", "--ready-file", str(ready)],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        for _ in range(600):
            if ready.exists() or process.poll() is not None:
                break
            import time

            time.sleep(0.1)
        assert ready.exists(), process.communicate(timeout=5)[0]
        yield json.loads(ready.read_text())
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
        assert process.returncode == 0, output
        assert "payivr demo stopped." in output
        # The test card shows only in the printed instructions, never in what the demo logged.
        assert output.count("4242424242424242") == 1, output


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def press(phones: Page, phone: str, keys: str) -> None:
    for key in keys:
        await phones.get_by_role("button", name=f"{phone} key {key}", exact=True).click()
        await asyncio.sleep(0.15)


async def hears(phones: Page, words: str) -> None:
    await expect(phones.locator("#customer .heard")).to_contain_text(words, timeout=30_000)


async def test_a_newcomer_completes_a_payment(demo: dict[str, Any], browser: Browser) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phones = await browser.new_page()
    await phones.goto(demo["phones"])
    await phones.get_by_label("play the prompts' audio").uncheck()
    await phones.get_by_role("button", name="Customer calls the agent").click()
    await expect(phones.locator("#agent .state")).to_have_text("in a call")

    console = await browser.new_page()
    await console.goto(demo["console"])
    await console.get_by_label("Name", exact=True).fill("alice")
    await console.get_by_label("Password").fill(demo["logins"]["alice"])
    await console.keyboard.press("Enter")
    await expect(console.locator("#caller-number")).to_have_text("1002")
    await console.get_by_role("button", name="Request payment").click()
    await console.locator("#item").fill("Annual storage plan")
    await console.locator("#amount").fill("137.42")
    await console.screenshot(path=SCREENSHOTS / "demo-1-request.png")
    await console.get_by_role("button", name="Send to Pay").click()

    await hears(phones, "Press 1 to accept this amount")
    await press(phones, "customer", "1")
    await hears(phones, "Please enter your card number")
    await press(phones, "customer", "4242424242424242#")
    await hears(phones, "card, ending in")
    await press(phones, "customer", "1")
    await expect(console.locator("#payment-card")).to_have_text("Visa •••• 4242")
    await console.screenshot(path=SCREENSHOTS / "demo-2-steps.png")
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
    await console.screenshot(path=SCREENSHOTS / "demo-3-result.png")
    await hears(phones, "return you to your agent")
    # The agent's phone got none of the customer's keys.
    await expect(phones.locator("#agent .leaked")).to_have_text("0")
    screen = await console.locator("body").inner_text()
    assert "4242" not in screen.replace("Visa •••• 4242", "")

    crm = await browser.new_page()
    await crm.goto(demo["crm"])
    row = crm.locator("#activities tr").first
    await expect(row).to_contain_text("Annual storage plan", timeout=15_000)
    await expect(row).to_contain_text("$137.42")
    await expect(row).to_contain_text("Success")
    await crm.screenshot(path=SCREENSHOTS / "demo-4-crm.png")
