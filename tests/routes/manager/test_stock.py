"""Stock routes: the receipts API, the manager's stock pages, receiving a delivery, batch status and counts."""

from __future__ import annotations

import asyncio
import re

from app.components import stock
from app.components.audit import log as audit
from app.db import fetch
from tests.components.stock.test_inventory import _days, _product, _receive
from tests.conftest import api_headers, login

HX = {"HX-Request": "true"}


def _csrf(text: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', text).group(1)


# ---------------------------------------------------------------- API


async def test_api_receipt_201_then_replay_200_with_the_same_body(client) -> None:
    product = await _product()
    headers = await api_headers("manager")
    body = {"product": product["gtin13"], "store": "SH001", "batch": "A1", "expiry": _days(90).isoformat(), "qty": 12}
    first = await client.post("/api/v1/stock/receipts", json={**body, "key": "erp-1"}, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["on_hand"] == 12 and first.json()["product"] == product["sku"]
    assert first.json()["batch"] == "A1" and first.json()["expiry"] == _days(90).isoformat()
    again = await client.post("/api/v1/stock/receipts", json={**body, "key": "erp-1"}, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    no_store = await client.post("/api/v1/stock/receipts", json={**body, "store": "", "qty": 3}, headers=headers)
    assert no_store.status_code == 201 and no_store.json()["on_hand"] == 15  # the token's own store
    moves = await fetch("SELECT COUNT(*) AS n FROM stock_move")
    assert moves[0]["n"] == 2


async def test_api_receipt_concurrent_replays_add_once(client) -> None:
    product = await _product()
    headers = await api_headers("admin")
    body = {"product": product["sku"], "store": "SH002", "batch": "C1", "expiry": _days(90).isoformat(), "qty": 4}
    responses = await asyncio.gather(
        *[client.post("/api/v1/stock/receipts", json={**body, "key": "k"}, headers=headers) for _ in range(5)]
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 201]
    assert {r.json()["on_hand"] for r in responses} == {4}


async def test_api_receipt_field_errors(client) -> None:
    product = await _product()
    headers = await api_headers("admin")
    response = await client.post(
        "/api/v1/stock/receipts",
        json={"product": "YS99999", "store": "ZZ1", "batch": "", "expiry": _days(-2).isoformat(), "qty": 0},
        headers=headers,
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"product", "store", "batch", "expiry", "qty"}
    wrong_types = await client.post(
        "/api/v1/stock/receipts",
        json={"product": product["sku"], "store": "SH001", "batch": "B", "expiry": "31/12/2030", "qty": "many"},
        headers=headers,
    )
    assert wrong_types.status_code == 422
    assert {e["field"] for e in wrong_types.json()["errors"]} == {"expiry", "qty"}


async def test_api_store_manager_cannot_receive_into_another_store(client) -> None:
    product = await _product()
    response = await client.post(
        "/api/v1/stock/receipts",
        json={"product": product["sku"], "store": "SH002", "batch": "B", "expiry": _days(9).isoformat(), "qty": 1},
        headers={**await api_headers("manager"), "Accept-Language": "en-GB,en;q=0.9"},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "store", "message": "You may receive stock only into your own store (SH001)."}
    ]
    # Without Accept-Language an integration gets the chain's default language.
    chinese = await client.post(
        "/api/v1/stock/receipts",
        json={"product": product["sku"], "store": "SH002", "batch": "B", "expiry": _days(9).isoformat(), "qty": 1},
        headers=await api_headers("manager"),
    )
    assert chinese.json()["errors"][0]["message"] == "您只能为本门店（SH001）入库。"


async def test_api_receipts_need_a_stock_role(client) -> None:
    body = {"product": "x", "store": "SH001", "batch": "B", "expiry": "2030-01-01", "qty": 1}
    assert (await client.post("/api/v1/stock/receipts", json=body)).status_code == 401
    clerk = await client.post("/api/v1/stock/receipts", json=body, headers=await api_headers("clerk"))
    assert clerk.status_code == 403


# ---------------------------------------------------------------- manager pages


async def test_stock_page_shows_the_managers_own_store_and_hq_picks_one(client) -> None:
    amox = await _product("阿莫西林胶囊", "Amoxicillin")
    await _receive(amox, "A1", _days(100), 7)
    await _receive(amox, "X1", _days(100), 2, store="SH002")
    await login(client, "manager")
    page = await client.get("/manager/stock", params={"store": "SH002"})  # ignored: a manager sees their store
    assert page.status_code == 200
    assert 'data-testid="stock-sellable">7<' in page.text
    client.cookies.clear()
    await login(client, "analyst")
    other = await client.get("/manager/stock", params={"store": "SH002"}, headers=HX)
    assert 'data-testid="stock-sellable">2<' in other.text and "<html" not in other.text
    missing = await client.get("/manager/stock", params={"store": "NOPE"})
    assert missing.status_code == 404 and "NOPE" in missing.text


async def test_product_page_lists_batches_first_expiry_first(client) -> None:
    amox = await _product()
    await _receive(amox, "LATE", _days(300), 1)
    await _receive(amox, "EARLY", _days(30), 1)
    await login(client, "analyst")
    page = await client.get(f"/manager/stock/products/{amox['sku']}", params={"store": "SH001"})
    assert page.status_code == 200
    assert re.findall(r'data-batch="([^"]+)"', page.text) == ["EARLY", "LATE"]
    assert 'data-testid="status-form"' not in page.text  # analysts read only
    assert (await client.get("/manager/stock/products/YS99999")).status_code == 404


async def test_quarantine_needs_a_reason_and_is_audited(client) -> None:
    amox = await _product()
    batch = await _receive(amox, "Q1", _days(60), 5)
    token = await login(client, "manager")
    missing = await client.post(
        f"/manager/stock/batches/{batch.id}/status",
        data={"status": "quarantined", "reason": ""},
        headers={**HX, "x-csrftoken": token},
    )
    assert missing.status_code == 422 and 'data-testid="error-reason"' in missing.text
    done = await client.post(
        f"/manager/stock/batches/{batch.id}/status",
        data={"status": "quarantined", "reason": "carton wet"},
        headers={**HX, "x-csrftoken": token},
    )
    assert done.status_code == 200 and 'data-testid="release"' in done.text
    assert (await stock.get_batch(batch.id)).status == "quarantined"
    assert await audit.count(stock.STATUS_ACTION) == 1
    other = await _receive(amox, "O1", _days(60), 5, store="SH002")
    foreign = await client.post(
        f"/manager/stock/batches/{other.id}/status",
        data={"status": "quarantined", "reason": "x"},
        headers={**HX, "x-csrftoken": token},
    )
    assert foreign.status_code == 404


async def test_count_correction_from_the_product_page(client) -> None:
    amox = await _product()
    batch = await _receive(amox, "C1", _days(60), 5)
    token = await login(client, "manager")
    bad = await client.post(
        f"/manager/stock/batches/{batch.id}/count",
        data={"counted": "lots", "reason": "", "key": "k1"},
        headers={**HX, "x-csrftoken": token},
    )
    assert bad.status_code == 422 and 'data-testid="error-counted"' in bad.text and 'value="lots"' in bad.text
    for _ in range(2):  # a double tap counts once
        ok = await client.post(
            f"/manager/stock/batches/{batch.id}/count",
            data={"counted": "4", "reason": "stocktake", "key": "k2"},
            headers={**HX, "x-csrftoken": token},
        )
        assert ok.status_code == 200
    assert (await stock.get_batch(batch.id)).on_hand == 4
    assert (await fetch("SELECT COUNT(*) AS n FROM stock_move WHERE kind = 'adjust'"))[0]["n"] == 1


async def test_receive_form_fills_from_a_gs1_scan_and_receives_once(client) -> None:
    amox = await _product("阿莫西林胶囊", "Amoxicillin")
    await login(client, "manager")
    page = await client.get("/manager/stock/receive")
    assert page.status_code == 200 and 'data-testid="receive-form"' in page.text
    key = re.search(r'name="key" value="([^"]+)"', page.text).group(1)
    expiry = _days(400)
    scan = f"]d201{'0' + amox['gtin13']}17{expiry:%y%m%d}10LOT9"
    filled = await client.get("/manager/stock/receive", params={"product": scan, "key": key}, headers=HX)
    assert filled.status_code == 200 and "<html" not in filled.text
    assert f'value="{amox["sku"]}"' in filled.text and 'value="LOT9"' in filled.text
    assert f'value="{expiry.isoformat()}"' in filled.text
    form = {"_csrf_token": _csrf(page.text), "product": amox["sku"], "batch": "LOT9", "expiry": expiry.isoformat()}
    form |= {"qty": "10", "key": key, "store": "SH001"}
    for _ in range(2):  # a double tap receives once
        done = await client.post("/manager/stock/receive", data=form, headers=HX)
        assert done.status_code == 200 and 'data-testid="received"' in done.text
    rows = await fetch("SELECT on_hand FROM stock_batch WHERE batch_no = 'LOT9'")
    assert [r["on_hand"] for r in rows] == [10]


async def test_receive_form_keeps_what_was_typed_on_errors(client) -> None:
    await login(client, "manager")
    page = await client.get("/manager/stock/receive")
    form = {"_csrf_token": _csrf(page.text), "product": "YS99999", "batch": "KEEP1", "expiry": "", "qty": "0"}
    response = await client.post("/manager/stock/receive", data=form, headers=HX)
    assert response.status_code == 422
    for name in ("product", "expiry", "qty"):
        assert f'data-testid="error-{name}"' in response.text
    assert 'value="KEEP1"' in response.text and 'value="YS99999"' in response.text
    bad_scan = await client.get("/manager/stock/receive", params={"product": "6901234567891"}, headers=HX)
    assert bad_scan.status_code == 422 and 'data-testid="error-product"' in bad_scan.text


async def test_expiring_list_for_the_store_and_for_hq(client) -> None:
    amox = await _product()
    await _receive(amox, "SOON", _days(20), 3)
    await _receive(amox, "LATER", _days(150), 3)
    await _receive(amox, "ELSEWHERE", _days(10), 3, store="SH002")
    await login(client, "manager")
    page = await client.get("/manager/stock/expiring", params={"days": 30})
    assert re.findall(r'data-testid="expiring-row" data-batch="([^"]+)"', page.text) == ["SOON"]
    client.cookies.clear()
    await login(client, "admin")
    chain = await client.get("/manager/stock/expiring", params={"days": 180}, headers=HX)
    assert re.findall(r'data-testid="expiring-row" data-batch="([^"]+)"', chain.text) == ["ELSEWHERE", "SOON", "LATER"]


# ---------------------------------------------------------------- expired batches on the lists


async def _expired_batch(product: dict, batch: str, qty: int = 6, store: str = "SH001") -> stock.BatchView:
    view = await _receive(product, batch, _days(1), qty, store=store)
    await fetch("UPDATE stock_batch SET expiry = {} WHERE id = {}", _days(-10), view.id)
    return view


def _row(html: str, batch: str) -> str:
    """One batch's row of the expiring list, or its card on the product page."""
    match = re.search(rf'<(tr|article)[^>]*data-batch="{batch}".*?</\1>', html, re.S)
    assert match, f"no row for {batch}"
    return match.group(0)


async def test_an_expired_batch_shows_expired_in_red_on_every_list(client) -> None:
    amox = await _product()
    await _expired_batch(amox, "OLD")
    await _receive(amox, "GOOD", _days(40), 3)
    await login(client, "manager")
    expiring = (await client.get("/manager/stock/expiring")).text
    product = (await client.get(f"/manager/stock/products/{amox['sku']}")).text
    for html in (expiring, product):
        old, good = _row(html, "OLD"), _row(html, "GOOD")
        assert 'data-testid="batch-state" data-state="expired">已过期<' in old and "正常" not in old
        assert "badge-expired" in old and "flag" not in old  # red, not the amber flag it had
        assert 'data-state="available">正常<' in good
    # The actions for the expired batch are on the list itself: quarantine and write-off; none for a sellable one.
    assert 'data-testid="write-off"' in _row(expiring, "OLD") and 'data-testid="quarantine"' in _row(expiring, "OLD")
    assert 'data-testid="write-off"' not in _row(expiring, "GOOD")
    assert 'data-testid="write-off"' in _row(product, "OLD") and 'data-testid="release"' not in _row(product, "OLD")
    client.cookies.clear()
    await login(client, "analyst")  # reads, acts on nothing
    assert 'data-testid="write-off"' not in (await client.get("/manager/stock/expiring")).text


async def test_write_off_from_the_expiring_list_moves_the_stock_out_once(client) -> None:
    amox = await _product()
    old = await _expired_batch(amox, "OLD")
    token = await login(client, "manager")
    headers = {**HX, "x-csrftoken": token}
    form = {"key": "wo-1", "back": "expiring", "store": "", "days": "30"}
    missing = await client.post(
        f"/manager/stock/batches/{old.id}/write-off", data={**form, "reason": ""}, headers=headers
    )
    assert missing.status_code == 422 and "<html" not in missing.text
    assert 'data-testid="error-reason"' in _row(missing.text, "OLD") and 'value="wo-1"' in missing.text
    for _ in range(2):  # a double tap writes off once
        done = await client.post(
            f"/manager/stock/batches/{old.id}/write-off", data={**form, "reason": "过期报损"}, headers=headers
        )
        assert done.status_code == 200 and 'data-testid="expiring-table"' in done.text
        assert 'data-testid="batch-changed"' in done.text and 'data-batch="OLD"' not in done.text  # nothing left
    moves = await fetch("SELECT qty FROM stock_move WHERE batch = {} AND kind = 'write_off'", old.id)
    assert [m["qty"] for m in moves] == [-6]
    assert await audit.count(stock.WRITE_OFF_ACTION) == 1
    good = await _receive(amox, "GOOD", _days(40), 3)
    refused = await client.post(
        f"/manager/stock/batches/{good.id}/write-off", data={**form, "key": "wo-2", "reason": "x"}, headers=headers
    )
    assert refused.status_code == 422 and 'data-testid="error-reason"' in refused.text
    foreign = await _expired_batch(amox, "FAR", store="SH002")
    other = await client.post(
        f"/manager/stock/batches/{foreign.id}/write-off", data={**form, "key": "wo-3", "reason": "x"}, headers=headers
    )
    assert other.status_code == 404
    assert (await stock.get_batch(good.id)).on_hand == 3 and (await stock.get_batch(foreign.id)).on_hand == 6


async def test_quarantine_from_the_expiring_list_comes_back_to_the_list(client) -> None:
    amox = await _product()
    old = await _expired_batch(amox, "OLD")
    token = await login(client, "admin")
    response = await client.post(
        f"/manager/stock/batches/{old.id}/status",
        data={"status": "quarantined", "reason": "下架", "back": "expiring", "store": "SH001", "days": "60"},
        headers={**HX, "x-csrftoken": token},
    )
    assert response.status_code == 200 and 'data-testid="expiring-table"' in response.text
    row = _row(response.text, "OLD")
    assert 'data-state="expired">' in row and "badge-quarantined" in row and 'data-testid="quarantine"' not in row
    assert (await stock.get_batch(old.id)).status == "quarantined"
    assert await audit.count(stock.STATUS_ACTION) == 1
    release = await client.post(
        f"/manager/stock/batches/{old.id}/status",
        data={"status": "available", "reason": "oops"},
        headers={**HX, "x-csrftoken": token},
    )
    assert release.status_code == 422 and 'data-testid="error-status"' in release.text
