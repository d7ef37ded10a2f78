"""The counter at an iPad Mini: scan a card, see the allergies, register a member, record an allergy.

The UI language defaults to Chinese and its catalog may not be translated yet, so these tests look at data-testid
attributes and at data (names, member numbers, allergen class labels from app/data), not at UI wording.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import pytest
from playwright.async_api import Locator, Page, Request, Route, expect

from e2e.helpers import (
    LI_NA,
    PHARMACIST_NAME,
    PHONE_DEVICE,
    WANG_FANG,
    ZHANG_WEI,
    NewContext,
    login,
    logout,
    save_screenshot,
    scan,
    show_member,
    tone,
)

pytestmark = pytest.mark.e2e

# Luhn-valid member number far beyond the demo's 303 members (app.components.members.member_no_for(99999)).
UNKNOWN_CARD = "8000999998"
NEW_MEMBER_PHONE = "13700001234"


def _lookup_code(request: Request) -> str | None:
    if not request.url.endswith("/counter/lookup") or request.method != "POST":
        return None
    return parse_qs(request.post_data or "").get("code", [""])[-1]


async def _audit_rows(new_context: NewContext, query: str) -> list[str]:
    """The audit trail's rows (newest first) as the HQ admin sees them on a phone."""
    context = await new_context(PHONE_DEVICE)
    page = await context.new_page()
    await login(page, "admin", "/manager")
    await page.goto(f"/manager/audit?{query}")
    await expect(page.get_by_test_id("audit-table")).to_be_visible()
    return [text.strip() for text in await page.get_by_test_id("audit-row").all_inner_texts()]


async def test_back_to_back_scans_show_the_last_card(counter: Page, new_context: NewContext) -> None:
    page = counter
    field = page.get_by_test_id("scan")
    await expect(field).to_be_focused()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(code) if (code := _lookup_code(r)) else None)

    # Two cards scanned as fast as a scanner types them, without waiting in between.
    await scan(page, LI_NA)
    await scan(page, ZHANG_WEI)

    panel = page.get_by_test_id("member")
    await expect(panel).to_have_attribute("data-member-no", ZHANG_WEI)
    await expect(page.get_by_test_id("member-name")).to_have_text("张伟")
    banner = page.get_by_test_id("allergy-banner")
    await expect(banner).to_have_attribute("data-status", "has_allergies")
    penicillin = banner.locator("[data-testid=allergy][data-class=penicillins]")
    await expect(penicillin).to_contain_text("青霉素类")
    await expect(penicillin).to_have_class("allergy allergy-high")
    assert await tone(banner) == "red"
    assert sent == [LI_NA, ZHANG_WEI], "each scan is looked up once, in the order scanned"
    await expect(field).to_be_focused()
    await expect(field).to_have_value("")

    # The audit trail has both lookups, in order (newest first).
    rows = await _audit_rows(new_context, "username=pharmacist&action=allergy.view")
    assert len(rows) >= 2
    assert ZHANG_WEI in rows[0] and "张伟" in rows[0]
    assert LI_NA in rows[1] and "李娜" in rows[1]

    await logout(page)
    await page.goto("/counter")
    await expect(page.locator("#login-form")).to_be_visible()


async def test_a_scan_during_a_slow_lookup_is_queued_not_dropped(counter: Page) -> None:
    page = counter
    field = page.get_by_test_id("scan")
    first_held = asyncio.Event()
    release = asyncio.Event()
    routed: list[str] = []

    async def hold_the_first_lookup(route: Route) -> None:
        routed.append(_lookup_code(route.request) or "")
        if len(routed) == 1:
            first_held.set()
            await release.wait()
        await route.continue_()

    await page.route("**/counter/lookup", hold_the_first_lookup)
    await scan(page, ZHANG_WEI)
    await asyncio.wait_for(first_held.wait(), timeout=10)
    # While the first lookup is still on the wire, the next card is scanned: the field takes it at once.
    await scan(page, LI_NA)
    await expect(field).to_have_value("")
    await expect(field).to_be_focused()
    release.set()

    panel = page.get_by_test_id("member")
    await expect(panel).to_have_attribute("data-member-no", LI_NA)
    await expect(page.get_by_test_id("member-name")).to_have_text("李娜")
    assert routed == [ZHANG_WEI, LI_NA]


async def test_no_known_allergies_banner_is_calm_and_says_who(counter: Page) -> None:
    page = counter
    await show_member(page, LI_NA)
    banner = page.get_by_test_id("allergy-banner")
    await expect(banner).to_have_attribute("data-status", "none")
    await expect(banner).to_contain_text(PHARMACIST_NAME)
    assert await tone(banner) == "green"
    await expect(page.get_by_test_id("allergy")).to_have_count(0)


async def test_unknown_card_registers_a_member(counter: Page) -> None:
    page = counter
    await scan(page, UNKNOWN_CARD)
    missing = page.get_by_test_id("not-found")
    await expect(missing).to_be_visible()
    await expect(missing).to_contain_text(UNKNOWN_CARD)

    await page.get_by_test_id("register").tap()
    form = page.get_by_test_id("register-form")
    await expect(form).to_be_visible()
    name = form.locator("input[name=name]")
    phone = form.locator("input[name=phone]")
    birth = form.locator("input[name=birth_date]")
    await form.locator("label.tile", has=page.locator("input[name=gender][value=F]")).tap()
    await phone.fill(NEW_MEMBER_PHONE)
    await birth.fill("1979-04-30")

    # Submitted with no name: the browser's own check (required) stops it, nothing typed is lost.
    await page.get_by_test_id("register-submit").tap()
    assert await name.evaluate("el => el.validity.valueMissing")
    await expect(form).to_be_visible()
    await expect(phone).to_have_value(NEW_MEMBER_PHONE)

    # A blank name gets past the browser; the server answers with an error next to the name field.
    await name.fill("   ")
    await page.get_by_test_id("register-submit").tap()
    error = form.get_by_test_id("error-name")
    await expect(error).to_be_visible()
    await expect(name).to_have_attribute("aria-invalid", "true")
    assert await error.evaluate("(el) => el.closest('.field').contains(document.getElementById('f-name'))")
    await expect(phone).to_have_value(NEW_MEMBER_PHONE)
    await expect(birth).to_have_value("1979-04-30")
    await expect(form.locator("input[name=gender][value=F]")).to_be_checked()

    await name.fill("赵雪")
    await page.get_by_test_id("register-submit").tap()

    # Step 2, health: consent first, then a penicillin allergy in two taps.
    step = page.get_by_test_id("register-step")
    await expect(step).to_have_attribute("data-step", "2")
    await expect(page.get_by_test_id("registered")).to_be_visible()
    await page.locator("label.tile", has=page.get_by_test_id("consent-health")).tap()
    await page.locator("label.tile", has=page.get_by_test_id("status-has")).tap()
    await page.locator("label.tile", has_text="青霉素类").tap()
    await page.locator("label.tile", has=page.locator("input[name=criticality][value=high]")).tap()
    await page.get_by_test_id("health-submit").tap()

    # Step 3, preferences and consents; then the member panel with the red banner.
    await expect(step).to_have_attribute("data-step", "3")
    await page.get_by_test_id("preferences-submit").tap()
    panel = page.get_by_test_id("member")
    await expect(page.get_by_test_id("registration-saved")).to_be_visible()
    await expect(page.get_by_test_id("member-name")).to_have_text("赵雪")
    await expect(page.get_by_test_id("phone")).to_have_text("137****1234")
    member_no = await panel.get_attribute("data-member-no")
    assert member_no and member_no.startswith("8") and len(member_no) == 10

    banner = page.get_by_test_id("allergy-banner")
    await expect(banner).to_have_attribute("data-status", "has_allergies")
    await expect(banner.locator("[data-testid=allergy][data-class=penicillins]")).to_have_class("allergy allergy-high")
    assert await tone(banner) == "red"

    # The new member is found by a scan of the new number too.
    await show_member(page, member_no)
    await expect(page.get_by_test_id("allergy-banner")).to_have_attribute("data-status", "has_allergies")


async def test_consent_then_an_allergy_in_three_taps_after_the_scan(counter: Page) -> None:
    page = counter
    await show_member(page, WANG_FANG)  # allergies never asked, no consent to health data yet
    banner = page.get_by_test_id("allergy-banner")
    await expect(banner).to_have_attribute("data-status", "unknown")
    taps = 0

    async def tap(locator: Locator) -> None:
        nonlocal taps
        await locator.tap()
        taps += 1

    # Health data needs the member's consent: that tap also opens the allergy entry.
    await tap(page.get_by_test_id("consent-health-counter"))
    await expect(page.get_by_test_id("allergy-form")).to_be_visible()
    await expect(page.get_by_test_id("no-known-allergies")).to_be_visible()  # the other answer, one tap away
    await tap(page.locator("label.tile", has_text="青霉素类"))
    await tap(page.get_by_test_id("save-allergy-high"))  # the risk tap saves

    await expect(banner).to_have_attribute("data-status", "has_allergies")
    allergy = banner.locator("[data-testid=allergy][data-class=penicillins]")
    await expect(allergy).to_contain_text("青霉素类")
    await expect(allergy).to_have_class("allergy allergy-high")
    assert await tone(banner) == "red"
    assert taps <= 3, f"{taps} taps from the scan to the recorded allergy"

    # It is stored, not just shown: scanning the card again brings it back.
    await show_member(page, LI_NA)
    await show_member(page, WANG_FANG)
    await expect(page.get_by_test_id("allergy-banner").locator("[data-class=penicillins]")).to_be_visible()


TOO_SMALL = """
() => {
  const targets = "button, a[href], input:not([type=hidden]), select, textarea, summary, label.tile";
  const small = [];
  for (const el of document.querySelectorAll(targets)) {
    if (el.tagName === "INPUT" && el.closest("label.tile")) continue;  // the tile around it is the target
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!box.width || !box.height || style.visibility === "hidden" || el.closest("[hidden]")) continue;
    if (box.height < 43.5) {
      small.push(`${el.tagName.toLowerCase()}[${el.dataset.testid || el.name || el.className}]`
        + ` "${el.textContent.trim().slice(0, 30)}" ${box.height.toFixed(1)}px`);
    }
  }
  return small;
}
"""


async def test_counter_touch_targets_are_at_least_44px(counter: Page) -> None:
    page = counter
    await expect(page.get_by_test_id("scan")).to_be_focused()
    seen = {"empty counter": await page.evaluate(TOO_SMALL)}

    await show_member(page, ZHANG_WEI)
    await page.get_by_test_id("add-allergy").tap()
    await expect(page.get_by_test_id("save-allergy-high")).to_be_visible()
    seen["member with the allergy form open"] = await page.evaluate(TOO_SMALL)

    await show_member(page, WANG_FANG)
    seen["member with unknown allergies"] = await page.evaluate(TOO_SMALL)

    await scan(page, UNKNOWN_CARD)
    await expect(page.get_by_test_id("register")).to_be_visible()
    seen["no member"] = await page.evaluate(TOO_SMALL)
    await page.get_by_test_id("register").tap()
    await expect(page.get_by_test_id("register-form")).to_be_visible()
    seen["registration form"] = await page.evaluate(TOO_SMALL)

    assert {state: small for state, small in seen.items() if small} == {}


async def test_counter_screenshot(counter: Page) -> None:
    page = counter
    await show_member(page, ZHANG_WEI)
    banner = page.get_by_test_id("allergy-banner")
    await expect(banner.locator("[data-class=penicillins]")).to_contain_text("青霉素类")
    await page.evaluate("document.activeElement.blur()")  # no focus ring or caret in the picture
    await save_screenshot(page, "counter-allergy.png")
