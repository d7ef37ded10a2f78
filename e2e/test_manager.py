"""The manager surface at a phone (an iPhone 13, 390 px, touch): the menu, every page it reaches, the tables as cards,
expired batches and their write-off; the store manager's overview and the HQ admin's audit trail."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from e2e.helpers import (
    ARTIFACTS,
    LI_NA,
    PHONE_DEVICE,
    ZHANG_WEI,
    NewContext,
    login,
    logout,
    save_screenshot,
    show_member,
    tone,
)
from e2e.test_counter import TOO_SMALL

pytestmark = pytest.mark.e2e

MANAGER_DEVICE = "iPhone 13"  # 390×664 CSS px of page under the browser's bars (844 px screen), touch
TOP_BAR_MAX = 64

# What the menu offers each role (its data-testid → its page) …
_EVERY_MANAGER = {
    "overview": "/manager",
    "members": "/members",
    "stock": "/manager/stock",
    "catalog": "/manager/catalog",
    "loyalty": "/manager/loyalty",
    "coupons": "/manager/coupons",
    "journeys": "/manager/journeys",
    "tasks": "/manager/tasks",
    "adherence": "/manager/adherence",
    "messages": "/manager/messages",
    "settings": "/manager/settings",
    "import": "/members/import",
}
MENU = {
    "manager": {**_EVERY_MANAGER, "devices": "/manager/devices", "counter": "/counter"},
    "admin": {**_EVERY_MANAGER, "audit": "/manager/audit", "queue": "/manager/queue", "events": "/manager/events"},
}
# … and the pages one step further that each role opens from those.
DEEPER = {
    "manager": [
        "/manager/journeys/diabetes_care",
        f"/members/{ZHANG_WEI}",
        "/manager/catalog/YS00001",
        "/manager/stock/products/YS00001",
        "/manager/stock/expiring",
        "/manager/stock/receive",
        "/members/export",
    ],
    "admin": [
        "/manager/journeys/hypertension_refill",
        "/manager/journeys/new",
        "/manager/catalog/YS00001",
        "/manager/catalog/new",
        "/manager/catalog/import",
        "/manager/stock/products/YS00001",
        "/manager/stock/expiring",
        "/manager/stock/receive",
        "/members/export",
    ],
}

# What a page must not do on a phone, found in the page: anything wider than the screen, a text squeezed to one
# character per line, a table cell that does not say what it is once the header row is hidden.
PHONE_PROBLEMS = """
() => {
  const problems = [];
  const visible = (el) => {
    const box = el.getBoundingClientRect();
    // checkVisibility: not inside a closed <details> or anything else not rendered.
    return box.width > 0 && box.height > 0 && el.checkVisibility({visibilityProperty: true});
  };
  if (window.innerWidth !== 390) problems.push(`the layout viewport is ${window.innerWidth} px wide, not 390`);
  const wide = document.documentElement.scrollWidth;
  if (wide > window.innerWidth) problems.push(`the page is ${wide} px wide`);
  for (const el of document.querySelectorAll("a, button, label, summary, th, td, dt, dd, h1, h2, h3, legend")) {
    if (!visible(el)) continue;
    const text = el.innerText.trim();
    const size = parseFloat(getComputedStyle(el).fontSize);
    const box = el.getBoundingClientRect();
    if (box.right > window.innerWidth + 0.5) {
      problems.push(`${el.tagName.toLowerCase()} "${text.slice(0, 30)}" reaches ${box.right.toFixed(0)} px`);
    }
    if (text.length >= 2 && !/\\s/.test(text) && box.width < 1.9 * size && box.height > 2.5 * size) {
      problems.push(`"${text.slice(0, 30)}" stands one character per line`);
    }
  }
  for (const td of document.querySelectorAll("table.table td")) {
    if (!visible(td) || td.colSpan > 1 || !td.innerText.trim()) continue;
    if (td.matches(".cell-title, .cell-actions")) continue;
    const label = getComputedStyle(td, "::before").content;
    if (!td.dataset.label || label === "none" || label === "normal") {
      problems.push(`a table cell "${td.innerText.trim().slice(0, 30)}" shows no label`);
    }
  }
  return problems;
}
"""


async def _open_menu(page: Page) -> None:
    toggle = page.get_by_test_id("menu-toggle")
    if await toggle.get_attribute("aria-expanded") != "true":
        await toggle.tap()
    await expect(page.get_by_test_id("topbar-menu")).to_be_visible()


@pytest.fixture(autouse=True)
def _artifacts() -> None:
    ARTIFACTS.mkdir(exist_ok=True)


async def _check_page(page: Page, where: str) -> list[str]:
    """Everything wrong with the page as shown, each prefixed by where it was seen."""
    problems = list(await page.evaluate(PHONE_PROBLEMS))
    bar = await page.get_by_test_id("topbar").bounding_box()
    if bar["height"] > TOP_BAR_MAX:
        problems.append(f"the top bar is {bar['height']:.0f} px high")
    for testid in ("brand", "menu-toggle"):
        box = await page.get_by_test_id(testid).bounding_box()
        if box is None or box["width"] < 44 or box["height"] < 44:
            problems.append(f"{testid} is smaller than 44×44 px: {box}")
    problems += await page.evaluate(TOO_SMALL)
    await expect(page.get_by_test_id("topbar-menu")).to_be_hidden()  # closed until tapped
    return [f"{where}: {p}" for p in problems]


@pytest.mark.parametrize("language", ["zh_CN", "en"])
@pytest.mark.parametrize("username", ["manager", "admin"])
async def test_every_manager_page_fits_a_phone(new_context: NewContext, username: str, language: str) -> None:
    page = await (await new_context(MANAGER_DEVICE)).new_page()
    await login(page, username, "/manager")
    if language == "en":
        await _open_menu(page)
        await page.get_by_test_id("lang-en").tap()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
    await _open_menu(page)
    links = page.get_by_test_id("manager-nav").locator("a")
    offered = await links.evaluate_all("links => links.map(a => [a.dataset.testid.slice(4), new URL(a.href).pathname])")
    assert dict(offered) == MENU[username]
    await page.get_by_test_id("menu-toggle").tap()

    problems: list[str] = []
    for key, path in MENU[username].items():
        if path in ("/counter", "/manager/queue"):
            continue  # the counter is a tablet's page; the job queue is SAQ's own monitor
        await _open_menu(page)
        await page.get_by_test_id(f"nav-{key}").tap()
        await page.wait_for_url(f"**{path}")
        await page.wait_for_load_state("networkidle")  # the profile's sections and the charts load after the page
        current = page.get_by_test_id("manager-nav").locator("[aria-current=page]")
        if path.startswith("/manager"):
            await expect(current).to_have_attribute("data-testid", f"nav-{key}")
        problems += await _check_page(page, path)
        await page.screenshot(path=ARTIFACTS / f"manager-phone-{username}-{language}-{key}.png", full_page=True)
    for path in DEEPER[username]:
        await page.goto(path)
        await page.wait_for_load_state("networkidle")
        problems += await _check_page(page, path)
        slug = path.strip("/").replace("/", "-")
        await page.screenshot(path=ARTIFACTS / f"manager-phone-{username}-{language}-{slug}.png", full_page=True)
    assert problems == []
    if language == "zh_CN":
        # A source or channel code never reaches the Chinese page as an English word (the vitals' "counter").
        await page.goto(f"/members/{ZHANG_WEI}" if username == "manager" else "/manager/audit")
        await page.wait_for_load_state("networkidle")
        text = await page.locator("main").inner_text()
        assert not re.search(r"\b(counter|kiosk|import|web|WEB)\b", text)


async def test_the_menu_opens_and_closes_by_tap(new_context: NewContext) -> None:
    page = await (await new_context(MANAGER_DEVICE)).new_page()
    await login(page, "manager", "/manager")
    toggle = page.get_by_test_id("menu-toggle")
    menu = page.get_by_test_id("topbar-menu")
    await expect(menu).to_be_hidden()
    await toggle.tap()
    await expect(menu).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    box = await menu.bounding_box()
    assert box["x"] <= 0.5 and box["width"] >= 389  # the whole width of the phone
    for link in await page.get_by_test_id("manager-nav").locator("a").all():
        link_box = await link.bounding_box()
        assert link_box["height"] >= 44 and link_box["width"] >= 160  # two columns of full-height targets
    assert box["y"] + box["height"] < 640
    await page.touchscreen.tap(195, 650)  # a tap outside it, on the page below, closes it
    await expect(menu).to_be_hidden()
    await toggle.tap()
    await toggle.tap()
    await expect(menu).to_be_hidden()
    await expect(toggle).to_have_attribute("aria-expanded", "false")


async def test_the_counter_top_bar_on_an_ipad_keeps_its_links_in_the_bar(new_context: NewContext) -> None:
    for device in ("iPad Mini", "iPad Mini landscape"):
        page = await (await new_context(device)).new_page()
        await login(page, "manager", "/manager")
        await page.goto("/counter")
        await expect(page.get_by_test_id("menu-toggle")).to_be_hidden()
        await expect(page.get_by_test_id("nav-members")).to_be_visible()
        await expect(page.get_by_test_id("logout")).to_be_visible()
        brand = await page.get_by_test_id("brand").bounding_box()
        assert brand["width"] >= 44 and brand["height"] >= 44
        bar = await page.get_by_test_id("topbar").bounding_box()
        assert bar["height"] <= 120, f"{device}: the counter's top bar is {bar['height']} px high"
        assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        await page.screenshot(path=ARTIFACTS / f"counter-topbar-{device.replace(' ', '-')}.png")


async def test_an_expired_batch_is_red_on_the_list_and_written_off_there(new_context: NewContext) -> None:
    page = await (await new_context(MANAGER_DEVICE)).new_page()
    await login(page, "manager", "/manager")
    await page.goto("/manager/stock/expiring")
    row = page.locator("[data-testid=expiring-row][data-batch=DEMO-EXPIRED]")
    state = row.get_by_test_id("batch-state")
    await expect(state).to_have_text("已过期")
    assert await tone(state) == "red"
    sellable = page.locator("[data-testid=expiring-row][data-state=available]").first
    assert await tone(sellable.get_by_test_id("batch-state")) == "green"

    # Quarantine needs a reason; given one, the batch stays expired and says it is quarantined too.
    await row.get_by_test_id("quarantine").tap()
    await expect(row.get_by_test_id("error-reason")).to_be_visible()
    await row.get_by_test_id("action-reason").fill("过期下架")
    await row.get_by_test_id("quarantine").tap()
    await expect(row.locator(".badge-quarantined")).to_be_visible()
    await expect(row.get_by_test_id("batch-state")).to_have_text("已过期")

    # Write-off: confirmed, then the stock is gone and the row leaves the list.
    await row.get_by_test_id("action-reason").fill("过期报损")
    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_test_id("write-off").tap()
    await expect(page.get_by_test_id("batch-changed")).to_be_visible()
    await expect(row).to_have_count(0)
    await page.goto("/manager/stock/products/YS00001")
    written_off = page.locator("[data-testid=batch][data-batch=DEMO-EXPIRED]")
    await expect(written_off.get_by_test_id("batch-on-hand")).to_have_text("0")
    await expect(written_off.get_by_test_id("batch-state")).to_have_text("已过期")
    assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")


async def test_manager_overview_on_a_phone(new_context: NewContext) -> None:
    context = await new_context(MANAGER_DEVICE)
    page = await context.new_page()
    await login(page, "manager", "/manager")
    stats = page.get_by_test_id("stats")
    await expect(stats).to_be_visible()
    total = page.get_by_test_id("stat-total")
    await expect(total).to_have_text(re.compile(r"^\s*\d+\s*$"))
    # Store SH001 holds the three demo members and its share of the synthetic ones.
    assert int((await total.inner_text()).strip()) >= 3
    figures = [int(v.strip()) for v in await stats.locator("dd").all_inner_texts()]
    assert len(figures) == 4 and sum(figures[1:]) == figures[0]
    width = await page.evaluate("window.innerWidth")
    assert width == 390 and await page.evaluate("document.documentElement.scrollWidth") <= width
    await save_screenshot(page, "manager-phone.png")
    await logout(page)


async def test_admin_sees_the_lookup_in_the_audit_trail(new_context: NewContext) -> None:
    counter = await (await new_context("iPad Mini")).new_page()
    await login(counter, "pharmacist", "/counter")
    await show_member(counter, LI_NA)

    page = await (await new_context(PHONE_DEVICE)).new_page()
    await login(page, "admin", "/manager")
    await page.goto("/manager/audit")
    views = page.get_by_test_id("audit-row").filter(has=page.locator("[data-action='allergy.view']"))
    await expect(views.first).to_be_visible()
    # Filtered to that member's views: the pharmacist's lookup is there, and nothing else.
    await page.goto(f"/manager/audit?action=allergy.view&member_no={LI_NA}")
    rows = page.get_by_test_id("audit-row")
    lookup = rows.filter(has_text="pharmacist").first
    await expect(lookup).to_contain_text(LI_NA)
    await expect(lookup).to_contain_text("李娜")
    assert await rows.count() == await views.count() >= 1
