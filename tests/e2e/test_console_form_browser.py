"""The agent's console in Chromium, against ``payivr serve``'s wiring: ``*7`` on the phone
opens the request form (filled in with what the agent keyed), and when the call ends the form
goes with it, so the next caller's form never shows the previous caller's item, amount or
error."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from payivr.console.accounts import add_agent
from tests.chromium import CHROMIUM, headless_chromium
from tests.e2e.console_client import PASSWORD
from tests.e2e.harness import System

if shutil.which(CHROMIUM) is None:  # pragma: no cover - the Makefile installs it
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with headless_chromium() as chromium:
        yield chromium


async def agent_page(browser: Browser, system: System, name: str, problems: list[str]) -> Page:
    page = await browser.new_page()
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto(system.running.console_url)
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#connection")).to_have_text("live")
    return page


async def test_star7_opens_the_form_and_the_next_call_starts_clean(
    system: System, browser: Browser
) -> None:
    caller, agent = system.phones()
    await add_agent(system.running.database, "alice", agent.endpoint, "agent", PASSWORD)
    problems: list[str] = []
    page = await agent_page(browser, system, "alice", problems)
    form = page.locator("#request-form")

    # First caller: *7 alone opens the empty form; the agent types, and is refused.
    await system.target.connect(caller, agent)
    await agent.press("*7")
    await expect(form).to_be_visible()
    await expect(page.get_by_label("Item name")).to_have_value("")
    await expect(page.get_by_label("Total amount")).to_have_value("")
    await page.get_by_label("Item name").fill("First caller's plan")
    await page.get_by_label("Total amount").fill("abc")
    await page.get_by_role("button", name="Send to Pay").click()
    await expect(page.locator("#request-error")).not_to_have_text("")

    # The caller hangs up: the form and all it held are gone.
    await caller.hangup()
    await expect(page.locator("#no-call")).to_be_visible()
    await expect(form).to_be_hidden()
    await system.hang_up_all(agent)
    await system.check_nothing_left()

    # Second caller: *7 with an amount over the maximum. The form opens with that amount and
    # why it did not start, nothing of the first caller's.
    too_much = system.config.flow.max_amount_minor + 100
    await system.target.connect(caller, agent)
    await agent.press(f"*7{too_much}#")
    await expect(form).to_be_visible()
    await expect(page.get_by_label("Item name")).to_have_value("")
    await expect(page.get_by_label("Total amount")).to_have_value(f"{too_much / 100:.2f}")
    await expect(page.locator("#request-error")).to_contain_text("maximum")
    await page.get_by_label("Item name").fill("Second caller's plan")
    await page.get_by_label("Total amount").fill("137.42")
    await page.get_by_role("button", name="Send to Pay").click()
    await expect(page.locator("#payment-panel")).to_be_visible()
    await expect(page.locator("#payment-item")).to_have_text("Second caller's plan")
    await expect(form).to_be_hidden()
    assert problems == []
    await system.hang_up_all(caller, agent)
    await system.check_nothing_left()
