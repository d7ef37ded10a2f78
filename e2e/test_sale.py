"""The counter sale at an iPad Mini: scan the card, scan two products like a scanner, the allergy block, override,
pay, and the receipt with the points earned.

Like test_counter.py these tests look at data-testid attributes and data, not at UI wording.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import date, timedelta

import pytest
from playwright.async_api import Page, expect

from app.components.catalog import demo_rows
from app.components.scanning import synthetic_gtin13
from e2e.conftest import Server
from e2e.helpers import ZHANG_WEI, save_screenshot, scan, show_member
from e2e.test_counter import TOO_SMALL

pytestmark = pytest.mark.e2e

NEW_PHONE = "13700005678"  # no demo member has it


def _demo_gtin(generic_en: str) -> str:
    """The EAN-13 printed on a demo product (`yaoshi seed demo` → catalog.seed_demo_catalog: row n counts from 1)."""
    n = next(i for i, row in enumerate(demo_rows(), start=1) if row["generic_en"] == generic_en)
    return synthetic_gtin13(n)


async def _open_cart_lines(server: Server, username: str) -> list[dict]:
    """The lines of `username`'s open cart as the server stored them (what the sale will record per line)."""
    query = (
        "SELECT c.lines FROM cart c JOIN staff s ON s.id = c.staff WHERE s.username = {} AND c.status = 'open'"
        " ORDER BY c.id DESC LIMIT 1"
    )
    if server.database_url and server.database_url.startswith(("postgres://", "postgresql://")):
        import asyncpg

        conn = await asyncpg.connect(server.database_url)
        try:
            raw = await conn.fetchval(query.format("$1"), username)
        finally:
            await conn.close()
    else:
        with sqlite3.connect(f"file:{server.data_dir / 'yaoshi.sqlite3'}?mode=ro", uri=True) as conn:
            row = conn.execute(query.format("?"), (username,)).fetchone()
            raw = row[0] if row else None
    return json.loads(raw) if isinstance(raw, str) else list(raw or [])


async def _fresh_cart(page: Page) -> None:
    """Start from an empty cart, whatever an earlier test left in the pharmacist's."""
    clear = page.get_by_test_id("cart-clear")
    if await clear.count():
        page.once("dialog", lambda dialog: dialog.accept())
        await clear.tap()
    await expect(page.get_by_test_id("cart-empty")).to_be_visible()


async def test_scan_card_and_products_override_the_allergy_and_pay(counter: Page) -> None:
    page = counter
    await _fresh_cart(page)
    await show_member(page, ZHANG_WEI)  # penicillin allergy, high risk
    cart = page.get_by_test_id("cart")
    await expect(cart.get_by_test_id("cart-member")).to_have_attribute("data-member-no", ZHANG_WEI)

    # Two products as fast as a scanner types them: amoxicillin (a penicillin, Rx) and an OTC vitamin.
    await scan(page, _demo_gtin("amoxicillin"))
    await scan(page, _demo_gtin("ascorbic acid"))
    lines = page.get_by_test_id("cart-line")
    await expect(lines).to_have_count(2)
    amoxicillin = lines.nth(0)
    await expect(amoxicillin.get_by_test_id("rx-badge")).to_be_visible()
    await expect(amoxicillin.locator("[data-testid=line-alert][data-kind=allergy]")).to_have_attribute(
        "data-level", "high"
    )
    pay = page.get_by_test_id("pay")
    await expect(pay).to_be_disabled()
    await expect(page.locator("[data-testid=blocker][data-code=allergy_high]")).to_be_visible()
    await expect(page.get_by_test_id("scan")).to_be_focused()
    await save_screenshot(page, "counter-sale-allergy-block.png")
    assert await page.evaluate(TOO_SMALL) == [], "touch targets under 44px on the cart"

    # The pharmacist types the prescription and the override's reason: one tap approves both.
    await page.get_by_test_id("rx-number").fill("RX20261130001")
    await page.get_by_test_id("rx-hospital").fill("上海瑞金医院")
    await page.get_by_test_id("override-reason").fill("皮试阴性，医生确认可用")
    await page.get_by_test_id("approve-submit").tap()
    await expect(page.get_by_test_id("override-done")).to_be_visible()
    await expect(page.get_by_test_id("rx-verified")).to_be_visible()
    await expect(pay).to_be_enabled()

    await pay.tap()
    await page.wait_for_url("**/counter/sales/*/receipt")
    receipt = page.get_by_test_id("receipt")
    await expect(receipt.get_by_test_id("receipt-line")).to_have_count(2)
    earned = receipt.get_by_test_id("points-earned")
    await expect(earned).to_have_text(re.compile(r"^[1-9]\d*$"))
    await expect(receipt.get_by_test_id("points-balance")).to_be_visible()
    await save_screenshot(page, "counter-sale-receipt.png")

    # The medication guidance slip, then a fresh cart for the next customer.
    await page.get_by_test_id("print-guidance").tap()
    await expect(page.get_by_test_id("guidance-item")).to_have_count(2)
    await page.goto("/counter")
    await expect(page.get_by_test_id("cart-empty")).to_be_visible()


async def test_a_gs1_datamatrix_scan_with_its_symbology_id_adds_the_product_with_batch_and_expiry(
    counter: Page, server: Server
) -> None:
    """A scanner with AIM ids on sends "]d2" before the element string; GS between the fields as its "<GS>" text
    (a keyboard wedge cannot type ASCII 29 into a browser field). The expiry is a year from today, so the test
    holds in any year."""
    page = counter
    await _fresh_cart(page)
    gtin14 = "0" + _demo_gtin("amoxicillin")
    expiry = date.today() + timedelta(days=400)
    await scan(page, f"]d201{gtin14}17{expiry:%y%m%d}10B2406A<GS>21SN0001234")
    lines = page.get_by_test_id("cart-line")
    await expect(lines).to_have_count(1)
    await expect(page.get_by_test_id("scan-error")).to_have_count(0)
    await expect(page.get_by_test_id("scan")).to_be_focused()
    stored = await _open_cart_lines(server, "pharmacist")
    assert len(stored) == 1
    assert stored[0]["codes"] == [f"(01){gtin14}(17){expiry:%y%m%d}(10)B2406A(21)SN0001234"]
    await _fresh_cart(page)


async def test_a_scanner_sending_ctrl_bracket_for_the_group_separator_keeps_batch_and_serial_apart(
    counter: Page, server: Server
) -> None:
    """A keyboard wedge sends GS1's group separator as Ctrl+]: the batch ends there, in the scan field and when the
    scan lands elsewhere on the page (a tender tile was tapped last)."""
    page = counter
    gtin14 = "0" + _demo_gtin("amoxicillin")
    expiry = date.today() + timedelta(days=400)
    for focus_first in ("scan", "tender"):
        await _fresh_cart(page)
        await scan(page, _demo_gtin("ascorbic acid"))  # a line, so the checkout and its tender tiles show
        await expect(page.get_by_test_id("cart-line")).to_have_count(1)
        if focus_first == "tender":
            await page.locator("label.tender", has=page.get_by_test_id("tender-wechat")).tap()
            await page.get_by_test_id("tender-wechat").focus()
        if focus_first == "scan":
            await page.get_by_test_id("scan").focus()
        # The keyboard types where the focus is, as a wedge scanner does.
        await page.keyboard.type(f"]d201{gtin14}17{expiry:%y%m%d}10B2406A", delay=5)
        await page.keyboard.press("Control+BracketRight")
        await page.keyboard.type("21SN0001234", delay=5)
        await page.keyboard.press("Enter")
        await expect(page.get_by_test_id("cart-line")).to_have_count(2)
        await expect(page.get_by_test_id("scan-error")).to_have_count(0)
        stored = await _open_cart_lines(server, "pharmacist")
        assert [f"(01){gtin14}(17){expiry:%y%m%d}(10)B2406A(21)SN0001234"] in [line["codes"] for line in stored]
    await _fresh_cart(page)


async def test_asking_allergies_now_updates_the_cart(counter: Page) -> None:
    page = counter
    await _fresh_cart(page)
    # A member registered just now, whose allergies were never asked.
    await scan(page, NEW_PHONE)
    await page.get_by_test_id("register").tap()
    form = page.get_by_test_id("register-form")
    await form.locator("input[name=name]").fill("钱多多")
    await form.locator("input[name=phone]").fill(NEW_PHONE)
    await form.locator("label.tile", has=page.locator("input[name=gender][value=M]")).tap()
    await page.get_by_test_id("register-submit").tap()
    await expect(page.get_by_test_id("register-step")).to_have_attribute("data-step", "2")
    await scan(page, NEW_PHONE)
    await expect(page.get_by_test_id("allergy-banner")).to_have_attribute("data-status", "unknown")
    await expect(page.get_by_test_id("cart-member")).to_be_visible()
    await scan(page, _demo_gtin("ibuprofen"))  # an NSAID: the pharmacist is prompted to ask
    ask = page.locator("[data-testid=line-alert][data-level=ask]")
    await expect(ask).to_be_visible()
    consent = page.get_by_test_id("consent-health-counter")
    if await consent.count():
        await consent.tap()
    await page.get_by_test_id("no-known-allergies").tap()
    await expect(page.get_by_test_id("allergy-banner")).to_have_attribute("data-status", "none")
    await expect(ask).to_have_count(0)
    await expect(page.get_by_test_id("cart-line")).to_have_count(1)


async def test_a_coupon_tapped_in_the_member_wallet_comes_off_the_total(counter: Page) -> None:
    page = counter
    await _fresh_cart(page)
    await show_member(page, ZHANG_WEI)  # the demo gives the first member a "¥10 off ¥50" coupon
    vitamin = _demo_gtin("ascorbic acid")
    await scan(page, vitamin)
    await scan(page, vitamin)
    await expect(page.get_by_test_id("line-qty")).to_have_text("2")
    total_before = await page.get_by_test_id("total").inner_text()

    try:
        await page.get_by_test_id("wallet-coupon").first.tap()
        await expect(page.get_by_test_id("coupon")).to_have_count(1)
        await expect(page.get_by_test_id("coupon-discount")).to_have_text("−¥10.00")
        await expect(page.get_by_test_id("total")).not_to_have_text(total_before)

        await page.get_by_test_id("pay").tap()
        await page.wait_for_url("**/counter/sales/*/receipt")
        await expect(page.get_by_test_id("receipt-coupons")).to_have_text("−¥10.00")
    finally:
        if "/receipt" not in page.url:  # leave no half-made sale in the pharmacist's cart
            await _fresh_cart(page)
