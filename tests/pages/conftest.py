"""The `browser` fixture: Debian's Chromium, driven by Playwright from its own process
(tests/pages/browser.py says why), shared by the session; each test gets fresh contexts and
its screenshots under <tmp_path>/screenshots."""
from __future__ import annotations

import pytest

from tests.pages.browser import BrowserSession, Driver, chromium_missing_reason


@pytest.fixture(scope="session")
def browser_driver():
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    driver = Driver()
    try:
        yield driver
    finally:
        driver.close()


@pytest.fixture
def browser(browser_driver, tmp_path):
    session = BrowserSession(browser_driver, tmp_path / "screenshots")
    try:
        yield session
    finally:
        session.close()
