"""Returns and printouts at the devices they are for, by touch: a refund to the original WeChat tender and its slip;
a dispensed Rx medicine refused or approved by the store manager's PIN per the chain's setting; yesterday's sale
found by date and a sale by scanning its receipt number; the manager releasing a quarantined pack on a phone; the
receipt, refund slip and guidance slip on 58 mm, 80 mm and A4 paper (rendered to PDF, then PNG to look at).

Sales are made through the JSON API (a token from `yaoshi token add`, as an integration would): the counter's cart
is not what these tests are about. Like the other e2e tests they look at data-testid attributes, not wording.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from app.components.catalog import demo_rows, demo_sku
from e2e.helpers import ARTIFACTS, COUNTER_DEVICE, ZHANG_WEI, NewContext, login, save_screenshot, scan, switch_language

pytestmark = pytest.mark.e2e

PHONE = "iPhone 13"
NO_PRINT_DIALOG = "window.print = () => { window.__printed = (window.__printed || 0) + 1; };"
# Every element of the printout inside the sheet's content box (nothing cut at the paper's edge).
OVERFLOW = """() => {
  const sheet = document.querySelector('.sheet');
  const box = sheet.getBoundingClientRect();
  const style = getComputedStyle(sheet);
  const right = box.right - parseFloat(style.paddingRight) + 0.5;
  const left = box.left + parseFloat(style.paddingLeft) - 0.5;
  return [...sheet.querySelectorAll('*')].filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && (r.right > right || r.left < left);
  }).map(el => el.tagName + '.' + el.className + ': ' + (el.textContent || '').trim().slice(0, 30));
}"""


def _sku(generic_en: str) -> str:
    return demo_sku(next(i for i, row in enumerate(demo_rows(), start=1) if row["generic_en"] == generic_en))


def _server_env(server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["YAOSHI_DATA_DIR"] = str(server.data_dir)
    if server.database_url:
        env["DATABASE_URL"] = server.database_url
    return env


async def _token(server, username: str) -> str:
    launcher = Path(sys.executable).with_name("yaoshi")
    done = await asyncio.to_thread(
        subprocess.run,
        [str(launcher), "token", "add", username],
        env=_server_env(server),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1].strip()


async def _api(server, username: str, method: str, path: str, body: dict | None = None) -> dict:
    headers = {"Authorization": f"Bearer {await _token(server, username)}"}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code < 300, response.text
    return response.json()


async def _sale(server, lines: list[tuple[str, int]], tender: str, **extra) -> dict:
    """A sale at SH001 by the demo pharmacist, paid exactly with one tender."""
    total = 0
    for sku, qty in lines:
        found = await _api(server, "pharmacist", "GET", f"/api/v1/products?q={sku}")
        total += next(p["price"] for p in found["products"] if p["sku"] == sku) * qty
    body = {
        "idempotency_key": uuid.uuid4().hex,
        "store": "SH001",
        "lines": [{"code": sku, "qty": qty} for sku, qty in lines],
        "tenders": [{"kind": tender, "amount": total}],
        **extra,
    }
    return await _api(server, "pharmacist", "POST", "/api/v1/sales", body)


async def _backdate(server, sale_no: str, days: int) -> None:
    """Move a sale `days` back (the demo has no sales of other days)."""
    if server.database_url:
        import asyncpg

        conn = await asyncpg.connect(server.database_url)
        try:
            await conn.execute(
                "UPDATE sale SET created_at = created_at - make_interval(days => $1) WHERE sale_no = $2", days, sale_no
            )
        finally:
            await conn.close()
        return

    def update() -> None:
        with sqlite3.connect(server.data_dir / "yaoshi.sqlite3", timeout=30) as db:
            (value,) = db.execute("SELECT created_at FROM sale WHERE sale_no = ?", (sale_no,)).fetchone()
            moved = datetime.fromisoformat(str(value)) - timedelta(days=days)
            stored = moved.isoformat(sep="T" if "T" in str(value) else " ")  # as the app's adapter writes it
            db.execute("UPDATE sale SET created_at = ? WHERE sale_no = ?", (stored, sale_no))

    await asyncio.to_thread(update)


async def _counter(new_context: NewContext, username: str = "pharmacist") -> Page:
    context = await new_context(COUNTER_DEVICE)
    await context.add_init_script(NO_PRINT_DIALOG)
    page = await context.new_page()
    await login(page, username, "/counter")
    return page


async def _english(page: Page) -> None:
    await switch_language(page, "en")


async def _set_rule(new_context: NewContext, rule: str) -> None:
    """HQ sets the chain's rule for returns of dispensed medicines, on a phone."""
    page = await (await new_context(PHONE)).new_page()
    await login(page, "admin", "/manager")
    await page.goto("/manager/settings")
    await page.locator(f"label.tile:has([data-testid=setting-restricted_returns-{rule}])").tap()
    await page.get_by_test_id("save-settings").tap()
    await expect(page.get_by_test_id("settings-saved")).to_be_visible()
    await page.context.close()


async def test_refund_a_sale_to_its_original_wechat_tender_and_print_the_slip(server, new_context) -> None:
    sale = await _sale(server, [(_sku("ascorbic acid"), 2)], "wechat")
    sale_no = sale["sale_no"]
    page = await _counter(new_context)
    await page.goto(f"/counter/sales/{sale_no}")
    await expect(page.locator("[data-testid=sale-tender][data-kind=wechat]")).to_be_visible()
    await page.locator("label.tile:has([data-testid=return-lines])").tap()
    await page.get_by_test_id("return-qty-1").fill("1")
    await page.get_by_test_id("return-reason").fill("买多了一盒")
    await expect(page.get_by_test_id("refund-to-original")).to_be_checked()
    await page.get_by_test_id("return-submit").tap()
    done = page.get_by_test_id("return-done")
    await expect(done.locator("[data-testid=return-done-tender]")).to_have_attribute("data-kind", "wechat")
    await expect(page.get_by_test_id("return-done-tender")).to_have_count(1)
    await save_screenshot(page, "returns-sale-page-zh.png")

    await page.get_by_test_id("print-refund-slip").tap()
    await page.wait_for_url("**/slip")
    slip = page.get_by_test_id("refund-slip")
    await expect(slip.get_by_test_id("slip-sale-no")).to_have_text(sale_no)
    await expect(slip.locator("[data-testid=slip-tender][data-kind=wechat]")).to_be_visible()
    await page.get_by_test_id("print-slip").tap()
    assert await page.evaluate("window.__printed") == 1
    assert await page.evaluate(OVERFLOW) == []
    await save_screenshot(page, "returns-refund-slip-zh.png")

    await page.goto(f"/counter/sales/{sale_no}/receipt")
    await expect(page.get_by_test_id("receipt-refund")).to_have_count(1)
    await expect(page.get_by_test_id("receipt-net-paid")).to_be_visible()
    await save_screenshot(page, "returns-receipt-after-refund-zh.png")
    await _english(page)
    await save_screenshot(page, "returns-receipt-after-refund-en.png")
    await page.goto(f"/counter/sales/{sale_no}")
    await save_screenshot(page, "returns-sale-page-en.png")
    await page.get_by_test_id("return-slip").first.tap()
    await expect(page.get_by_test_id("refund-slip")).to_be_visible()
    await save_screenshot(page, "returns-refund-slip-en.png")


async def test_an_rx_return_is_refused_or_needs_the_store_managers_pin(server, new_context) -> None:
    rx = {"prescription": {"number": "RX-E2E-1", "hospital": "上海瑞金医院"}}
    sale_no = (await _sale(server, [(_sku("amoxicillin"), 1)], "alipay", **rx))["sale_no"]
    await _set_rule(new_context, "refuse")
    try:
        page = await _counter(new_context)
        await page.goto(f"/counter/sales/{sale_no}")
        await expect(page.locator("[data-testid=sale-line][data-restriction=rx]")).to_be_visible()
        await expect(page.get_by_test_id("return-refused-1")).to_be_visible()
        await page.locator("label.tile:has([data-testid=return-all])").tap()
        await page.get_by_test_id("return-reason").fill("医生换药")
        await page.get_by_test_id("return-submit").tap()
        await expect(page.get_by_test_id("error-qty-1")).to_be_visible()
        await expect(page.get_by_test_id("return-done")).to_have_count(0)
        await save_screenshot(page, "returns-rx-refused-zh.png")
    finally:
        await _set_rule(new_context, "manager_pin")

    await page.goto(f"/counter/sales/{sale_no}")
    await expect(page.get_by_test_id("return-approval")).to_be_visible()
    await page.locator("label.tile:has([data-testid=return-all])").tap()
    await page.get_by_test_id("return-reason").fill("医生换药")
    await page.get_by_test_id("return-approver-username").fill("manager")
    await page.get_by_test_id("return-approver-pin").fill("1357")
    await page.get_by_test_id("return-submit").tap()
    await expect(page.get_by_test_id("error-pin")).to_be_visible()
    await expect(page.get_by_test_id("return-reason")).to_have_value("医生换药")  # nothing typed is lost
    await page.get_by_test_id("return-approver-pin").fill("2468")
    await page.get_by_test_id("return-submit").tap()
    await expect(page.get_by_test_id("return-done")).to_be_visible()
    await expect(page.locator("[data-testid=return-done-tender][data-kind=alipay]")).to_be_visible()
    await save_screenshot(page, "returns-rx-approved-zh.png")


async def test_find_yesterdays_sale_by_date_and_a_sale_by_scanning_its_receipt(server, new_context) -> None:
    old = (await _sale(server, [(_sku("ascorbic acid"), 1)], "cash"))["sale_no"]
    await _backdate(server, old, 1)
    today = (await _sale(server, [(_sku("ascorbic acid"), 1)], "bank_card"))["sale_no"]
    page = await _counter(new_context)
    await page.get_by_test_id("sales-today").tap()
    await page.wait_for_url("**/counter/sales")
    await expect(page.locator(f"[data-testid=sales-row][data-sale-no={today}]")).to_be_visible()
    await expect(page.locator(f"[data-testid=sales-row][data-sale-no={old}]")).to_have_count(0)
    yesterday = (await page.get_by_test_id("sales-yesterday").get_attribute("href")).split("date=")[1]  # store's zone
    await page.get_by_test_id("sales-yesterday").tap()
    await expect(page.locator(f"[data-testid=sales-row][data-sale-no={old}]")).to_be_visible()
    await save_screenshot(page, "returns-sales-yesterday-zh.png")
    # The date picker: the same day typed into it.
    await page.get_by_test_id("sales-date").fill(yesterday)
    await page.get_by_test_id("sales-find").tap()
    await expect(page.locator(f"[data-testid=sales-row][data-sale-no={old}]")).to_be_visible()

    # A scanner reads the receipt's Code 128 into the search field: digits and letters, then Enter.
    await page.goto(f"/counter/sales/{today}/receipt")
    await expect(page.locator("[data-testid=receipt-barcode] svg")).to_be_visible()
    await page.goto("/counter/sales")
    await expect(page.get_by_test_id("sales-q")).to_be_focused()
    await page.get_by_test_id("sales-q").press_sequentially(today, delay=5)
    await page.get_by_test_id("sales-q").press("Enter")
    await page.wait_for_url(f"**/counter/sales/{today}")
    await expect(page.get_by_test_id("sale")).to_have_attribute("data-sale-no", today)
    # … or into the counter's own scan field, where the customer who came back stands.
    await page.goto("/counter")
    await scan(page, old)
    await page.wait_for_url(f"**/counter/sales/{old}")
    await expect(page.get_by_test_id("sale")).to_have_attribute("data-sale-no", old)
    await _english(page)
    await page.goto(f"/counter/sales?date={yesterday}")
    await save_screenshot(page, "returns-sales-yesterday-en.png")


async def test_the_store_manager_releases_a_quarantined_pack_on_a_phone(server, new_context) -> None:
    sku = _sku("ascorbic acid")
    sale_no = (await _sale(server, [(sku, 1)], "cash"))["sale_no"]
    body = {"idempotency_key": uuid.uuid4().hex, "reason": "未拆封，顾客买重复了"}
    ret = await _api(server, "pharmacist", "POST", f"/api/v1/sales/{sale_no}/returns", body)
    page = await (await new_context(PHONE)).new_page()
    await login(page, "manager", "/manager")
    await page.goto("/manager/stock")
    pack = page.locator(f"[data-testid=returned-pack][data-sku={sku}]").filter(has_text=ret["return_no"])
    await expect(pack).to_be_visible()
    await page.get_by_test_id("returned-packs").screenshot(path=ARTIFACTS / "returns-manager-packs-zh.png")
    await pack.get_by_test_id("pack-reason").fill("包装完好，已核对批号")
    await pack.get_by_test_id("pack-release").tap()
    await expect(page.locator("[data-testid=pack-decided][data-status=released]")).to_be_visible()
    await expect(page.locator("[data-testid=returned-pack]").filter(has_text=ret["return_no"])).to_have_count(0)
    width = await page.evaluate("window.innerWidth")
    assert await page.evaluate("document.documentElement.scrollWidth") <= width, "no sideways scrolling"
    await _english(page)
    await page.goto("/manager/stock")
    await page.get_by_test_id("returned-packs").screenshot(path=ARTIFACTS / "returns-manager-packs-en.png")


async def test_receipt_and_slips_fit_58_and_80_mm_rolls_and_a4(server, new_context) -> None:
    override = {
        "member_no": ZHANG_WEI,  # a high penicillin allergy: amoxicillin sold with a pharmacist's override
        "allergy_override": {"reason": "皮试阴性，医生确认可用"},
        "prescription": {"number": "RX-E2E-2", "hospital": "上海华山医院"},
    }
    sale_no = (await _sale(server, [(_sku("amoxicillin"), 1), (_sku("ascorbic acid"), 1)], "wechat", **override))[
        "sale_no"
    ]
    body = {"idempotency_key": uuid.uuid4().hex, "reason": "维生素C买多了", "lines": [{"line_no": 2, "qty": 1}]}
    return_no = (await _api(server, "pharmacist", "POST", f"/api/v1/sales/{sale_no}/returns", body))["return_no"]
    page = await _counter(new_context)
    await page.goto(f"/counter/sales/{sale_no}/guidance")
    note = page.locator("[data-testid=guidance-note][data-kind=override]")
    await expect(note).to_contain_text("皮试阴性")
    await expect(page.get_by_test_id("guidance-pharmacist")).to_be_visible()
    await expect(page.get_by_test_id("store-phone")).to_be_visible()
    await save_screenshot(page, "returns-guidance-zh.png")

    pages = {
        "receipt": (f"/counter/sales/{sale_no}/receipt", ("58", "80")),
        "slip": (f"/counter/sales/{sale_no}/returns/{return_no}/slip", ("58", "80", "a4")),
        "guidance": (f"/counter/sales/{sale_no}/guidance", ("58", "80", "a4")),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    for language in ("zh", "en"):
        if language == "en":
            await _english(page)
        for name, (path, papers) in pages.items():
            for paper in papers:
                await page.goto(f"{path}?paper={paper}")
                await expect(page.locator(f".sheet[data-paper='{paper}']")).to_be_visible()
                assert await page.evaluate(OVERFLOW) == [], f"{name} {paper} {language} overflows"
                pdf = ARTIFACTS / f"print-{name}-{paper}-{language}.pdf"
                await page.pdf(path=pdf, prefer_css_page_size=True, print_background=True)
                if shutil.which("pdftoppm"):
                    await asyncio.to_thread(
                        subprocess.run,
                        ["pdftoppm", "-png", "-r", "110", "-f", "1", "-l", "1", str(pdf), str(pdf.with_suffix(""))],
                        check=True,
                        timeout=60,
                    )
    await save_screenshot(page, "returns-guidance-en.png")
