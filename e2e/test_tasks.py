"""The pharmacist's task queue at the counter tablet (iPad Mini, touch): open today's follow-up call, record the
outcome with a BP reading in a few taps, and see it on the member's timeline beside the task; both languages."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from e2e.helpers import COUNTER_DEVICE, LI_NA, NewContext, login, logout, save_screenshot, switch_language

pytestmark = pytest.mark.e2e


async def test_a_pharmacist_completes_a_follow_up_call_and_sees_it_on_the_timeline(new_context: NewContext) -> None:
    page = await (await new_context(COUNTER_DEVICE)).new_page()
    await login(page, "pharmacist", "/counter")
    await page.get_by_test_id("nav-tasks").tap()
    await page.wait_for_url("**/counter/tasks")
    task = page.get_by_test_id("task").filter(has_text=LI_NA)
    await expect(task).to_have_count(1)
    await expect(task).to_contain_text("随访电话")
    box = await task.get_by_test_id("open-task").bounding_box()
    assert box is not None and box["height"] >= 44
    await save_screenshot(page, "counter-tasks.png")
    await task.get_by_test_id("open-task").tap()
    await expect(page.get_by_test_id("task-kind")).to_contain_text("随访电话")
    # The member's record loads beside it: allergies and conditions, refills and adherence, the timeline.
    await expect(page.get_by_test_id("section-health")).not_to_contain_text("…")
    await expect(page.get_by_test_id("section-adherence").get_by_test_id("no-therapies")).to_be_visible()
    await switch_language(page, "en")
    await expect(page.get_by_test_id("task-kind")).to_contain_text("Follow-up call")
    await page.get_by_test_id("outcome-reached").tap()
    await page.get_by_test_id("taking-yes").tap()
    await page.get_by_test_id("f-systolic").fill("135")
    await page.get_by_test_id("f-diastolic").fill("85")
    await page.get_by_test_id("f-note").fill("Feels well")
    await save_screenshot(page, "counter-task-en.png")
    await page.get_by_test_id("save-outcome").tap()
    await expect(page.get_by_test_id("task-done")).to_contain_text("Reached")
    timeline = page.get_by_test_id("section-timeline")
    await expect(timeline).to_contain_text(re.compile(r"Follow-up call: Reached.*135/85"))
    await switch_language(page, "zh_CN")
    await expect(page.get_by_test_id("section-timeline")).to_contain_text("随访电话：已联系")
    await save_screenshot(page, "counter-task-done-zh_CN.png")
    assert await page.evaluate("document.documentElement.scrollWidth") <= await page.evaluate("window.innerWidth")
    await page.get_by_test_id("back-to-tasks").tap()
    await expect(page.get_by_test_id("task").filter(has_text=LI_NA)).to_have_count(0)
    await logout(page)
