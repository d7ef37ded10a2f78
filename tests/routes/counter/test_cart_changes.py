"""Cart changes: applied once per key however often they are sent, the tender kept through every change, a coupon
scanned where products are scanned, and the cart's layout for a tablet (Pay pinned, the discount behind a tap)."""

from __future__ import annotations

import asyncio
import re
import uuid

from app.components import coupons
from app.components.sales import cart as carts
from tests.components.sales.sale_data import PRICE, count, gtin, make_member
from tests.routes.counter.test_sale import (
    _at_tablet,
    _cart,
    _counter,
    _lines,
    _pay,
    _product_id,
    _sale_no,
    _scan,
    _stocked,
)


def _keyed(headers: dict[str, str], key: str | None = None) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key or uuid.uuid4().hex}


async def test_the_same_change_sent_twice_applies_once_and_new_keys_apply_again(client) -> None:
    await _stocked()
    headers = await _counter(client)
    pid = await _product_id("YS90007")
    add = _keyed(headers)
    for _ in range(2):  # a retried request: the same key
        await client.post("/counter/cart/lines", data={"sku": "YS90007"}, headers=add)
    assert _lines(await _cart(client, headers)) == {"YS90007": 1}
    plus = _keyed(headers)
    answers = await asyncio.gather(
        *(client.post(f"/counter/cart/lines/{pid}/qty", data={"delta": "1"}, headers=plus) for _ in range(3))
    )
    assert all(a.status_code == 200 for a in answers)
    assert _lines(await _cart(client, headers)) == {"YS90007": 2}
    for _ in range(2):  # two taps: two keys
        await client.post(f"/counter/cart/lines/{pid}/qty", data={"delta": "1"}, headers=_keyed(headers))
    assert _lines(await _cart(client, headers)) == {"YS90007": 4}

    scan = _keyed(headers)
    for _ in range(2):  # a scan retried after a lost answer
        assert (await client.post("/counter/lookup", data={"code": gtin("YS90008")}, headers=scan)).status_code == 200
    assert _lines(await _cart(client, headers)) == {"YS90007": 4, "YS90008": 1}

    remove = _keyed(headers)
    await client.post(f"/counter/cart/lines/{pid}/remove", headers=remove)
    await client.post("/counter/cart/lines", data={"sku": "YS90007"}, headers=_keyed(headers))  # added again
    replay = await client.post(f"/counter/cart/lines/{pid}/remove", headers=remove)  # the old removal, retried
    assert replay.status_code == 200 and _lines(replay.text) == {"YS90008": 1, "YS90007": 1}
    assert await count("cart_change") == 7


async def test_a_change_retried_after_the_sale_is_not_applied_to_the_next_cart(client) -> None:
    await _stocked()
    headers = await _counter(client)
    add = _keyed(headers)
    html = (await client.post("/counter/cart/lines", data={"sku": "YS90007"}, headers=add)).text
    _sale_no(await _pay(client, headers, html))
    await client.post("/counter/cart/lines", data={"sku": "YS90007"}, headers=add)
    assert _lines(await _cart(client, headers)) == {}


async def test_a_malformed_change_key_is_refused(client) -> None:
    await _stocked()
    headers = await _counter(client)
    bad = await client.post("/counter/cart/lines", data={"sku": "YS90007"}, headers=_keyed(headers, "x" * 200))
    assert bad.status_code == 422 and 'data-field="change_key"' in bad.text
    assert _lines(await _cart(client, headers)) == {}


def _tender(html: str) -> str:
    checked = re.findall(r'<input type="radio" name="kind" value="(\w+)" data-testid="tender-\w+"\s+checked>', html)
    assert len(checked) == 1, checked
    return checked[0]


async def test_the_tender_and_the_amount_survive_every_cart_change(client) -> None:
    await _stocked()
    member_no = await make_member("李娜", status="none")
    headers = await _counter(client)
    await _scan(client, headers, member_no)
    await _scan(client, headers, gtin("YS90007"))
    saved = await client.post("/counter/cart/tender", data={"kind": "wechat", "amount": "50"}, headers=headers)
    assert saved.status_code == 200 and 'data-testid="bar-tender" data-kind="wechat"' in saved.text
    pid = await _product_id("YS90007")
    changes = [
        ("/counter/cart/lines", {"sku": "YS90008"}),
        (f"/counter/cart/lines/{pid}/qty", {"delta": "1"}),
        (f"/counter/cart/lines/{await _product_id('YS90008')}/remove", {}),
        ("/counter/cart/coupons", {"code": "NOPE2345"}),
        ("/counter/cart/coupons/remove", {"code": "NOPE2345"}),
        (f"/counter/cart/lines/{pid}/discount", {"line_discount": "1"}),
    ]
    for path, data in changes:
        html = (await client.post(path, data=data, headers=_keyed(headers))).text
        assert _tender(html) == "wechat", path
        assert 'name="amount" inputmode="decimal" autocomplete="off" value="50"' in html, path
    html = (await _scan(client, headers, gtin("YS90007"))).text
    assert _tender(html) == "wechat" and _tender(await _cart(client, headers)) == "wechat"
    assert _tender((await client.get("/counter")).text) == "wechat"  # a reload too

    sale_no = _sale_no(await _pay(client, headers, html, kind="wechat", amount=""))
    receipt = (await client.get(f"/counter/sales/{sale_no}/receipt")).text
    total = 3 * PRICE["YS90007"] - 100
    assert f'data-testid="receipt-tender" data-kind="wechat">¥{total // 100}.{total % 100:02d}<' in receipt
    assert (await carts.current(await _at_tablet(client))).tender == {}  # the next sale starts afresh (cash)


async def test_points_typed_for_one_member_do_not_move_to_another(client) -> None:
    await _stocked()
    first, second = await make_member("张伟", status="none"), await make_member("李娜", status="none")
    headers = await _counter(client)
    await _scan(client, headers, first)
    await _scan(client, headers, gtin("YS90007"))
    await client.post("/counter/cart/tender", data={"kind": "alipay", "points_amount": "1"}, headers=headers)
    await _scan(client, headers, second)
    cart = await carts.current(await _at_tablet(client))
    await client.post("/counter/cart/switch", data={"choice": "move", "cart_key": cart.key}, headers=headers)
    moved = await carts.current(await _at_tablet(client))
    assert moved.tender == {"kind": "alipay", "amount": ""}


async def test_a_coupon_scanned_in_the_scan_field_goes_on_the_sale(client) -> None:
    await _stocked()
    headers = await _counter(client)
    await _scan(client, headers, gtin("YS90007"))
    code = coupons.new_code()
    answer = await _scan(client, headers, code.lower())
    assert answer.status_code == 200 and 'data-testid="scan-coupon"' in answer.text
    assert f'data-testid="coupon" data-code="{code}"' in answer.text
    assert (await carts.current(await _at_tablet(client))).coupon_codes == (code,)
    # A product code that is not in the catalog is still "no such product", not a coupon.
    assert (await _scan(client, headers, "6901234567892")).status_code == 422


async def test_the_cart_pins_pay_and_keeps_the_line_discount_behind_a_tap(client) -> None:
    await _stocked()
    headers = await _counter(client)
    html = (await _scan(client, headers, gtin("YS90007"))).text
    assert 'class="pay-bar" data-testid="pay-bar"' in html and 'data-testid="bar-total">¥9.90<' in html
    assert 'data-testid="bar-tender" data-kind="cash"' in html
    # The discount field is behind its own button (closed), the checkout form never submits on Enter.
    assert re.search(r'<details class="line-discount" data-testid="line-discount" >', html)
    assert 'data-no-enter data-testid="checkout-form"' in html and "data-pay" in html
    pid = await _product_id("YS90007")
    bad = await client.post(f"/counter/cart/lines/{pid}/discount", data={"line_discount": "abc"}, headers=headers)
    assert re.search(r'<details class="line-discount" data-testid="line-discount" open>', bad.text)


async def test_the_counter_has_a_register_button(client) -> None:
    await _counter(client)
    page = await client.get("/counter")
    assert 'data-testid="register-new"' in page.text and 'hx-get="/counter/register"' in page.text
