"""The counter sale screen: scanning into the cart, alerts and overrides, checkout once, receipt, returns, scoping."""

from __future__ import annotations

import asyncio
import re

from app.components import members
from app.components.audit import log as audit
from app.components.sales import cart as carts
from app.components.sales import devices
from app.components.seed import DEMO_PIN
from app.db import fetch
from tests.components.sales.sale_data import PRICE, count, gtin, make_member, make_products, stock_in
from tests.conftest import actor, login

HX = {"HX-Request": "true"}


async def _counter(client, username: str = "pharmacist") -> dict[str, str]:
    token = await login(client, username)
    return {**HX, "x-csrftoken": token}


async def _at_tablet(client, username: str = "pharmacist"):
    """The staff member as their requests at the client's tablet carry them (for reading the cart directly)."""
    device = await devices.from_token(client.cookies.get(devices.DEVICE_COOKIE))
    return devices.with_device(await actor(username), device)


async def _stocked() -> None:
    await make_products()
    for sku in PRICE:
        await stock_in(sku, 50, f"B-{sku}")


async def _scan(client, headers: dict[str, str], code: str):
    return await client.post("/counter/lookup", data={"code": code}, headers=headers)


def _lines(html: str) -> dict[str, int]:
    """sku → qty of the cart lines in a cart partial."""
    return {
        sku: int(qty) for sku, qty in re.findall(r'data-testid="cart-line" data-sku="([^"]+)"\s+data-qty="(\d+)"', html)
    }


def _key(html: str) -> str:
    match = re.search(r'name="key" value="([0-9a-f]+)"', html)
    assert match, "no checkout form"
    return match.group(1)


def _pay_enabled(html: str) -> bool:
    match = re.search(r'<button class="btn btn-primary btn-pay[^>]*>', html)
    assert match, "no Pay button"
    return "disabled" not in match.group(0)


async def _cart(client, headers) -> str:
    response = await client.get("/counter/cart", headers=headers)
    assert response.status_code == 200
    return response.text


async def _pay(client, headers, html: str, **form: str):
    return await client.post("/counter/checkout", data={"key": _key(html), "kind": "cash", **form}, headers=headers)


def _sale_no(response) -> str:
    assert response.status_code == 200, response.text
    match = re.fullmatch(r"/counter/sales/([^/]+)/receipt", response.headers["HX-Redirect"])
    assert match
    return match.group(1)


async def test_scan_member_and_two_products_shows_lines_and_totals(client) -> None:
    await _stocked()
    member_no = await make_member("周健", status="none")
    headers = await _counter(client)

    panel = await _scan(client, headers, member_no)
    assert panel.status_code == 200
    assert f'data-member-no="{member_no}"' in panel.text  # the member panel
    assert 'id="cart" hx-swap-oob="innerHTML"' in panel.text and 'data-testid="cart-member"' in panel.text
    cart_head = re.search(r'data-testid="cart-member"[^>]*>([^<]*)<', panel.text)
    assert cart_head and "周健" in cart_head.group(1)  # the customer's name, even before any product

    first = await _scan(client, headers, gtin("YS90007"))
    assert first.status_code == 200 and first.headers["HX-Reswap"] == "none"
    assert 'data-testid="scan-added"' in first.text
    await _scan(client, headers, gtin("YS90007"))  # the same product again: qty + 1
    last = await _scan(client, headers, "YS90008")  # a SKU typed works too
    assert _lines(last.text) == {"YS90007": 2, "YS90008": 1}
    total = 2 * PRICE["YS90007"] + PRICE["YS90008"]
    assert f'data-testid="total">¥{total // 100}.{total % 100:02d}<' in last.text
    assert _pay_enabled(last.text)

    page = await client.get("/counter")  # a reload shows the same cart and the member
    assert _lines(page.text) == {"YS90007": 2, "YS90008": 1} and f'data-member-no="{member_no}"' in page.text


async def test_a_gs1_scan_records_its_batch_and_a_trace_code_counts_once(client) -> None:
    await _stocked()
    headers = await _counter(client)
    gs1 = "]d2010" + gtin("YS90007") + "17301231" + "10LOT7\x1d21SER1"
    assert (await _scan(client, headers, gs1)).status_code == 200
    cart = await carts.current(await _at_tablet(client))
    assert cart.lines[0].codes == ("(01)0" + gtin("YS90007") + "(17)301231(10)LOT7(21)SER1",)

    await fetch(
        "INSERT INTO product_code (code, product, kind) VALUES ('8190008', {}, 'trace')", await _product_id("YS90008")
    )
    unit = "8190008" + "0000000000001"
    await _scan(client, headers, unit)
    again = await _scan(client, headers, unit)  # the same box scanned twice is still one unit
    assert _lines(again.text)["YS90008"] == 1
    other = await _scan(client, headers, "8190008" + "0000000000002")
    assert _lines(other.text)["YS90008"] == 2
    line = (await carts.current(await _at_tablet(client))).line(await _product_id("YS90008"))
    assert line.trace_codes == (unit, "8190008" + "0000000000002")


async def test_back_to_back_scans_all_land_in_the_cart(client) -> None:
    await _stocked()
    headers = await _counter(client)
    answers = await asyncio.gather(*(_scan(client, headers, gtin("YS90007")) for _ in range(5)))
    assert all(a.status_code == 200 for a in answers)
    cart = await carts.current(await _at_tablet(client))
    assert [(line.qty, line.product_id) for line in cart.lines] == [(5, await _product_id("YS90007"))]
    assert (await fetch("SELECT COUNT(*) AS n FROM cart WHERE status = 'open'"))[0]["n"] == 1


async def test_bad_code_is_422_next_to_the_scan_field_and_the_cart_is_untouched(client) -> None:
    await _stocked()
    headers = await _counter(client)
    await _scan(client, headers, gtin("YS90007"))
    before = await carts.current(await _at_tablet(client))

    bad_check = gtin("YS90007")[:-1] + str((int(gtin("YS90007")[-1]) + 1) % 10)
    for code in (bad_check, "6901234567892", "XX-NOT-A-CODE"):
        response = await _scan(client, headers, code)
        assert response.status_code == 422, code
        assert 'data-testid="scan-error"' in response.text
        assert 'id="cart"' not in response.text  # only the message is swapped
    assert bad_check in (await _scan(client, headers, bad_check)).text  # the message names the code
    assert await carts.current(await _at_tablet(client)) == before


async def test_search_as_you_type_adds_a_line(client) -> None:
    await _stocked()
    headers = await _counter(client)
    found = await client.get("/counter/products/search", params={"q": "布洛芬"}, headers=headers)
    assert 'data-sku="YS90008"' in found.text
    added = await client.post("/counter/cart/lines", data={"sku": "YS90008"}, headers=headers)
    assert _lines(added.text) == {"YS90008": 1}
    assert 'id="search-results" hx-swap-oob' in added.text
    plus = await client.post(
        f"/counter/cart/lines/{await _product_id('YS90008')}/qty", data={"delta": "1"}, headers=headers
    )
    assert _lines(plus.text) == {"YS90008": 2}
    gone = await client.post(f"/counter/cart/lines/{await _product_id('YS90008')}/remove", headers=headers)
    assert _lines(gone.text) == {} and 'data-testid="cart-empty"' in gone.text


async def _product_id(sku: str) -> int:
    return (await fetch("SELECT id FROM product WHERE sku = {}", sku))[0]["id"]


async def _rx_verified(client, headers, html: str, **pin: str) -> str:
    response = await client.post(
        "/counter/cart/prescription",
        data={"rx_number": "RX-001", "rx_hospital": "瑞金医院"},
        files={"rx_image": ("rx.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png")},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert 'data-pending="' in response.text and "rx_verified" in response.text
    response = await client.post("/counter/cart/prescription/verify", data=pin, headers=headers)
    assert response.status_code == 200, response.text
    assert 'data-testid="rx-verified"' in response.text
    return response.text


async def test_high_allergy_blocks_pay_until_a_pharmacist_overrides_with_a_reason(client) -> None:
    await _stocked()
    member_no = await make_member("张伟", allergies=("penicillins",))
    headers = await _counter(client)
    await _scan(client, headers, member_no)
    html = (await _scan(client, headers, gtin("YS90001"))).text  # amoxicillin
    assert 'data-level="high"' in html and 'data-testid="rx-badge"' in html
    assert 'data-code="allergy_high"' in html and not _pay_enabled(html)
    html = await _rx_verified(client, headers, html)
    assert not _pay_enabled(html)

    refused = await _pay(client, headers, html)
    assert refused.status_code == 409 and 'data-testid="cart-message"' in refused.text
    assert await count("sale") == 0

    no_reason = await client.post("/counter/cart/override", data={"reason": " "}, headers=headers)
    assert no_reason.status_code == 422 and 'data-testid="error-reason"' in no_reason.text
    done = await client.post("/counter/cart/override", data={"reason": "已做皮试，医生确认"}, headers=headers)
    assert 'data-testid="override-done"' in done.text and _pay_enabled(done.text)

    sale_no = _sale_no(await _pay(client, headers, done.text))
    rows = await fetch("SELECT override_reason, override_by FROM sale WHERE sale_no = {}", sale_no)
    assert rows[0]["override_reason"] == "已做皮试，医生确认"
    fresh = await _cart(client, headers)  # after the sale: a fresh, empty cart
    assert 'data-testid="cart-empty"' in fresh


async def test_a_clerk_needs_a_pharmacists_pin_to_override(client, staff_ids) -> None:
    await _stocked()
    member_no = await make_member("张伟", allergies=("penicillins",))
    headers = await _counter(client, "clerk")
    await _scan(client, headers, member_no)
    html = (await _scan(client, headers, gtin("YS90001"))).text
    assert 'data-testid="approve-pin"' in html

    missing = await client.post("/counter/cart/override", data={"reason": "医生确认"}, headers=headers)
    assert missing.status_code == 422 and 'data-testid="error-username"' in missing.text
    wrong = await client.post(
        "/counter/cart/override", data={"reason": "医生确认", "username": "pharmacist", "pin": "0000"}, headers=headers
    )
    assert wrong.status_code == 422 and 'data-testid="error-pin"' in wrong.text
    assert "医生确认" in wrong.text  # the reason typed is kept
    other_store = await client.post(
        "/counter/cart/override",
        data={"reason": "医生确认", "username": "pharmacist2", "pin": DEMO_PIN},
        headers=headers,
    )
    assert other_store.status_code == 422
    ok = await client.post(
        "/counter/cart/override",
        data={"reason": "医生确认", "username": "pharmacist", "pin": DEMO_PIN},
        headers=headers,
    )
    assert ok.status_code == 200 and 'data-testid="override-done"' in ok.text
    cart = await carts.current(await _at_tablet(client, "clerk"))
    assert cart.override["by"] == staff_ids["pharmacist"]
    html = await _rx_verified(client, headers, ok.text, username="pharmacist", pin=DEMO_PIN)
    assert _pay_enabled(html)


async def test_double_submit_of_checkout_gives_one_sale_and_the_same_receipt(client) -> None:
    await _stocked()
    headers = await _counter(client)
    html = (await _scan(client, headers, gtin("YS90007"))).text
    taps = await asyncio.gather(*(_pay(client, headers, html) for _ in range(10)))
    assert len({_sale_no(tap) for tap in taps}) == 1
    replay = await _pay(client, headers, html)  # a retry long after
    assert _sale_no(replay) == _sale_no(taps[0])
    assert await count("sale") == 1 and await count("sale_tender") == 1 and await count("sale_line") == 1
    moves = await fetch("SELECT COALESCE(SUM(qty), 0) AS n FROM stock_move WHERE kind = 'sale'")
    assert moves[0]["n"] == -1


async def test_receipt_shows_points_change_and_the_guidance_slip(client) -> None:
    await _stocked()
    member_no = await make_member("李娜", status="none")
    await members.update_member(member_no, {"phone": "13912340000"}, await actor())
    headers = await _counter(client)
    await _scan(client, headers, member_no)
    html = (await _scan(client, headers, gtin("YS90008"))).text
    preview = await client.get("/counter/checkout", params={"kind": "cash", "amount": "20"}, headers=headers)
    change = 2000 - PRICE["YS90008"]
    assert f'data-testid="change">¥{change // 100}.{change % 100:02d}<' in preview.text
    bad = await client.get("/counter/checkout", params={"kind": "cash", "amount": "12.345"}, headers=headers)
    assert bad.status_code == 422 and 'data-testid="error-amount"' in bad.text

    sale_no = _sale_no(await _pay(client, headers, html, amount="20"))
    views_before = await audit.count(audit.ALLERGY_VIEW)
    receipt = await client.get(f"/counter/sales/{sale_no}/receipt")
    assert receipt.status_code == 200
    assert "139****0000" in receipt.text  # the member's masked phone …
    assert await audit.count(audit.ALLERGY_VIEW) == views_before  # … without reading their health record
    earned = re.search(r'data-testid="points-earned">(\d+)<', receipt.text)
    assert earned and int(earned.group(1)) > 0
    assert f'data-testid="points-balance">{earned.group(1)}<' in receipt.text
    assert f'data-testid="receipt-change">¥{change // 100}.{change % 100:02d}<' in receipt.text
    assert "@media print" in (await client.get("/static/css/yaoshi.css")).text
    slip = await client.get(f"/counter/sales/{sale_no}/guidance")
    assert slip.status_code == 200 and 'data-sku="YS90008"' in slip.text


async def test_return_flow_is_for_return_roles_and_once_per_form(client) -> None:
    await _stocked()
    headers = await _counter(client)
    await _scan(client, headers, gtin("YS90007"))
    html = (await _scan(client, headers, gtin("YS90007"))).text
    sale_no = _sale_no(await _pay(client, headers, html))

    listed = await client.get("/counter/sales")
    assert f'data-sale-no="{sale_no}"' in listed.text
    page = await client.get(f"/counter/sales/{sale_no}")
    assert 'data-testid="return-form"' in page.text
    key = re.search(r'name="key" value="([0-9a-f]+)"', page.text).group(1)
    no_reason = await client.post(
        f"/counter/sales/{sale_no}/returns", data={"key": key, "scope": "lines", "qty-1": "1"}, headers=headers
    )
    assert no_reason.status_code == 422 and 'data-testid="error-reason"' in no_reason.text
    too_many = await client.post(
        f"/counter/sales/{sale_no}/returns",
        data={"key": key, "scope": "lines", "qty-1": "3", "reason": "买多了"},
        headers=headers,
    )
    assert too_many.status_code == 422 and 'data-testid="error-qty-1"' in too_many.text
    form = {"key": key, "scope": "lines", "qty-1": "1", "reason": "买多了"}
    done = await client.post(f"/counter/sales/{sale_no}/returns", data=form, headers=headers)
    assert done.status_code == 200 and 'data-testid="return-done"' in done.text
    again = await client.post(f"/counter/sales/{sale_no}/returns", data=form, headers=headers)
    assert again.status_code == 200 and await count("sale_return") == 1
    assert 'data-testid="returned-qty">1<' in again.text

    clerk = await _counter(client, "clerk")
    page = await client.get(f"/counter/sales/{sale_no}")
    assert page.status_code == 200 and 'data-testid="return-form"' not in page.text
    refused = await client.post(f"/counter/sales/{sale_no}/returns", data={**form, "key": "other"}, headers=clerk)
    assert refused.status_code == 403 and await count("sale_return") == 1


async def test_a_clerk_cannot_discount_and_other_stores_cannot_open_a_sale(client) -> None:
    await _stocked()
    headers = await _counter(client, "clerk")
    html = (await _scan(client, headers, gtin("YS90007"))).text
    assert 'data-testid="line-discount-form"' not in html
    pid = await _product_id("YS90007")
    refused = await client.post(f"/counter/cart/lines/{pid}/discount", data={"line_discount": "1"}, headers=headers)
    assert refused.status_code == 403
    assert (await carts.current(await _at_tablet(client, "clerk"))).lines[0].line_discount == 0
    sale_no = _sale_no(await _pay(client, headers, html))

    pharmacist = await _counter(client, "pharmacist")
    html = (await _scan(client, pharmacist, gtin("YS90007"))).text
    assert 'data-testid="line-discount-form"' in html
    discounted = await client.post(
        f"/counter/cart/lines/{pid}/discount", data={"line_discount": "1.50"}, headers=pharmacist
    )
    assert 'data-testid="line-discount-shown"' in discounted.text
    too_big = await client.post(
        f"/counter/cart/lines/{pid}/discount", data={"line_discount": "abc"}, headers=pharmacist
    )
    assert too_big.status_code == 422 and 'data-testid="error-discount"' in too_big.text

    await _counter(client, "pharmacist2")  # SH002
    for path in (
        f"/counter/sales/{sale_no}",
        f"/counter/sales/{sale_no}/receipt",
        f"/counter/sales/{sale_no}/guidance",
    ):
        assert (await client.get(path)).status_code == 404, path
    assert f'data-sale-no="{sale_no}"' not in (await client.get("/counter/sales")).text


async def test_walk_in_sale_and_removing_the_member(client) -> None:
    await _stocked()
    member_no = await make_member("王芳", status="none")
    headers = await _counter(client)
    await _scan(client, headers, member_no)
    html = (await _scan(client, headers, gtin("YS90007"))).text
    assert f'data-member-no="{member_no}"' in html
    removed = await client.post("/counter/cart/member/remove", headers=headers)
    assert 'data-testid="cart-walk-in"' in removed.text and 'id="member" hx-swap-oob' in removed.text
    sale_no = _sale_no(await _pay(client, headers, removed.text))
    rows = await fetch("SELECT member FROM sale WHERE sale_no = {}", sale_no)
    assert rows[0]["member"] is None


async def test_prescription_image_is_served_only_to_its_store(client) -> None:
    await _stocked()
    headers = await _counter(client)
    await _scan(client, headers, gtin("YS90001"))
    bad = await client.post(
        "/counter/cart/prescription",
        data={"rx_number": "RX-9", "rx_hospital": ""},
        files={"rx_image": ("rx.txt", b"hello", "text/plain")},
        headers=headers,
    )
    assert bad.status_code == 422 and 'data-testid="error-rx_hospital"' in bad.text
    assert 'data-testid="error-rx_image"' in bad.text and 'value="RX-9"' in bad.text
    await _rx_verified(client, headers, "")
    name = (await carts.current(await _at_tablet(client))).prescription["image"]
    assert (await client.get(f"/counter/rx/{name}")).status_code == 200
    await _counter(client, "pharmacist2")
    assert (await client.get(f"/counter/rx/{name}")).status_code == 404
    assert (await client.get("/counter/rx/..%2F..%2Fsecret.key")).status_code == 404


async def test_service_staff_look_members_up_but_do_not_sell(client) -> None:
    await _stocked()
    headers = await _counter(client, "service")
    page = await client.get("/counter")
    assert 'data-testid="cart"' not in page.text
    assert (await _scan(client, headers, gtin("YS90007"))).status_code == 404  # no member with that code
    assert (await client.get("/counter/cart", headers=headers)).status_code == 403


async def test_a_coupon_that_does_not_apply_says_why_and_blocks_pay_until_removed(client) -> None:
    await _stocked()
    headers = await _counter(client)
    await _scan(client, headers, gtin("YS90007"))
    empty = await client.post("/counter/cart/coupons", data={"code": " "}, headers=headers)
    assert empty.status_code == 422 and 'data-testid="error-coupon"' in empty.text
    added = await client.post("/counter/cart/coupons", data={"code": "nope-1234"}, headers=headers)
    assert 'data-testid="coupon" data-code="NOPE1234"' in added.text
    assert 'data-code="coupon"' in added.text and not _pay_enabled(added.text)
    removed = await client.post("/counter/cart/coupons/remove", data={"code": "NOPE1234"}, headers=headers)
    assert 'data-testid="coupon"' not in removed.text and _pay_enabled(removed.text)


async def test_a_product_added_after_the_override_needs_a_new_one(client) -> None:
    await _stocked()
    member_no = await make_member("张伟", allergies=("penicillins",))
    headers = await _counter(client)
    await _scan(client, headers, member_no)
    await _scan(client, headers, gtin("YS90001"))
    await _rx_verified(client, headers, "")
    done = await client.post("/counter/cart/override", data={"reason": "医生确认"}, headers=headers)
    assert _pay_enabled(done.text)
    more = await client.post(
        f"/counter/cart/lines/{await _product_id('YS90001')}/qty", data={"delta": "1"}, headers=headers
    )
    assert 'data-testid="override-done"' in more.text and 'data-testid="rx-verified"' in more.text
    later = await _scan(client, headers, gtin("YS90002"))  # cefalexin: cross-reacts with penicillins, also Rx
    assert 'data-pending="allergy_override rx_verified"' in later.text and 'data-testid="rx-verified"' not in later.text
    assert not _pay_enabled(later.text)


async def test_without_javascript_the_scan_form_still_works(client) -> None:
    await _stocked()
    token = await login(client, "pharmacist")
    page = await client.post("/counter/lookup", data={"code": gtin("YS90007"), "_csrf_token": token})
    assert page.status_code == 200 and "<html" in page.text and _lines(page.text) == {"YS90007": 1}
    bad = await client.post("/counter/lookup", data={"code": "123", "_csrf_token": token})
    assert bad.status_code == 422 and "<html" in bad.text and 'data-testid="scan-error"' in bad.text
    assert _lines(bad.text) == {"YS90007": 1}
    paid = await client.post(
        "/counter/checkout", data={"key": _key(page.text), "kind": "cash", "_csrf_token": token}, follow_redirects=False
    )
    assert paid.status_code == 303 and paid.headers["location"].endswith("/receipt")


async def test_alerts_on_the_lines_ask_duplicate_therapy_and_stock(client) -> None:
    await make_products()
    await stock_in("YS90005", 5, "B1")
    await stock_in("YS90006", 5, "B1")
    never_asked = await make_member("赵敏")
    headers = await _counter(client)
    await _scan(client, headers, never_asked)
    html = (await _scan(client, headers, gtin("YS90008"))).text  # ibuprofen has an allergen class: ask now
    assert 'data-level="ask"' in html and 'data-testid="ask-allergies"' in html
    assert 'data-kind="stock"' in html and 'data-code="out_of_stock"' in html and not _pay_enabled(html)
    await client.post(f"/counter/cart/lines/{await _product_id('YS90008')}/remove", headers=headers)
    await _scan(client, headers, gtin("YS90005"))
    html = (await _scan(client, headers, gtin("YS90006"))).text  # two calcium channel blockers (C08CA)
    assert html.count('data-kind="duplicate"') == 2 and _pay_enabled(html)


async def test_paying_part_with_points(client) -> None:
    await _stocked()
    member_no = await make_member("李娜", status="none")
    headers = await _counter(client)
    await _scan(client, headers, member_no)
    html = (await _scan(client, headers, gtin("YS90005"))).text
    _sale_no(await _pay(client, headers, html))
    await _scan(client, headers, member_no)
    html = (await _scan(client, headers, gtin("YS90007"))).text
    assert 'data-testid="pay-points"' in html  # the member has points now
    too_many = await client.get("/counter/checkout", params={"points_amount": "500"}, headers=headers)
    assert 'data-code="points"' in too_many.text and not _pay_enabled(too_many.text)
    sale_no = _sale_no(await _pay(client, headers, html, points_amount="0.10"))
    receipt = await client.get(f"/counter/sales/{sale_no}/receipt")
    assert 'data-testid="receipt-tender" data-kind="points">¥0.10<' in receipt.text
    cash = PRICE["YS90007"] - 10
    assert f'data-kind="cash">¥{cash // 100}.{cash % 100:02d}<' in receipt.text


async def test_selling_beyond_stock_needs_a_store_managers_pin_when_the_chain_allows_it(client, monkeypatch) -> None:
    from dataclasses import replace

    from app.components.stock import allocation as stock
    from app.settings import get_settings

    await make_products()
    await stock_in("YS90007", 1, "B1")
    headers = await _counter(client, "clerk")
    await _scan(client, headers, gtin("YS90007"))
    html = (await _scan(client, headers, gtin("YS90007"))).text  # 2 wanted, 1 in stock
    assert 'data-code="out_of_stock"' in html and 'data-testid="oversell-form"' not in html  # switched off

    monkeypatch.setattr(stock, "get_settings", lambda: replace(get_settings(), allow_oversell=True))
    html = await _cart(client, headers)
    assert 'data-testid="oversell-form"' in html and 'data-testid="oversell-pin"' in html
    wrong = await client.post(
        "/counter/cart/oversell", data={"username": "pharmacist", "pin": DEMO_PIN}, headers=headers
    )
    assert wrong.status_code == 422 and 'data-testid="error-pin"' in wrong.text  # a pharmacist may not
    ok = await client.post("/counter/cart/oversell", data={"username": "manager", "pin": DEMO_PIN}, headers=headers)
    assert 'data-testid="oversell-done"' in ok.text and _pay_enabled(ok.text)
    sale_no = _sale_no(await _pay(client, headers, ok.text))
    assert (
        await fetch(
            "SELECT COUNT(*) AS n FROM sale_line s JOIN sale ON sale.id = s.sale WHERE sale.sale_no = {}", sale_no
        )
    )[0]["n"] == 1
    more = await _scan(client, headers, gtin("YS90007"))  # the next cart needs its own approval
    assert 'data-testid="oversell-done"' not in more.text


async def test_members_and_products_scanned_at_once_all_land_on_the_cart(client) -> None:
    """Member scans (the cart's customer changes) interleaved with product scans: no line and no member lost."""
    await _stocked()
    headers = await _counter(client)
    first, second = await make_member("周一"), await make_member("周二")
    codes = [gtin("YS90007"), first, gtin("YS90005"), second, gtin("YS90006"), first, gtin("YS90007")]
    answers = await asyncio.gather(*(_scan(client, headers, code) for code in codes))
    assert all(a.status_code == 200 for a in answers)
    cart = await carts.current(await _at_tablet(client))
    by_product = {line.product_id: line.qty for line in cart.lines}
    assert by_product == {
        await _product_id("YS90007"): 2,
        await _product_id("YS90005"): 1,
        await _product_id("YS90006"): 1,
    }
    assert cart.member_no in (first, second)
    number = await fetch("SELECT member_no FROM member WHERE id = {}", cart.member_id)
    assert number[0]["member_no"] == cart.member_no


async def test_scanning_the_same_member_again_keeps_the_override_another_member_drops_it(client) -> None:
    await _stocked()
    headers = await _counter(client)
    member_no = await make_member(allergies=("penicillins",))
    other = await make_member("周三")
    await _scan(client, headers, member_no)
    await _scan(client, headers, gtin("YS90002"))
    done = await client.post("/counter/cart/override", data={"reason": "医生确认"}, headers=headers)
    assert 'data-testid="override-done"' in done.text
    again = await _scan(client, headers, member_no)
    assert again.status_code == 200 and 'data-testid="override-done"' in again.text
    assert (await carts.current(await _at_tablet(client))).override.get("reason") == "医生确认"
    asked = await _scan(client, headers, other)  # the cart holds this member's line: it asks first
    assert asked.status_code == 200 and 'data-testid="member-switch"' in asked.text
    cart = await carts.current(await _at_tablet(client))
    assert cart.member_no == member_no and cart.override.get("reason") == "医生确认"
    moved = await client.post("/counter/cart/switch", data={"choice": "move", "cart_key": cart.key}, headers=headers)
    assert moved.status_code == 200
    cart = await carts.current(await _at_tablet(client))
    assert cart.member_no == other and not cart.override.get("reason")
    assert _lines(await _cart(client, headers)) == {"YS90002": 1}
