"""Approvals at the counter on an iPad Mini, by touch: a low-criticality allergy warns and one tap acknowledges it;
a clerk's sale needing an allergy override and a prescription check asks the pharmacist once; five wrong PINs lock
a pharmacist's PIN. Screenshots of the alert, the acknowledging tap and the approval form, in Chinese and English,
portrait and landscape (e2e/artifacts/approvals-*.png).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from e2e.conftest import Server
from e2e.helpers import (
    ARTIFACTS,
    COUNTER_DEVICE,
    PHARMACIST_NAME,
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

DEMO_PIN = "2468"  # app.components.seed.DEMO_PIN
PORTRAIT = {"width": 768, "height": 1024}
LANDSCAPE = {"width": 1024, "height": 768}
# A tiny PNG as a prescription photo.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


async def _language(page: Page, code: str) -> None:
    switch = page.get_by_test_id(f"lang-{code}")
    if await switch.count():
        await switch.tap()
        await expect(page.locator("html")).to_have_attribute("lang", "zh-CN" if code == "zh_CN" else "en")


async def _shots(page: Page, name: str, target: str) -> None:
    """Screenshots of the page with `target` (a data-testid) in view: zh and en, portrait and landscape; no touch
    target under 44 px in any of them. The page is left in Chinese, portrait."""
    for language in ("zh_CN", "en"):
        await _language(page, language)
        for orientation, size in (("portrait", PORTRAIT), ("landscape", LANDSCAPE)):
            await page.set_viewport_size(size)
            await page.get_by_test_id(target).first.evaluate("el => el.scrollIntoView({block: 'center'})")
            # What the tablet shows with the target in view (not the whole page).
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=ARTIFACTS / f"approvals-{name}-{language}-{orientation}.png")
            assert await page.evaluate(TOO_SMALL) == [], f"touch targets under 44px: {name} {language} {orientation}"
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= size["width"], f"{name} {language} {orientation} is {width}px wide"
    await _language(page, "zh_CN")
    await page.set_viewport_size(PORTRAIT)


async def test_a_low_criticality_allergy_warns_one_tap_acknowledges_and_the_sale_is_paid(counter: Page) -> None:
    page = counter
    await _fresh_cart(page)
    await show_member(page, ZHANG_WEI)  # low-criticality NSAID allergy (hives)
    await scan(page, _demo_gtin("aspirin (low dose)"))
    alert = page.locator("[data-testid=line-alert][data-kind=allergy]")
    await expect(alert).to_have_attribute("data-level", "caution")  # a warning, not a block
    await expect(alert).to_contain_text("低危")
    await expect(alert).to_contain_text("需确认知晓")
    await expect(page.get_by_test_id("approvals")).to_have_count(0)  # no pharmacist override asked for
    pay = page.get_by_test_id("pay")
    await expect(pay).to_be_disabled()
    await expect(page.locator("[data-testid=blocker][data-code=allergy_ack]")).to_be_visible()
    await _shots(page, "warning", "ack")

    await page.get_by_test_id("ack").tap()
    await expect(page.get_by_test_id("ack-done")).to_contain_text(PHARMACIST_NAME)
    await expect(pay).to_be_enabled()
    await _shots(page, "acknowledged", "ack-done")

    await pay.tap()
    await page.wait_for_url("**/counter/sales/*/receipt")
    await expect(page.get_by_test_id("receipt-line")).to_have_count(1)


async def test_a_clerk_asks_the_pharmacist_once_for_the_override_and_the_prescription(
    new_context: NewContext,
) -> None:
    context = await new_context(COUNTER_DEVICE)
    page = await context.new_page()
    await login(page, "clerk", "/counter")
    await _fresh_cart(page)
    await show_member(page, ZHANG_WEI)  # high penicillin allergy (anaphylaxis)
    await scan(page, _demo_gtin("amoxicillin"))  # a penicillin, Rx
    alert = page.locator("[data-testid=line-alert][data-kind=allergy]")
    await expect(alert).to_have_attribute("data-level", "high")
    await expect(alert).to_contain_text("高危，过敏性休克")
    approvals = page.get_by_test_id("approvals")
    await expect(approvals).to_have_attribute("data-pending", "allergy_override rx_verified")
    await expect(page.get_by_test_id("approve-submit")).to_have_count(1)  # one approval for both

    await page.get_by_test_id("rx-number").fill("RX20261201007")
    await page.get_by_test_id("rx-hospital").fill("上海瑞金医院")
    await expect(page.get_by_test_id("rx-image-name")).to_have_text("未选择照片")
    await page.get_by_test_id("rx-image-input").set_input_files(
        {"name": "prescription.png", "mimeType": "image/png", "buffer": PNG}
    )
    await expect(page.get_by_test_id("rx-image-name")).to_have_text("prescription.png")
    pick = await page.get_by_test_id("rx-image-pick").bounding_box()
    assert pick and pick["height"] >= 44 and pick["width"] >= 44
    await page.get_by_test_id("override-reason").fill("皮试阴性，医生确认可用")
    await page.get_by_test_id("approve-username").fill("pharmacist")
    await _shots(page, "approval-form", "approve-submit")
    # Switching the language for the screenshots reloaded the page: the form is filled again.
    await page.get_by_test_id("rx-number").fill("RX20261201007")
    await page.get_by_test_id("rx-hospital").fill("上海瑞金医院")
    await page.get_by_test_id("rx-image-input").set_input_files(
        {"name": "prescription.png", "mimeType": "image/png", "buffer": PNG}
    )
    await page.get_by_test_id("override-reason").fill("皮试阴性，医生确认可用")
    await page.get_by_test_id("approve-username").fill("pharmacist")
    await page.get_by_test_id("approve-pin").fill(DEMO_PIN)
    await page.get_by_test_id("approve-submit").tap()

    await expect(page.get_by_test_id("override-done")).to_contain_text(PHARMACIST_NAME)
    await expect(page.get_by_test_id("rx-verified")).to_contain_text(PHARMACIST_NAME)
    await expect(page.get_by_test_id("override-done")).not_to_contain_text("pharmacist")
    await expect(page.get_by_test_id("rx-image")).to_be_visible()  # the photo was kept with the prescription
    pay = page.get_by_test_id("pay")
    await expect(pay).to_be_enabled()
    await _shots(page, "approved", "override-done")
    await pay.tap()
    await page.wait_for_url("**/counter/sales/*/receipt")
    receipt = page.get_by_test_id("receipt")
    await expect(receipt).to_contain_text(f"审核药师：{PHARMACIST_NAME}")  # the prescription check, by display name
    await expect(receipt).to_contain_text(f"已由{PHARMACIST_NAME}确认放行")  # the override, by display name


def _add_pharmacist(server: Server, username: str, name: str) -> None:
    """A pharmacist of SH001 with the demo PIN, added with the `yaoshi` command against the e2e server's data."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "YAOSHI_DATA_DIR")}
    env["YAOSHI_DATA_DIR"] = str(server.data_dir)
    if server.database_url:
        env["DATABASE_URL"] = server.database_url
    launcher = Path(sys.executable).with_name("yaoshi")
    cmd = [str(launcher)] if launcher.exists() else [sys.executable, "-m", "app.cli"]
    cmd += ["user", "add", username, "--role", "pharmacist", "--store", "SH001", "--name", name, "--with-pin"]
    done = subprocess.run(cmd, input=f"yaoshi123\n{DEMO_PIN}\n", env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


async def test_five_wrong_pins_lock_the_pharmacist(new_context: NewContext, server: Server) -> None:
    # A pharmacist of its own: the demo pharmacist's PIN stays open for the other tests of the session.
    await asyncio.to_thread(_add_pharmacist, server, "pharmacist_e2e_lock", "孙药师")
    context = await new_context(COUNTER_DEVICE)
    page = await context.new_page()
    await login(page, "clerk", "/counter")
    await _fresh_cart(page)
    await scan(page, _demo_gtin("amoxicillin"))  # Rx: the prescription waits for a pharmacist
    await page.get_by_test_id("rx-number").fill("RX20261201008")
    await page.get_by_test_id("rx-hospital").fill("华山医院")
    error = page.get_by_test_id("error-pin")
    for attempt in range(1, 6):
        await page.get_by_test_id("approve-username").fill("pharmacist_e2e_lock")
        await page.get_by_test_id("approve-pin").fill(f"000{attempt}")
        await page.get_by_test_id("approve-submit").tap()
        await expect(page.get_by_test_id("approve-pin")).to_have_value("")  # the form came back (PINs never do)
        if attempt < 5:
            await expect(error).to_be_visible()
            await expect(error).not_to_contain_text("锁定")
    await expect(error).to_have_text(re.compile(r"孙药师的审核密码已锁定至\d\d:\d\d"))
    # The right PIN is refused while locked, saying until when.
    await page.get_by_test_id("approve-username").fill("pharmacist_e2e_lock")
    await page.get_by_test_id("approve-pin").fill(DEMO_PIN)
    await page.get_by_test_id("approve-submit").tap()
    await expect(page.get_by_test_id("approve-pin")).to_have_value("")
    await expect(error).to_have_text(re.compile(r"孙药师的审核密码已锁定至\d\d:\d\d"))
    await expect(page.get_by_test_id("rx-verified")).to_have_count(0)
    await expect(page.get_by_test_id("pay")).to_be_disabled()
    await save_screenshot(page, "approvals-locked-zh_CN-portrait.png")
    await _fresh_cart(page)
