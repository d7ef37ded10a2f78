"""The counter at an iPad Mini: a cash amount typed with a zero too many is refused next to the amount, and the
sale cannot be paid until it is corrected."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from e2e.helpers import save_screenshot, scan
from e2e.test_sale import _demo_gtin, _fresh_cart

pytestmark = pytest.mark.e2e


async def test_too_much_cash_is_refused_next_to_the_amount(counter: Page) -> None:
    page = counter
    await _fresh_cart(page)
    await scan(page, _demo_gtin("ascorbic acid"))
    await expect(page.get_by_test_id("cart-line")).to_have_count(1)
    amount = page.get_by_test_id("pay-amount")
    await amount.tap()
    await amount.fill("100000")  # ¥100,000 for a vitamin: a typing error, not change to hand out
    error = page.get_by_test_id("error-amount")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("¥")
    await save_screenshot(page, "counter-cash-cap-zh-portrait.png")
    await page.set_viewport_size({"width": 1024, "height": 768})
    await save_screenshot(page, "counter-cash-cap-zh-landscape.png")
    await page.set_viewport_size({"width": 768, "height": 1024})
    await page.get_by_test_id("lang-en").tap()
    await page.wait_for_load_state("networkidle")
    amount = page.get_by_test_id("pay-amount")
    await amount.tap()
    await amount.fill("100000")
    await expect(page.get_by_test_id("error-amount")).to_contain_text("More cash than this sale can take")
    await save_screenshot(page, "counter-cash-cap-en-portrait.png")
    await amount.fill("100")
    await expect(page.get_by_test_id("error-amount")).to_have_count(0)
    await expect(page.get_by_test_id("change")).to_be_visible()
    await page.get_by_test_id("lang-zh_CN").tap()
    await page.wait_for_load_state("networkidle")
