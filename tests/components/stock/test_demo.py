"""Demo stock: seeded once, every batch explained by its ledger move."""

from __future__ import annotations

from app.components import stock
from app.db import fetch
from tests.components.stock.stock_data import (
    _ledger_matches,
    _product,
    _store_id,
)


async def test_seed_demo_stock_is_idempotent_and_keeps_the_ledger() -> None:
    products = [await _product(f"演示药品{i}", f"Demo drug {i}") for i in range(4)]
    created = await stock.seed_demo_stock()
    stores = len(await stock.stores())
    per_store = sum(2 + (p["id"] % 3 == 0) for p in products)
    assert created == stores * per_store + 2
    assert await stock.seed_demo_stock() == 0
    await _ledger_matches()
    statuses = await fetch("SELECT batch_no, status, expiry FROM stock_batch WHERE batch_no LIKE 'DEMO-%'")
    assert {r["batch_no"]: r["status"] for r in statuses} == {
        "DEMO-EXPIRED": "available",
        "DEMO-QUARANTINE": "quarantined",
    }
    store = await _store_id()
    sellable = await stock.sellable(store, [p["id"] for p in products])
    assert all(qty > 0 for qty in sellable.values())
