"""Receiving: batches created by a receipt, keys that make a replay add nothing, every field checked."""

from __future__ import annotations

import asyncio

import pytest

from app.components import stock
from app.components.core.errors import ValidationFailed
from app.components.stock import receiving
from app.db import fetch
from app.i18n import use_language
from tests.components.stock.stock_data import (
    _days,
    _ledger_matches,
    _product,
    _receive,
)
from tests.conftest import actor


async def test_receipt_creates_the_batch_and_a_replayed_key_adds_nothing() -> None:
    product = await _product()
    first = await _receive(product, "L2401", _days(200), 12, key="delivery-1")
    assert (first.batch_no, first.on_hand, first.status, first.replayed) == ("L2401", 12, "available", False)
    again = await _receive(product, "L2401", _days(200), 12, key="delivery-1")
    assert again.id == first.id and again.on_hand == 12 and again.replayed
    more = await _receive(product, "L2401", _days(200), 5)  # no key: a second delivery of the same batch
    assert more.id == first.id and more.on_hand == 17
    moves = await fetch("SELECT qty, kind FROM stock_move WHERE batch = {} ORDER BY id", first.id)
    assert [(m["qty"], m["kind"]) for m in moves] == [(12, "receipt"), (5, "receipt")]
    await _ledger_matches()


async def test_receipts_without_a_key_are_each_new() -> None:
    product = await _product()
    await _receive(product, "L1", _days(100), 3)
    view = await _receive(product, "L1", _days(100), 3)
    assert view.on_hand == 6


async def test_a_key_reused_for_another_receipt_is_refused() -> None:
    product = await _product()
    await _receive(product, "L1", _days(100), 3, key="k1")
    with use_language("en"), pytest.raises(ValidationFailed) as err:
        await _receive(product, "L1", _days(100), 4, key="k1")
    assert err.value.errors == {"key": "This key was already used for a different receipt."}


async def test_ten_concurrent_identical_receipts_add_once() -> None:
    product = await _product()
    results = await asyncio.gather(*[_receive(product, "L7", _days(90), 8, key="same") for _ in range(10)])
    assert {r.id for r in results} == {results[0].id}
    rows = await fetch("SELECT on_hand FROM stock_batch WHERE id = {}", results[0].id)
    assert rows[0]["on_hand"] == 8
    assert sum(not r.replayed for r in results) == 1
    await _ledger_matches()


async def test_receipt_resolves_gtin_and_fills_batch_and_expiry_from_a_gs1_scan() -> None:
    product = await _product()
    manager = await actor("manager")
    by_gtin = await stock.receive(stock.Receipt("SH001", product["gtin13"], "G1", _days(50).isoformat(), "4"), manager)
    assert by_gtin.product_id == product["id"] and by_gtin.on_hand == 4
    expiry = _days(400)
    scan = f"]d201{'0' + product['gtin13']}17{expiry:%y%m%d}10LOT42\x1d21SER1"
    view = await stock.receive(stock.Receipt("SH001", scan, qty=6), manager)
    assert (view.product_id, view.batch_no, view.expiry, view.on_hand) == (product["id"], "LOT42", expiry, 6)


async def test_receipt_field_errors_all_at_once() -> None:
    manager = await actor("manager")
    with use_language("en"):
        with pytest.raises(ValidationFailed) as err:
            await stock.receive(stock.Receipt("XX999", "YT99999", "B1", _days(-1), 0), manager)
        assert err.value.errors == {
            "store": "No store with code XX999.",
            "product": "No product has the SKU or code YT99999.",
            "expiry": f"This batch expired on {_days(-1).isoformat()}: expired stock cannot be received.",
            "qty": "Enter how many packs arrived (a whole number above zero).",
        }
        with pytest.raises(ValidationFailed) as err:
            await stock.receive(stock.Receipt("", "", "", "2026-13-45", "-3"), manager)
        assert set(err.value.errors) == {"store", "product", "batch", "expiry", "qty"}
        assert err.value.errors["expiry"] == "Enter the expiry date as YYYY-MM-DD."
        with pytest.raises(ValidationFailed) as err:
            await stock.receive(stock.Receipt("SH001", "6901234567891", "B1", _days(5), 1), manager)
        assert "check digit" in err.value.errors["product"]


async def test_an_expiry_years_beyond_any_shelf_life_is_a_typing_error() -> None:
    product = await _product()
    manager = await actor("manager")
    far = _days(366 * receiving.MAX_SHELF_YEARS + 31)
    for typed in (far, "9999-12-31"):
        with use_language("en"), pytest.raises(ValidationFailed) as err:
            await stock.receive(stock.Receipt("SH001", product["sku"], "B9", typed, 2), manager)
        assert err.value.errors == {
            "expiry": f"An expiry more than {receiving.MAX_SHELF_YEARS} years ahead is not on any carton:"
            " check the year."
        }
    view = await stock.receive(stock.Receipt("SH001", product["sku"], "B9", _days(365 * 5), 2), manager)
    assert view.on_hand == 2


async def test_a_store_manager_receives_only_into_their_own_store() -> None:
    product = await _product()
    with use_language("en"), pytest.raises(ValidationFailed) as err:
        await stock.receive(stock.Receipt("SH002", product["sku"], "B1", _days(30), 2), await actor("manager"))
    assert err.value.errors == {"store": "You may receive stock only into your own store (SH001)."}
    view = await stock.receive(stock.Receipt("SH002", product["sku"], "B1", _days(30), 2), await actor("admin"))
    assert view.store_code == "SH002"


async def test_same_batch_with_another_expiry_or_recalled_is_refused() -> None:
    product = await _product()
    first = await _receive(product, "B9", _days(60), 2)
    with use_language("en"):
        with pytest.raises(ValidationFailed) as err:
            await _receive(product, "B9", _days(61), 2)
        assert "recorded with expiry" in err.value.errors["expiry"]
        await stock.set_batch_status(first.id, "recalled", "maker's recall", await actor("manager"))
        with pytest.raises(ValidationFailed) as err:
            await _receive(product, "B9", _days(60), 2)
        assert err.value.errors == {"batch": "Batch B9 is recalled and cannot be received."}
