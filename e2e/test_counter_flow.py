"""The counter at an iPad Mini held portrait and landscape, by touch: a scan never pays, the tender tapped stays,
Pay is pinned on screen, another member's card asks whom the sale is for, held sales are resumed, a new member
registered at the counter is the sale's customer, and a cart change lost on the network is sent again once.

Like the other e2e tests these look at data-testid attributes and data, not at UI wording. Screenshots of each
screen in Chinese and English go to e2e/artifacts/ (see `_both_languages`).
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import BrowserContext, Page, Route, expect

from e2e.helpers import (
    COUNTER_DEVICE,
    LI_NA,
    PHONE_DEVICE,
    ZHANG_WEI,
    NewContext,
    login,
    save_screenshot,
    scan,
    show_member,
)
from e2e.test_counter import TOO_SMALL
from e2e.test_sale import _demo_gtin, _fresh_cart

pytestmark = pytest.mark.e2e

ORIENTATIONS = {"portrait": COUNTER_DEVICE, "landscape": COUNTER_DEVICE + " landscape"}
VITAMIN_C = "ascorbic acid"
SEVERAL = (VITAMIN_C, "loratadine", "ambroxol", "calcium carbonate with vitamin D3", "surgical masks", "diosmectite")


async def _counter_at(
    new_context: NewContext, orientation: str, username: str = "pharmacist", tablet: str = ""
) -> Page:
    """A fresh tablet (its own browser) at the counter, named on its first visit, with an empty cart."""
    context: BrowserContext = await new_context(ORIENTATIONS[orientation])
    page = await context.new_page()
    await login(page, username, "/counter", tablet=tablet or f"e2e {orientation}")
    await _fresh_cart(page)
    return page


async def _scanner(page: Page, code: str) -> None:
    """A keyboard-wedge scanner: keystrokes a few ms apart and Enter, into whatever has the focus."""
    await page.keyboard.type(code, delay=5)
    await page.keyboard.press("Enter")


async def _both_languages(page: Page, name: str) -> None:
    """Screenshots of the page as it is, in Chinese and then in English (the language switch reloads it)."""
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    await save_screenshot(page, f"{name}-zh.png")
    await _language(page, "en")
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    await save_screenshot(page, f"{name}-en.png")
    await _language(page, "zh_CN")


async def _language(page: Page, code: str) -> None:
    """Switch the UI language with the top bar's button (clicked by script: a dialog may cover the bar)."""
    async with page.expect_navigation():
        await page.get_by_test_id(f"lang-{code}").evaluate("el => el.click()")
    await expect(page.locator("html")).to_have_attribute("lang", "en" if code == "en" else "zh-CN")


async def _sales_today(page: Page) -> int:
    """How many sales today's list shows (read in a page of its own, leaving the counter as it is)."""
    other = await page.context.new_page()
    await other.goto("/counter/sales")
    n = await other.get_by_test_id("sales-row").count()
    await other.close()
    return n


@pytest.mark.parametrize("orientation", ["portrait", "landscape"])
async def test_a_scan_after_choosing_a_tender_adds_the_product_and_never_pays(
    new_context: NewContext, orientation: str
) -> None:
    page = await _counter_at(new_context, orientation)
    await scan(page, _demo_gtin(VITAMIN_C))
    qty = page.get_by_test_id("line-qty")
    await expect(qty).to_have_text("1")
    before = await _sales_today(page)

    # The 微信支付 tile, tapped: its radio has the focus (as on the iPad) when the next customer's item is scanned.
    wechat = page.get_by_test_id("tender-wechat")
    await page.locator("label.tile", has=wechat).tap()
    await expect(page.get_by_test_id("bar-tender")).to_have_attribute("data-kind", "wechat")
    await wechat.focus()
    await _scanner(page, _demo_gtin(VITAMIN_C))
    await expect(qty).to_have_text("2")
    assert "/receipt" not in page.url
    await expect(page.get_by_test_id("tender-wechat")).to_be_checked()
    await expect(page.get_by_test_id("bar-tender")).to_have_attribute("data-kind", "wechat")

    # The same with the cash amount field in use: what was typed there stays, the code goes to the cart.
    amount = page.get_by_test_id("pay-amount")
    await amount.tap()
    await page.keyboard.type("5")  # a person types, and looks at what is due before the next item is scanned
    await expect(page.get_by_test_id("paid")).to_have_text("¥5.00")
    await _scanner(page, _demo_gtin(VITAMIN_C))
    await expect(qty).to_have_text("3")
    await expect(page.get_by_test_id("pay-amount")).to_have_value("5")
    await page.get_by_test_id("pay-amount").press("Enter")  # a person's Enter in the field does not pay either
    await expect(page.get_by_test_id("tender-wechat")).to_be_checked()
    assert "/receipt" not in page.url and await _sales_today(page) == before

    # Only a tap on Pay pays, with the tender that was tapped.
    await page.get_by_test_id("pay-amount").fill("")
    await page.get_by_test_id("pay-amount").dispatch_event("input")
    await expect(page.get_by_test_id("bar-tender")).to_have_attribute("data-kind", "wechat")
    await page.get_by_test_id("pay").tap()
    await page.wait_for_url("**/counter/sales/*/receipt")
    await expect(page.locator("[data-testid=receipt-tender][data-kind=wechat]")).to_be_visible()
    await expect(page.get_by_test_id("receipt-line")).to_have_count(1)


async def test_the_tender_tapped_survives_quantity_and_line_changes(new_context: NewContext) -> None:
    page = await _counter_at(new_context, "portrait")
    await scan(page, _demo_gtin(VITAMIN_C))
    await page.locator("label.tile", has=page.get_by_test_id("tender-alipay")).tap()
    await expect(page.get_by_test_id("bar-tender")).to_have_attribute("data-kind", "alipay")
    await page.get_by_test_id("qty-plus").tap()
    await expect(page.get_by_test_id("line-qty")).to_have_text("2")
    await scan(page, _demo_gtin("loratadine"))
    await expect(page.get_by_test_id("cart-line")).to_have_count(2)
    await page.get_by_test_id("line-remove").last.tap()
    await expect(page.get_by_test_id("cart-line")).to_have_count(1)
    await expect(page.get_by_test_id("tender-alipay")).to_be_checked()
    await expect(page.get_by_test_id("bar-tender")).to_have_attribute("data-kind", "alipay")
    await page.reload()
    await expect(page.get_by_test_id("tender-alipay")).to_be_checked()
    await _fresh_cart(page)


PAY_ON_SCREEN = """
() => {
  const pay = document.querySelector("[data-testid=pay]").getBoundingClientRect();
  return pay.top >= 0 && pay.bottom <= window.innerHeight && pay.height >= 44;
}
"""

# Labels that do not fit: a tender tile's label on more than one line, the scan placeholder wider than the field.
LABELS_THAT_DO_NOT_FIT = """
() => {
  const bad = [];
  for (const span of document.querySelectorAll(".tender-kinds .tile span")) {
    const range = document.createRange();
    range.selectNodeContents(span);
    const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
    if (lines > 1 || span.scrollWidth > span.clientWidth + 1) {
      bad.push(`tender "${span.textContent.trim()}" ${lines} lines`);
    }
  }
  const scan = document.querySelector("[data-testid=scan]");
  const style = getComputedStyle(scan, "::placeholder");
  const ctx = document.createElement("canvas").getContext("2d");
  ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const room = scan.clientWidth - parseFloat(getComputedStyle(scan).paddingLeft)
    - parseFloat(getComputedStyle(scan).paddingRight);
  if (ctx.measureText(scan.placeholder).width > room) bad.push(`scan placeholder cut: "${scan.placeholder}"`);
  return bad;
}
"""


@pytest.mark.parametrize("orientation", ["portrait", "landscape"])
async def test_pay_stays_on_screen_with_several_lines_and_the_discount_is_behind_a_tap(
    new_context: NewContext, orientation: str
) -> None:
    page = await _counter_at(new_context, orientation)
    await show_member(page, LI_NA)  # no known allergies: nothing blocks
    for generic in SEVERAL:
        await scan(page, _demo_gtin(generic))
    await expect(page.get_by_test_id("cart-line")).to_have_count(len(SEVERAL))
    bar = page.get_by_test_id("pay-bar")
    await expect(bar.get_by_test_id("bar-total")).to_have_text(await page.get_by_test_id("total").inner_text())
    await expect(page.get_by_test_id("pay")).to_be_enabled()
    assert await page.evaluate(PAY_ON_SCREEN), "Pay is not on the screen"
    await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert await page.evaluate(PAY_ON_SCREEN), "Pay is not on the screen at the bottom of the page"
    # Nothing of the cart hides behind the bar: its last control can be scrolled above it.
    bar_top = (await bar.bounding_box())["y"]
    last = await page.get_by_test_id("pay-amount").bounding_box()
    assert last["y"] + last["height"] <= bar_top

    # The discount field is closed on every line until its button is tapped.
    assert await page.get_by_test_id("line-discount-input").first.is_hidden()
    await page.evaluate("window.scrollTo(0, 0)")
    await page.get_by_test_id("line-discount-open").first.tap()
    await expect(page.get_by_test_id("line-discount-input").first).to_be_visible()
    await expect(page.get_by_test_id("line-discount-input").nth(1)).to_be_hidden()
    assert await page.evaluate(TOO_SMALL) == [], "touch targets under 44px on the cart"
    await page.get_by_test_id("line-discount-open").first.tap()
    await page.evaluate("window.scrollTo(0, 0)")
    await _both_languages(page, f"counter-cart-{orientation}")

    await _language(page, "en")
    assert await page.evaluate(LABELS_THAT_DO_NOT_FIT) == []
    assert await page.evaluate(PAY_ON_SCREEN)
    await _language(page, "zh_CN")
    await _fresh_cart(page)


@pytest.mark.parametrize("orientation", ["portrait", "landscape"])
async def test_another_members_card_asks_and_the_first_sale_is_held_then_resumed(
    new_context: NewContext, orientation: str
) -> None:
    page = await _counter_at(new_context, orientation)
    await show_member(page, ZHANG_WEI)
    await scan(page, _demo_gtin(VITAMIN_C))
    await expect(page.get_by_test_id("cart-line")).to_have_count(1)
    await scan(page, LI_NA)  # the next customer's card, the first one's item still on the cart
    prompt = page.get_by_test_id("member-switch")
    await expect(prompt).to_be_visible()
    await expect(prompt).to_have_attribute("data-member-no", LI_NA)
    await expect(page.get_by_test_id("member")).to_have_attribute("data-member-no", ZHANG_WEI)
    await expect(page.get_by_test_id("pay")).to_be_disabled()
    assert await page.evaluate(TOO_SMALL) == []
    await _both_languages(page, f"counter-member-switch-{orientation}")

    await page.get_by_test_id("switch-new").tap()
    await expect(prompt).to_have_count(0)
    await expect(page.get_by_test_id("cart-member")).to_have_attribute("data-member-no", LI_NA)
    await expect(page.get_by_test_id("member")).to_have_attribute("data-member-no", LI_NA)
    await expect(page.get_by_test_id("cart-empty")).to_be_visible()

    await page.get_by_test_id("held-sales").tap()
    await page.wait_for_url("**/counter/held")
    mine = page.get_by_test_id("held-sale").filter(has_text=ZHANG_WEI).filter(has_text=f"e2e {orientation}")
    await expect(mine).to_have_count(1)
    await expect(mine.get_by_test_id("held-total")).to_have_text(re.compile(r"^¥\d+\.\d{2}$"))
    assert await page.evaluate(TOO_SMALL) == []
    await _both_languages(page, f"counter-held-{orientation}")
    await (
        page.get_by_test_id("held-sale")
        .filter(has_text=ZHANG_WEI)
        .filter(has_text=f"e2e {orientation}")
        .get_by_test_id("held-resume")
        .tap()
    )
    await page.wait_for_url("**/counter")
    await expect(page.get_by_test_id("cart-member")).to_have_attribute("data-member-no", ZHANG_WEI)
    await expect(page.get_by_test_id("cart-line")).to_have_count(1)
    await _fresh_cart(page)


async def test_a_tablet_is_named_on_its_first_visit(new_context: NewContext) -> None:
    context = await new_context(COUNTER_DEVICE)
    page = await context.new_page()
    await login(page, "clerk", "/counter", tablet=None)
    await expect(page.get_by_test_id("device-form")).to_be_visible()
    assert await page.evaluate(TOO_SMALL) == []
    await _both_languages(page, "counter-device-naming")
    await page.get_by_test_id("device-name-input").fill("收银台 2")
    await page.get_by_test_id("device-submit").tap()
    await expect(page.get_by_test_id("scan")).to_be_focused()
    await expect(page.get_by_test_id("device-name")).to_contain_text("收银台 2")
    cookies = {c["name"]: c for c in await context.cookies()}
    assert cookies["ys_device"]["httpOnly"] and cookies["ys_device"]["sameSite"] == "Strict"


async def test_the_register_button_registers_the_sales_customer_and_their_allergy_blocks(
    new_context: NewContext,
) -> None:
    page = await _counter_at(new_context, "portrait")
    await _both_languages(page, "counter-register-button")
    await scan(page, _demo_gtin("sulfamethoxazole/trimethoprim"))
    await expect(page.get_by_test_id("cart-walk-in")).to_be_visible()

    await page.get_by_test_id("register-new").tap()
    form = page.get_by_test_id("register-form")
    await form.locator("input[name=name]").fill("孙磺胺")
    await form.locator("input[name=phone]").fill("13700009876")
    await form.locator("label.tile", has=page.locator("input[name=gender][value=F]")).tap()
    await page.get_by_test_id("register-submit").tap()
    step = page.get_by_test_id("register-step")
    await expect(step).to_have_attribute("data-step", "2")
    member_no = await page.get_by_test_id("registered").inner_text()
    member_no = re.search(r"\d{10}", member_no).group(0)
    await expect(page.get_by_test_id("cart-member")).to_have_attribute("data-member-no", member_no)

    await page.locator("label.tile", has=page.get_by_test_id("consent-health")).tap()
    await page.locator("label.tile", has=page.get_by_test_id("status-has")).tap()
    await page.locator("label.tile", has_text="磺胺类抗菌药").tap()
    await page.locator("label.tile", has=page.locator("input[name=criticality][value=high]")).tap()
    await page.get_by_test_id("health-submit").tap()
    await expect(step).to_have_attribute("data-step", "3")
    alert = page.locator("[data-testid=line-alert][data-kind=allergy]")
    await expect(alert).to_have_attribute("data-level", "high")
    await expect(page.get_by_test_id("pay")).to_be_disabled()
    await expect(page.locator("[data-testid=blocker][data-code=allergy_high]")).to_be_attached()
    await _fresh_cart(page)


async def test_a_cart_change_lost_on_the_network_is_sent_again_once_with_its_key(new_context: NewContext) -> None:
    page = await _counter_at(new_context, "portrait")
    await scan(page, _demo_gtin(VITAMIN_C))
    await expect(page.get_by_test_id("line-qty")).to_have_text("1")
    keys: list[str] = []

    async def answer_lost(route: Route) -> None:
        keys.append(route.request.headers.get("idempotency-key", ""))
        if len(keys) == 1:
            await route.fetch()  # the server applies the change …
            await route.abort("connectionreset")  # … and its answer never arrives
        else:
            await route.continue_()

    await page.route("**/counter/cart/lines/*/qty", answer_lost)
    await page.get_by_test_id("qty-plus").tap()
    await expect(page.get_by_test_id("line-qty")).to_have_text("2")
    assert len(keys) == 2 and keys[0] == keys[1] and len(keys[0]) == 32
    await page.unroute("**/counter/cart/lines/*/qty")
    await page.reload()
    await expect(page.get_by_test_id("line-qty")).to_have_text("2")  # once, not twice

    scans: list[str] = []

    async def scan_lost(route: Route) -> None:
        scans.append(route.request.headers.get("idempotency-key", ""))
        if len(scans) == 1:
            await route.fetch()
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await page.route("**/counter/lookup", scan_lost)
    await scan(page, _demo_gtin(VITAMIN_C))
    await expect(page.get_by_test_id("scan-added")).to_be_visible()
    await expect(page.get_by_test_id("line-qty")).to_have_text("3")
    assert len(scans) == 2 and scans[0] == scans[1]
    await page.unroute("**/counter/lookup")
    await page.reload()
    await expect(page.get_by_test_id("line-qty")).to_have_text("3")
    await _fresh_cart(page)


async def test_the_store_manager_withdraws_a_tablet_on_a_phone(new_context: NewContext) -> None:
    tablet = await _counter_at(new_context, "portrait", username="clerk", tablet="柜台 9")
    await scan(tablet, _demo_gtin(VITAMIN_C))
    await expect(tablet.get_by_test_id("cart-line")).to_have_count(1)

    phone = await (await new_context(PHONE_DEVICE)).new_page()
    await login(phone, "manager", "/manager")
    await phone.goto("/manager/devices")
    mine = phone.locator("[data-testid=device][data-active=true]").filter(has_text="柜台 9")
    await expect(mine).to_be_visible()
    assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await _both_languages(phone, "manager-devices-phone")
    phone.once("dialog", lambda dialog: dialog.accept())
    await mine.get_by_test_id("device-revoke").tap()
    await expect(phone.get_by_test_id("device-revoked")).to_be_visible()

    # The tablet is asked to be named again; the clerk's item waits in the held sales.
    await tablet.reload()
    await expect(tablet.get_by_test_id("device-form")).to_be_visible()
    await tablet.get_by_test_id("device-name-input").fill("e2e again")
    await tablet.get_by_test_id("device-submit").tap()
    await tablet.get_by_test_id("held-sales").tap()
    await expect(tablet.get_by_test_id("held-sale").filter(has_text="柜台 9")).to_have_count(1)
