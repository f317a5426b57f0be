"""The agent console in a real browser: sign in, request a payment, watch it, cancel, history."""

from __future__ import annotations

import re

from _console_helpers import ALICE, BOB, GOOD_KEYS, PASSWORD, SAM, Console
from conftest import Problems, open_page, screenshot
from playwright.async_api import Browser, Page, expect

from payivr.console.accounts import FREE_FAILURES
from payivr.store.payments import PaymentStore

HOSTILE_ITEM = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> & "plan"'


def step_status(page: Page, step: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#steps li[data-step="{step}"] .step-status')


async def sign_in(page: Page, name: str, password: str = PASSWORD) -> None:
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Password", exact=True).fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def signed_in_page(browser: Browser, console: Console, problems: Problems, name: str) -> Page:
    page = await open_page(browser, console, problems)
    await sign_in(page, name)
    await expect(page.locator("#who-name")).to_have_text(name)
    await expect(page.locator("#connection")).to_have_text("live")
    return page


async def request_payment(page: Page, item: str, amount: str) -> None:
    await page.get_by_role("button", name="Request payment").click()
    await page.get_by_label("Item name").fill(item)
    await page.get_by_label("Total amount").fill(amount)
    await page.get_by_role("button", name="Send to Pay").click()


def real_problems(problems: Problems) -> list[str]:
    """Everything but the browser's note on an expected 4xx answer (e.g. a refused sign-in)."""
    return [p for p in problems if not re.search(r"status of 4\d\d", p)]


async def test_a_payment_from_request_to_transaction_id(browser: Browser, console: Console) -> None:
    problems = Problems()
    page = await open_page(browser, console, problems)
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await screenshot(page, "01-sign-in")
    await sign_in(page, ALICE)
    await expect(page.locator("#no-call")).to_be_visible()
    key = await console.calls.place_call("PJSIP/1001", "+15550123")
    await expect(page.locator("#caller-number")).to_have_text("+15550123")
    await expect(page.locator("#call-duration")).to_have_text(re.compile(r"^\d+:\d\d$"))

    await page.get_by_role("button", name="Request payment").click()
    await page.get_by_label("Item name").fill("Annual storage plan")
    await page.get_by_label("Total amount").fill("137.42")
    await screenshot(page, "02-request-form")
    await page.get_by_role("button", name="Send to Pay").click()

    await expect(page.locator("#payment-panel")).to_be_visible()
    await expect(page.locator("#payment-item")).to_have_text("Annual storage plan")
    await expect(step_status(page, "amount")).to_have_text("Caller is confirming…")
    for step in ("card_number", "expiry", "security_code", "postal_code"):
        await expect(step_status(page, step)).to_have_text("Waiting")
    await expect(page.get_by_role("button", name="Request payment")).to_be_disabled()

    await console.calls.press(key, "1")
    await expect(step_status(page, "amount")).to_have_text("Done ✓")
    await console.calls.press(key, "42424242")
    await expect(step_status(page, "card_number")).to_have_text("Entering… (8 digits)")
    await screenshot(page, "03-live-steps-entering")
    await console.calls.press(key, GOOD_KEYS[9:])
    for step in ("card_number", "expiry", "security_code", "postal_code"):
        await expect(step_status(page, step)).to_have_text("Done ✓")
    await expect(page.locator("#result-title")).to_have_text("Payment successful")
    await expect(page.locator("#result-detail")).to_have_text(re.compile(r"^Transaction ID: \S+"))
    await expect(page.locator("#payment-card")).to_have_text("Visa •••• 4242")
    assert "4242424242424242" not in await page.content()
    await screenshot(page, "04-payment-success")

    await page.get_by_role("button", name="History").click()
    await expect(page.locator("#history-rows tr")).to_have_count(1)
    await expect(page.locator("#history-rows")).to_contain_text("Annual storage plan")
    await expect(page.locator("#history-rows")).to_contain_text("Payment successful")
    assert real_problems(problems) == []


async def test_the_x_cancels_the_request_before_anything_is_sent(
    browser: Browser, console: Console
) -> None:
    problems = Problems()
    await console.calls.place_call("PJSIP/1001")
    page = await signed_in_page(browser, console, problems, ALICE)
    await expect(page.get_by_role("button", name="Request payment")).to_be_enabled()
    await page.get_by_role("button", name="Request payment").click()
    await page.get_by_label("Item name").fill("Changed my mind")
    await page.get_by_label("Total amount").fill("10")
    await page.get_by_role("button", name="Cancel this payment request").click()
    await expect(page.locator("#request-form")).to_be_hidden()
    await expect(page.locator("#payment-panel")).to_be_hidden()
    await expect(page.get_by_role("button", name="Request payment")).to_be_focused()
    # Opening it again starts from an empty form; Escape closes it too.
    await page.get_by_role("button", name="Request payment").click()
    await expect(page.get_by_label("Item name")).to_have_value("")
    await page.keyboard.press("Escape")
    await expect(page.locator("#request-form")).to_be_hidden()
    assert await PaymentStore(console.db).list_payments() == []
    assert real_problems(problems) == []


async def test_cancel_during_the_payment_and_a_bad_amount_explained(
    browser: Browser, console: Console
) -> None:
    problems = Problems()
    key = await console.calls.place_call("PJSIP/1001")
    page = await signed_in_page(browser, console, problems, ALICE)
    await request_payment(page, "Gift box", "12.345")
    await expect(page.locator("#request-error")).to_have_text(
        "the amount must be a whole number of cents"
    )
    await page.get_by_label("Total amount").fill("12.34")
    await page.get_by_role("button", name="Send to Pay").click()
    await expect(page.locator("#payment-panel")).to_be_visible()
    await console.calls.press(key, "1" + "4242")
    await expect(step_status(page, "card_number")).to_have_text("Entering… (4 digits)")
    await page.get_by_role("button", name="Cancel payment").click()
    await expect(page.locator("#result-title")).to_have_text("You cancelled the payment")
    await expect(step_status(page, "card_number")).to_have_text("Failed: cancelled by the agent")
    await expect(page.get_by_role("button", name="Cancel payment")).to_be_hidden()
    await screenshot(page, "05-cancelled-during-payment")
    assert real_problems(problems) == []


async def test_a_declined_card_shows_the_reason(browser: Browser, console: Console) -> None:
    problems = Problems()
    key = await console.calls.place_call("PJSIP/1001")
    page = await signed_in_page(browser, console, problems, ALICE)
    await request_payment(page, "Plan", "20")
    await expect(page.locator("#payment-panel")).to_be_visible()
    await console.calls.decline_every_try(
        key, GOOD_KEYS.replace("4242424242424242", "4000000000009995")
    )
    await expect(page.locator("#result-title")).to_have_text("Payment declined")
    await expect(page.locator("#result-detail")).to_have_text(re.compile(r"\w+"))
    await screenshot(page, "06-payment-declined")
    assert real_problems(problems) == []


async def test_the_agent_chooses_the_callers_language(browser: Browser, console: Console) -> None:
    problems = Problems()
    await console.calls.place_call("PJSIP/1001")
    page = await signed_in_page(browser, console, problems, ALICE)
    await page.get_by_role("button", name="Request payment").click()
    language = page.get_by_label("Caller's language")
    # Unchosen, the prompts follow the call's own language (CHANNEL(language)).
    await expect(language).to_have_value("")
    assert await language.locator("option").all_inner_texts() == [
        "As the call says",
        "English",
        "Español",
    ]
    await language.select_option(label="Español")
    await page.get_by_label("Item name").fill("Plan")
    await page.get_by_label("Total amount").fill("20")
    await page.get_by_role("button", name="Send to Pay").click()
    await expect(page.locator("#payment-language")).to_have_text("· prompts in Español")
    assert real_problems(problems) == []


async def test_an_agent_never_sees_another_agents_call(browser: Browser, console: Console) -> None:
    problems = Problems()
    bob = await signed_in_page(browser, console, problems, BOB)
    alice = await signed_in_page(browser, console, problems, ALICE)
    key = await console.calls.place_call("PJSIP/1001", "+15550111")
    await expect(alice.locator("#caller-number")).to_have_text("+15550111")
    await request_payment(alice, "Alice's sale", "30")
    await expect(alice.locator("#payment-panel")).to_be_visible()
    await console.calls.press(key, "1")
    await expect(step_status(alice, "amount")).to_have_text("Done ✓")

    await bob.reload()
    await expect(bob.locator("#connection")).to_have_text("live")
    await expect(bob.locator("#no-call")).to_be_visible()
    await expect(bob.locator("#payment-panel")).to_be_hidden()
    await expect(bob.get_by_role("button", name="Request payment")).to_be_disabled()
    assert "+15550111" not in await bob.content()
    assert "Alice's sale" not in await bob.content()
    await bob.get_by_role("button", name="History").click()
    await expect(bob.locator("#history-rows tr")).to_have_count(0)
    await expect(bob.get_by_role("button", name="Audit trail")).to_be_hidden()
    await screenshot(bob, "07-other-agent-sees-nothing")
    assert real_problems(problems) == []


async def test_repeated_wrong_passwords_make_this_browser_wait(
    browser: Browser, console: Console
) -> None:
    problems = Problems()
    page = await open_page(browser, console, problems)
    for attempt in range(FREE_FAILURES):
        await sign_in(page, BOB, f"not my password {attempt}")
        await expect(page.locator("#login-error")).to_have_text("wrong name or password")
        await page.evaluate("document.getElementById('login-error').textContent = ''")
    await sign_in(page, BOB, PASSWORD)
    wait = re.compile(r"too many failed sign-ins from here: try again in [0-9]+ seconds")
    await expect(page.locator("#login-error")).to_have_text(wait)
    await expect(page.locator("#app-view")).to_be_hidden()
    await screenshot(page, "08-waiting")
    assert real_problems(problems) == []


async def test_html_in_an_item_name_is_shown_as_text(browser: Browser, console: Console) -> None:
    problems = Problems()
    await console.calls.place_call("PJSIP/1001")
    page = await signed_in_page(browser, console, problems, ALICE)
    await request_payment(page, HOSTILE_ITEM, "5")
    await expect(page.locator("#payment-item")).to_have_text(HOSTILE_ITEM)
    await expect(page.locator("#payment-item img")).to_have_count(0)
    await page.get_by_role("button", name="History").click()
    await expect(page.locator("#history-rows td").nth(2)).to_have_text(HOSTILE_ITEM)
    assert await page.evaluate("window.pwned") is None
    await screenshot(page, "09-html-shown-as-text")

    supervisor = await signed_in_page(browser, console, problems, SAM)
    await supervisor.get_by_role("button", name="History").click()
    await expect(supervisor.locator("#history-rows")).to_contain_text(HOSTILE_ITEM)
    await supervisor.get_by_role("button", name="Audit trail").click()
    await expect(supervisor.locator("#audit-rows")).to_contain_text("payment.requested")
    await expect(supervisor.locator("#audit-rows")).to_contain_text("login.ok")
    assert await supervisor.evaluate("window.pwned") is None
    await screenshot(supervisor, "10-supervisor-audit")
    assert real_problems(problems) == []


async def test_the_console_is_usable_from_the_keyboard(browser: Browser, console: Console) -> None:
    problems = Problems()
    await console.calls.place_call("PJSIP/1001")
    page = await open_page(browser, console, problems)
    await page.get_by_label("Name", exact=True).focus()
    await page.keyboard.type(ALICE)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.locator("#who-name")).to_have_text(ALICE)
    await expect(page.get_by_role("button", name="Request payment")).to_be_enabled()
    await page.get_by_role("button", name="Request payment").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Item name")).to_be_focused()
    await page.keyboard.type("Keyboard plan")
    await page.keyboard.press("Tab")
    await page.keyboard.type("9.99")
    await page.keyboard.press("Enter")
    await expect(page.locator("#payment-item")).to_have_text("Keyboard plan")
    await expect(page.locator("#payment-amount")).to_have_text("9.99 USD")
    assert real_problems(problems) == []
