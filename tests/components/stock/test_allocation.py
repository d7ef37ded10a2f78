"""FEFO allocation for a sale: first expiry first, unsellable batches skipped, oversell, retries, locks."""

from __future__ import annotations

import asyncio

import pytest

from app.components import stock
from app.components.core.errors import ValidationFailed
from app.db import fetch, transaction
from app.i18n import use_language
from tests.components.stock.stock_data import (
    _days,
    _ledger_matches,
    _product,
    _receive,
    _sell,
    _store_id,
)
from tests.conftest import actor


async def test_sale_takes_first_expiry_first_and_skips_unsellable_batches() -> None:
    product = await _product()
    store = await _store_id()
    late = await _receive(product, "LATE", _days(300), 5)
    early = await _receive(product, "EARLY", _days(30), 2)
    quarantined = await _receive(product, "QUAR", _days(10), 9)
    recalled = await _receive(product, "RECALL", _days(11), 9)
    manager = await actor("manager")
    await stock.set_batch_status(quarantined.id, "quarantined", "damaged carton", manager)
    await stock.set_batch_status(recalled.id, "recalled", "maker's recall", manager)
    expired = await _receive(product, "OLD", _days(1), 4)
    await fetch("UPDATE stock_batch SET expiry = {} WHERE id = {}", _days(-1), expired.id)  # it expired since

    assert await stock.sellable(store, [product["id"], 999999]) == {product["id"]: 7, 999999: 0}
    allocations = await _sell(store, product["id"], 4, "S0001")
    assert [(a.batch_no, a.qty) for a in allocations] == [("EARLY", 2), ("LATE", 2)]
    on_hand = {r["id"]: r["on_hand"] for r in await fetch("SELECT id, on_hand FROM stock_batch")}
    assert on_hand[early.id] == 0 and on_hand[late.id] == 3
    assert on_hand[quarantined.id] == on_hand[recalled.id] == 9 and on_hand[expired.id] == 4
    assert await stock.sellable(store, [product["id"]]) == {product["id"]: 3}
    await _ledger_matches()


async def test_selling_more_than_stock_is_refused_with_the_product_and_what_is_left() -> None:
    product = await _product("布洛芬缓释胶囊", "Ibuprofen SR capsules")
    store = await _store_id()
    await _receive(product, "B1", _days(100), 3)
    with use_language("en"), pytest.raises(stock.OutOfStock) as err:
        await _sell(store, product["id"], 5, "S0002")
    assert err.value.errors == {"qty": "Only 3 of Ibuprofen SR capsules can be sold now (5 asked for)."}
    assert (err.value.available, err.value.requested) == (3, 5)
    assert isinstance(err.value, ValidationFailed)
    assert (await fetch("SELECT COUNT(*) AS n FROM stock_move WHERE kind = 'sale'"))[0]["n"] == 0
    assert await stock.sellable(store, [product["id"]]) == {product["id"]: 3}


async def test_oversell_allowed_records_the_shortfall_without_a_batch() -> None:
    product = await _product()
    store = await _store_id()
    batch = await _receive(product, "B1", _days(100), 3)
    allocations = await _sell(store, product["id"], 5, "S0003", allow_oversell=True)
    assert [(a.batch_id, a.qty) for a in allocations] == [(batch.id, 3), (None, 2)]
    moves = await fetch("SELECT batch, qty, key FROM stock_move WHERE kind = 'sale' ORDER BY id")
    assert [(m["batch"], m["qty"], m["key"]) for m in moves] == [
        (batch.id, -3, f"sale:S0003:1:{batch.id}"),
        (None, -2, "sale:S0003:1:none"),
    ]
    await _ledger_matches()
    assert stock.oversell_allowed() is False  # off unless YAOSHI_ALLOW_OVERSELL=1


async def test_a_retried_allocation_returns_the_first_and_moves_nothing() -> None:
    product = await _product()
    store = await _store_id()
    await _receive(product, "B1", _days(50), 2)
    await _receive(product, "B2", _days(80), 5)
    first = await _sell(store, product["id"], 4, "S0004", line_no=2)
    again = await _sell(store, product["id"], 4, "S0004", line_no=2)
    assert again == first
    assert (await fetch("SELECT SUM(on_hand) AS n FROM stock_batch"))[0]["n"] == 3
    assert (await fetch("SELECT COUNT(*) AS n FROM stock_move WHERE kind = 'sale'"))[0]["n"] == 2


async def test_ten_concurrent_sales_of_one_unit_against_five() -> None:
    product = await _product()
    store = await _store_id()
    await _receive(product, "B1", _days(40), 2)
    await _receive(product, "B2", _days(90), 3)
    results = await asyncio.gather(
        *[_sell(store, product["id"], 1, f"C{i:04d}") for i in range(10)], return_exceptions=True
    )
    assert sum(isinstance(r, list) for r in results) == 5
    assert sum(isinstance(r, stock.OutOfStock) for r in results) == 5
    assert (await fetch("SELECT SUM(on_hand) AS n FROM stock_batch"))[0]["n"] == 0
    assert (await fetch("SELECT SUM(qty) AS n FROM stock_move WHERE kind = 'sale'"))[0]["n"] == -5
    await _ledger_matches()


async def test_concurrent_retries_of_one_sale_line_move_once() -> None:
    product = await _product()
    store = await _store_id()
    await _receive(product, "B1", _days(40), 6)
    results = await asyncio.gather(*[_sell(store, product["id"], 2, "R0001") for _ in range(10)])
    assert all(r == results[0] for r in results)
    assert (await fetch("SELECT SUM(on_hand) AS n FROM stock_batch"))[0]["n"] == 4
    await _ledger_matches()


async def test_sales_taking_two_products_in_opposite_orders_all_complete() -> None:
    a, b = await _product(), await _product()
    store = await _store_id()
    await _receive(a, "A", _days(50), 50)
    await _receive(b, "B", _days(50), 50)
    pharmacist = await actor()

    async def sale(n: int, first: dict, second: dict) -> None:
        async with transaction():
            await stock.allocate_sale(store, first["id"], 1, f"X{n}", 1, pharmacist)
            await stock.allocate_sale(store, second["id"], 1, f"X{n}", 2, pharmacist)

    results = await asyncio.gather(
        *[sale(n, a, b) if n % 2 else sale(n, b, a) for n in range(10)], return_exceptions=True
    )
    assert results == [None] * 10  # no deadlock between A-then-B and B-then-A
    assert (await fetch("SELECT SUM(on_hand) AS n FROM stock_batch"))[0]["n"] == 80
    await _ledger_matches()
