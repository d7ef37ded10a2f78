"""The manager surface at a phone: the store manager's overview and the HQ admin's audit trail."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from e2e.helpers import LI_NA, PHONE_DEVICE, NewContext, login, logout, save_screenshot, show_member

pytestmark = pytest.mark.e2e


async def test_manager_overview_on_a_phone(new_context: NewContext) -> None:
    context = await new_context(PHONE_DEVICE)
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
    assert await page.evaluate("document.documentElement.scrollWidth") <= width, "no sideways scrolling on a phone"
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
