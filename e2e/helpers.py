"""What the e2e tests do again and again: log in and out, scan a card, read a banner's colour, save screenshots."""

from __future__ import annotations

import colorsys
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from playwright.async_api import BrowserContext, Locator, Page, expect

PASSWORD = "yaoshi123"  # app.components.seed.DEMO_PASSWORD
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"

# The `new_context` fixture: open a browser context at a device (descriptor name or options).
NewContext = Callable[..., Awaitable[BrowserContext]]

# Demo members created on an empty database (app.components.seed.DEMO_MEMBERS).
ZHANG_WEI = "8000000011"  # high-risk penicillin allergy, low-risk NSAID allergy; phone 13812341234
LI_NA = "8000000029"  # no known allergies, recorded by the demo pharmacist
WANG_FANG = "8000000037"  # allergies never asked
PHARMACIST_NAME = "王药师"

# Devices: the counter is an iPad Mini, managers use a phone, the kiosk is a 1080×1920 portrait touch screen.
COUNTER_DEVICE = "iPad Mini"
PHONE_DEVICE = "Pixel 7"
KIOSK_DEVICE = {"viewport": {"width": 1080, "height": 1920}, "has_touch": True, "is_mobile": False}


async def login(page: Page, username: str, landing: str, tablet: str | None = "柜台 1") -> None:
    """Log in through the login page and wait for the user's surface.

    A counter's first visit on a browser asks to name the tablet: it is named `tablet` (None leaves the question
    on the screen), as staff do once per tablet.
    """
    await page.goto("/login")
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(PASSWORD)
    await page.locator("#login-form [type=submit]").click()
    await page.wait_for_url(f"**{landing}")
    if landing.startswith("/counter") and tablet is not None and await page.get_by_test_id("device-form").count():
        await name_tablet(page, tablet)


async def name_tablet(page: Page, name: str) -> None:
    """Answer the counter's "name this tablet" and wait for the counter."""
    await page.get_by_test_id("device-name-input").fill(name)
    await page.get_by_test_id("device-submit").tap()
    await expect(page.get_by_test_id("scan")).to_be_visible()


async def open_menu(page: Page) -> None:
    """On a phone the top bar's links, language switch and logout sit behind the menu button: open it (a no-op
    where the bar shows them itself)."""
    toggle = page.get_by_test_id("menu-toggle")
    if await toggle.is_visible() and await toggle.get_attribute("aria-expanded") != "true":
        await toggle.tap()
        await expect(page.get_by_test_id("topbar-menu")).to_be_visible()


async def switch_language(page: Page, language: str) -> None:
    """Tap the top bar's language switch (through the phone menu where it is there) and wait for the page in it."""
    await open_menu(page)
    await page.get_by_test_id(f"lang-{language}").tap()
    await expect(page.locator("html")).to_have_attribute("lang", "en" if language == "en" else "zh-CN")


async def logout(page: Page) -> None:
    """Log out with the top bar's button (on a phone it is in the menu) and wait for the login page."""
    await open_menu(page)
    await page.get_by_test_id("logout").tap()
    await page.wait_for_url("**/login")
    await expect(page.locator("#login-form")).to_be_visible()


async def scan(page: Page, code: str) -> None:
    """Type a code into the scan field like a keyboard-wedge scanner: fast keystrokes, then Enter."""
    field = page.get_by_test_id("scan")
    await field.press_sequentially(code, delay=5)
    await field.press("Enter")


async def show_member(page: Page, member_no: str) -> Locator:
    """Scan a card, wait until that member's panel is shown and return it.

    The page may already show this member (the pharmacist's open cart keeps its customer across page loads), so
    the shown panel is unmarked first: only the panel the scan brings back passes the wait.
    """
    await page.evaluate("document.querySelectorAll('[data-testid=member]').forEach(el => el.dataset.memberNo = '')")
    await scan(page, member_no)
    panel = page.get_by_test_id("member")
    await expect(panel).to_have_attribute("data-member-no", member_no)
    return panel


async def tone(locator: Locator) -> str:
    """The colour family of an element's background: red, amber, green or other (palette tweaks don't matter)."""
    css = await locator.evaluate("el => getComputedStyle(el).backgroundColor")
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+(?:\.\d+)?", css)[:3])
    hue, _lightness, saturation = colorsys.rgb_to_hls(r, g, b)
    degrees = hue * 360
    if saturation < 0.2:
        return "other"
    if degrees >= 340 or degrees < 15:
        return "red"
    if 25 <= degrees < 60:
        return "amber"
    if 90 <= degrees < 170:
        return "green"
    return "other"


async def save_screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot into e2e/artifacts/, and into docs/screenshots/ when YAOSHI_SCREENSHOTS=1."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    await page.screenshot(path=path, full_page=True)
    if os.environ.get("YAOSHI_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / name).write_bytes(path.read_bytes())
    return path
