"""An HQ admin builds a care journey on a phone (iPhone 13, touch): the live audience count follows the trigger,
steps are added by tap, the journey is saved and switched on; a store manager reads it; both languages."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from e2e.helpers import NewContext, login, logout, save_screenshot, switch_language

pytestmark = pytest.mark.e2e

MANAGER_DEVICE = "iPhone 13"
# The builder is redrawn by htmx after a tap: the next tap waits until the new fields are wired up (settled).
SETTLED = "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"


async def settled(page: Page) -> None:
    await page.wait_for_function(SETTLED)


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_admin_builds_a_journey_with_a_live_count_and_switches_it_on(
    new_context: NewContext, language: str
) -> None:
    page = await (await new_context(MANAGER_DEVICE)).new_page()
    await login(page, "admin", "/manager")
    if language == "en":
        await switch_language(page, "en")
    await page.goto("/manager/journeys")
    # The built-in journeys are there and on in the demo.
    refill = page.locator("[data-testid=journey][data-code=hypertension_refill]")
    await expect(refill.get_by_test_id("journey-state")).to_have_text("On" if language == "en" else "已开启")
    await page.get_by_test_id("new-journey").tap()
    await page.get_by_test_id("f-name_zh").fill("降压药新患者关怀")
    await page.get_by_test_id("f-name_en").fill("New BP patient care")
    await page.get_by_test_id("f-trigger").select_option("purchase")
    await settled(page)
    prefix = page.get_by_test_id("f-p_atc_prefix")
    await prefix.fill("C08 C09")
    await prefix.blur()  # the change recounts
    await expect(page.get_by_test_id("audience")).to_contain_text(re.compile(r"\d"))
    await page.get_by_test_id("f-s0_template").select_option("usage_note")
    await page.get_by_test_id("f-s0_after_days").fill("3")
    await page.get_by_test_id("add-step").tap()
    step = page.get_by_test_id("step-1")
    await expect(step).to_be_visible()
    await settled(page)
    await expect(page.get_by_test_id("f-name_zh")).to_have_value("降压药新患者关怀")  # nothing typed is lost
    await step.get_by_test_id("f-s1_action").select_option("task")
    await expect(page.get_by_test_id("f-s1_task_kind")).to_be_visible()
    await settled(page)
    await page.get_by_test_id("f-s1_task_kind").select_option("follow_up_call")
    await page.get_by_test_id("f-s1_after_days").fill("30")
    await page.get_by_test_id("f-holdout_pct").fill("10")
    box = await page.get_by_test_id("save-journey").bounding_box()
    assert box is not None and box["height"] >= 44
    await save_screenshot(page, f"manager-journey-builder-{language}.png")
    await page.get_by_test_id("save-journey").tap()
    await expect(page.get_by_test_id("journey-name")).to_contain_text(
        "New BP patient care" if language == "en" else "降压药新患者关怀"
    )
    await expect(page.get_by_test_id("journey-step")).to_have_count(2)
    await page.get_by_test_id("switch-on").tap()
    await expect(page.get_by_test_id("switch-off")).to_be_visible()
    await expect(page.get_by_test_id("journey-state").first).to_have_text("On" if language == "en" else "已开启")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await save_screenshot(page, f"manager-journey-{language}.png")
    await logout(page)


async def test_a_store_manager_reads_the_numbers_but_cannot_edit(new_context: NewContext) -> None:
    page = await (await new_context(MANAGER_DEVICE)).new_page()
    await login(page, "manager", "/manager")
    await page.goto("/manager/journeys")
    await expect(page.get_by_test_id("journeys")).to_be_visible()
    await expect(page.get_by_test_id("new-journey")).to_have_count(0)
    await page.locator("[data-testid=journey][data-code=diabetes_refill] [data-testid=open-journey]").tap()
    await expect(page.get_by_test_id("journey-comparison")).to_be_visible()
    await expect(page.get_by_test_id("journey-form")).to_have_count(0)
    await logout(page)
