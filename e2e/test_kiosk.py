"""The kiosk at the store entrance: a 1080×1920 portrait touch screen, no login."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from e2e.helpers import KIOSK_DEVICE, NewContext

pytestmark = pytest.mark.e2e


async def test_kiosk_welcome_fills_the_portrait_screen(new_context: NewContext) -> None:
    context = await new_context(KIOSK_DEVICE)
    page = await context.new_page()
    response = await page.goto("/kiosk")
    assert response is not None and response.status == 200
    welcome = page.get_by_test_id("kiosk")
    await expect(welcome).to_be_visible()
    await expect(welcome.locator("h1")).not_to_be_empty()
    await expect(welcome.locator("p")).not_to_be_empty()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1080, "no sideways scrolling"
    # Nobody is logged in at a kiosk, and nothing about members is on screen.
    await expect(page.get_by_test_id("logout")).to_have_count(0)
    await expect(page.get_by_test_id("member")).to_have_count(0)
