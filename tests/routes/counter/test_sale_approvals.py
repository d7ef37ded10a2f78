"""The counter's approvals over HTTP: one pharmacist approval for override + prescription, the approver's display
name, PIN lock-out, the acknowledging tap for a low-criticality warning, each warning shown once, and the API."""

from __future__ import annotations

import re

from app.components.seed import DEMO_PIN
from app.db import fetch
from tests.components.sales.sale_data import PRICE, count, gtin, make_member, make_products, stock_in, zhang_wei
from tests.conftest import api_headers, login

HX = {"HX-Request": "true"}


async def _counter(client, username: str = "pharmacist") -> dict[str, str]:
    return {**HX, "x-csrftoken": await login(client, username)}


async def _stocked() -> None:
    await make_products()
    for sku in PRICE:
        await stock_in(sku, 50, f"B-{sku}")


async def _scan(client, headers, code: str):
    return await client.post("/counter/lookup", data={"code": code}, headers=headers)


async def _product_id(sku: str) -> int:
    return (await fetch("SELECT id FROM product WHERE sku = {}", sku))[0]["id"]


def _pay_enabled(html: str) -> bool:
    match = re.search(r'<button class="btn btn-primary btn-pay[^>]*>', html)
    assert match, "no Pay button"
    return "disabled" not in match.group(0)


def _key(html: str) -> str:
    match = re.search(r'name="key" value="([0-9a-f]+)"', html)
    assert match, "no checkout form"
    return match.group(1)


def _pending(html: str) -> str | None:
    match = re.search(r'data-testid="approvals" data-pending="([^"]*)"', html)
    return match.group(1) if match else None


async def _pay(client, headers, html: str) -> str:
    paid = await client.post("/counter/checkout", data={"key": _key(html), "kind": "cash"}, headers=headers)
    assert paid.status_code == 200, paid.text
    return re.fullmatch(r"/counter/sales/([^/]+)/receipt", paid.headers["HX-Redirect"]).group(1)


async def test_a_clerks_sale_needing_an_override_and_a_prescription_asks_the_pharmacist_once(client) -> None:
    await _stocked()
    member_no = await zhang_wei()
    headers = await _counter(client, "clerk")
    await _scan(client, headers, member_no)
    html = (await _scan(client, headers, gtin("YS90001"))).text  # amoxicillin: penicillin (high), Rx
    assert _pending(html) == "allergy_override rx_verified"
    assert html.count('data-testid="approve-pin"') == 1 and html.count('data-testid="approve-submit"') == 1
    form = {
        "rx_number": "RX-001",
        "rx_hospital": "瑞金医院",
        "reason": "皮试阴性，医生确认",
        "username": "pharmacist",
        "pin": DEMO_PIN,
        "products": str(await _product_id("YS90001")),
    }
    photo = {"rx_image": ("rx.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png")}
    done = await client.post("/counter/cart/approve", data=form, files=photo, headers=headers)
    assert done.status_code == 200, done.text
    assert _pending(done.text) == "" and _pay_enabled(done.text)
    override = re.search(r'data-testid="override-done">([^<]*)<', done.text).group(1)
    verified = re.search(r'data-testid="rx-verified">([^<]*)<', done.text).group(1)
    assert "王药师" in override and "皮试阴性，医生确认" in override and "pharmacist" not in override
    assert "王药师" in verified and "RX-001" in verified and "pharmacist" not in verified

    sale_no = await _pay(client, headers, done.text)
    rows = await fetch(
        "SELECT a.kind, a.reason, s.username FROM sale_approval a JOIN staff s ON s.id = a.staff"
        " JOIN sale ON sale.id = a.sale WHERE sale.sale_no = {} ORDER BY a.id",
        sale_no,
    )
    assert [(r["kind"], r["reason"], r["username"]) for r in rows] == [
        ("allergy_override", "皮试阴性，医生确认", "pharmacist"),
        ("rx_verified", "", "pharmacist"),
    ]
    receipt = (await client.get(f"/counter/sales/{sale_no}/receipt")).text
    assert receipt.count("王药师") == 2  # the override and the prescription check, by display name


async def test_a_logged_in_pharmacist_approves_everything_with_one_tap(client) -> None:
    await _stocked()
    member_no = await zhang_wei()
    headers = await _counter(client)
    await _scan(client, headers, member_no)
    html = (await _scan(client, headers, gtin("YS90001"))).text
    assert _pending(html) == "allergy_override rx_verified" and 'data-testid="approve-pin"' not in html
    form = {"rx_number": "RX-2", "rx_hospital": "华山医院", "reason": "医生确认可用"}
    done = await client.post("/counter/cart/approve", data=form, files={"x": ("", b"")}, headers=headers)
    assert done.status_code == 200, done.text
    assert _pending(done.text) == "" and _pay_enabled(done.text)


async def test_nothing_is_approved_for_a_form_that_cannot_pass_and_no_pin_try_is_used(client, staff_ids) -> None:
    await _stocked()
    member_no = await zhang_wei()
    headers = await _counter(client, "clerk")
    await _scan(client, headers, member_no)
    await _scan(client, headers, gtin("YS90001"))
    form = {"rx_number": "RX-3", "rx_hospital": "华山医院", "reason": " ", "username": "pharmacist", "pin": "0000"}
    refused = await client.post("/counter/cart/approve", data=form, files={"x": ("", b"")}, headers=headers)
    assert refused.status_code == 422 and 'data-testid="error-reason"' in refused.text
    assert 'value="RX-3"' in refused.text and 'value="pharmacist"' in refused.text  # nothing typed is lost
    assert await count("audit_event WHERE action = 'sale.pin_failed'") == 0
    changed = {**form, "reason": "医生确认", "pin": DEMO_PIN, "products": "999999"}
    stale = await client.post("/counter/cart/approve", data=changed, files={"x": ("", b"")}, headers=headers)
    assert stale.status_code == 422 and _pending(stale.text) == "allergy_override rx_verified"


async def test_five_wrong_pins_lock_the_pharmacist_and_the_right_pin_is_then_refused(client) -> None:
    await _stocked()
    member_no = await zhang_wei()
    headers = await _counter(client, "clerk")
    await _scan(client, headers, member_no)
    await _scan(client, headers, gtin("YS90004"))  # aspirin: a warning to acknowledge, not an override
    await _scan(client, headers, gtin("YS90008"))  # ibuprofen: NSAID, same class as the low NSAID allergy
    await _scan(client, headers, gtin("YS90002"))  # cefalexin: shares the side chain with penicillin → blocks
    for _ in range(8):  # today: eight wrong PINs, then the right one was accepted
        wrong = {"reason": "医生确认", "username": "pharmacist", "pin": "0000"}
        response = await client.post("/counter/cart/override", data=wrong, headers=headers)
        assert response.status_code == 422 and 'data-testid="error-pin"' in response.text
    right = {"reason": "医生确认", "username": "pharmacist", "pin": DEMO_PIN}
    refused = await client.post("/counter/cart/override", data=right, headers=headers)
    assert refused.status_code == 422
    message = re.search(r'data-testid="error-pin">([^<]*)<', refused.text).group(1)
    assert re.search(r"王药师的审核密码已锁定至\d\d:\d\d", message), message
    assert 'data-testid="override-done"' not in refused.text
    assert await count("audit_event WHERE action = 'sale.pin_failed'") == 9


async def test_a_low_criticality_warning_needs_one_tap_and_is_recorded_with_the_sale(client) -> None:
    await _stocked()
    member_no = await zhang_wei()
    headers = await _counter(client, "clerk")
    await _scan(client, headers, member_no)
    html = (await _scan(client, headers, gtin("YS90004"))).text  # aspirin, against a low NSAID allergy (hives)
    alert = re.search(r'<p class="line-alert alert-(\w+)" data-testid="line-alert" data-kind="allergy"', html)
    assert alert and alert.group(1) == "caution"  # a warning, never a block
    assert 'data-level="high"' not in html and _pending(html) is None  # no pharmacist is needed
    assert "低危" in html and "荨麻疹" in html and "需确认知晓" in html  # the rule that applied, in words
    assert 'data-code="allergy_ack"' in html and not _pay_enabled(html)
    aspirin = await _product_id("YS90004")
    tapped = await client.post(
        f"/counter/cart/lines/{aspirin}/acknowledge", data={"allergen_class": "nsaids"}, headers=headers
    )
    assert tapped.status_code == 200 and 'data-testid="ack-done"' in tapped.text and "李店员" in tapped.text
    assert 'data-testid="ack"' not in tapped.text and _pay_enabled(tapped.text)
    sale_no = await _pay(client, headers, tapped.text)
    rows = await fetch(
        "SELECT a.kind, a.line_no, a.allergen_class, a.at, st.username FROM sale_approval a"
        " JOIN staff st ON st.id = a.staff JOIN sale s ON s.id = a.sale WHERE s.sale_no = {}",
        sale_no,
    )
    assert [(r["kind"], r["line_no"], r["allergen_class"], r["username"]) for r in rows] == [
        ("allergy_acknowledged", 1, "nsaids", "clerk")
    ]
    assert rows[0]["at"] is not None


async def test_acknowledging_a_line_that_is_not_in_the_cart_is_404(client) -> None:
    await _stocked()
    headers = await _counter(client, "clerk")
    await _scan(client, headers, gtin("YS90007"))
    missing = await client.post("/counter/cart/lines/999999/acknowledge", data={"allergen_class": "x"}, headers=headers)
    assert missing.status_code == 404 and 'data-testid="cart-message"' in missing.text


async def test_each_warning_is_shown_once_on_its_line(client) -> None:
    await _stocked()
    headers = await _counter(client)
    member_no = await make_member("周健", status="none")
    await _scan(client, headers, member_no)
    await _scan(client, headers, gtin("YS90005"))
    html = (await _scan(client, headers, gtin("YS90006"))).text  # two calcium channel blockers (C08CA)
    cart = html[html.index('data-testid="cart"') :]
    assert cart.count('data-kind="duplicate"') == 2
    assert cart.count("C08CA") == 2  # each line's duplicate-therapy message, once (not again under the totals)
    assert 'data-testid="cart-warning"' not in cart

    await client.post("/counter/cart/clear", headers=headers)
    never_asked = await make_member("赵敏")
    await _scan(client, headers, never_asked)
    html = (await _scan(client, headers, gtin("YS90008"))).text  # ibuprofen has an allergen class
    cart = html[html.index('data-testid="cart"') :]
    assert cart.count("从未询问过敏史——请现在询问") == 1 and 'data-testid="ask-allergies"' in cart


async def test_the_prescription_photo_is_a_labelled_button_with_the_chosen_file_name(client) -> None:
    await _stocked()
    headers = await _counter(client, "clerk")
    html = (await _scan(client, headers, gtin("YS90001"))).text
    button = r'<label class="btn file-btn" data-testid="rx-image-pick">拍照或选择照片\s*<input id="rx-image"'
    assert re.search(button, html)  # the input lies over its labelled button: a tap anywhere on it opens the picker
    assert 'name="rx_image" type="file"' in html
    assert re.search(r'data-testid="rx-image-name" data-none="未选择照片">未选择照片</span>', html)
    assert 'id="rx-image-label">处方照片（选填）</span>' in html


async def test_the_api_takes_acknowledgements_and_lists_blocks_and_warnings_apart(client) -> None:
    await _stocked()
    member_no = await zhang_wei()
    body = {
        "idempotency_key": "pos-ack",
        "store": "SH001",
        "member_no": member_no,
        "lines": [{"code": "YS90004", "qty": 1}, {"code": "YS90007", "qty": 1}],
        "tenders": [{"kind": "cash", "amount": PRICE["YS90004"] + PRICE["YS90007"]}],
    }
    headers = await api_headers("clerk")
    waiting = await client.post("/api/v1/sales", json=body, headers=headers)
    assert waiting.status_code == 409
    assert waiting.json()["conflicts"] == []
    (warning,) = waiting.json()["unacknowledged"]
    assert (warning["line_no"], warning["recorded_class"], warning["level"]) == (1, "nsaids", "caution")
    assert waiting.json()["errors"][0]["field"] == "acknowledged"

    both = {
        **body,
        "idempotency_key": "pos-both",
        "lines": [{"code": "YS90004", "qty": 1}, {"code": "YS90002", "qty": 1}],  # aspirin, cefalexin (Rx)
        "prescription": {"number": "RX-5", "hospital": "仁济医院"},
    }
    blocked = await client.post("/api/v1/sales", json=both, headers=headers)
    assert blocked.status_code == 409
    assert [c["line_no"] for c in blocked.json()["conflicts"]] == [2]
    assert [u["line_no"] for u in blocked.json()["unacknowledged"]] == [1]

    acked = {**body, "acknowledged": [{"line_no": 1, "allergen_class": "nsaids"}]}
    created = await client.post("/api/v1/sales", json=acked, headers=headers)
    assert created.status_code == 201, created.text
    (approval,) = created.json()["approvals"]
    assert (approval["kind"], approval["line_no"], approval["allergen_class"], approval["by"]) == (
        "allergy_acknowledged",
        1,
        "nsaids",
        "李店员",
    )
    assert created.json()["lines"][0]["alerts"][0]["acknowledged_by_name"] == "李店员"
