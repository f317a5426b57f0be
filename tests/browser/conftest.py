"""Browser tests: Debian's Chromium driven by Playwright's async API, in the test's own loop.

The console under test is the one the API tests use (tests/console/_console_helpers.py).
Screenshots of the key screens go to artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "console"))

from _console_helpers import PASSWORD, Console, running_console
from playwright.async_api import Browser, Page

from payivr.console.passwords import hash_password
from payivr.store.database import Database
from tests.chromium import CHROMIUM, headless_chromium

SCREENSHOTS = Path(__file__).parents[2] / "artifacts" / "screenshots"

if shutil.which(CHROMIUM) is None:  # pragma: no cover - the Makefile installs it
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
async def console(database: Database, password_hash: str) -> AsyncIterator[Console]:
    async with running_console(database, password_hash) as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with headless_chromium() as chromium:
        yield chromium


class Problems(list[str]):
    """Console errors and CSP violations seen by a page: there must be none."""


async def open_page(
    browser: Browser, console: Console, problems: Problems, *, width: int = 1100
) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    await page.goto(console.url)
    return page


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
