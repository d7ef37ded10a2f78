"""Shared test helpers for stock: a product with a GTIN, receipts, sales and the ledger invariant."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from app.components import stock
from app.components.core.clock import store_today
from app.components.scanning import gs1_check_digit
from app.db import fetch, transaction
from tests.conftest import actor

_SERIAL = itertools.count(1)


async def _product(name: str = "阿莫西林胶囊", name_en: str = "Amoxicillin capsules") -> dict:
    """A product with a GTIN-13 (stored as GTIN-14 like the catalog does); returns id, sku, gtin13."""
    n = next(_SERIAL)
    sku = f"YT{n:05d}"
    body = f"69{n + 500000:010d}"
    gtin13 = body + gs1_check_digit(body)
    rows = await fetch(
        "INSERT INTO product (sku, name_zh, name_en, generic_zh, generic_en, atc, allergen_classes, substance,"
        " rx_class, category_l1, category_l2, form, price, pack_units, units_per_day, cold_chain, dtp,"
        " points_excluded, knowledge, active, created_at, updated_at)"
        " VALUES ({}, {}, {}, '', '', '', '', '', 'OTC', '', '', '', 1000, 10, 0, {}, {}, {}, {}, {}, {}, {})"
        " RETURNING id",
        sku,
        name,
        name_en,
        False,
        False,
        False,
        "{}",
        True,
        datetime.now(UTC),
        datetime.now(UTC),
    )
    pid = rows[0]["id"]
    await fetch("INSERT INTO product_code (code, product, kind) VALUES ({}, {}, 'gtin')", "0" + gtin13, pid)
    return {"id": pid, "sku": sku, "gtin13": gtin13}


async def _store_id(code: str = "SH001") -> int:
    return (await fetch("SELECT id FROM store WHERE code = {}", code))[0]["id"]


def _days(n: int) -> date:
    return store_today() + timedelta(days=n)


async def _receive(product: dict, batch: str, expiry: date, qty: int, store: str = "SH001", key: str = ""):
    return await stock.receive(
        stock.Receipt(store_code=store, product=product["sku"], batch_no=batch, expiry=expiry, qty=qty, key=key),
        await actor("manager" if store == "SH001" else "admin"),
    )


async def _ledger_matches() -> None:
    """The cache invariant: every batch's on_hand is the sum of its moves and never negative."""
    rows = await fetch(
        "SELECT b.id, b.on_hand, COALESCE(SUM(m.qty), 0) AS moved FROM stock_batch b"
        " LEFT JOIN stock_move m ON m.batch = b.id GROUP BY b.id, b.on_hand"
    )
    for row in rows:
        assert row["on_hand"] == row["moved"], row
        assert row["on_hand"] >= 0, row


async def _sell(store_id: int, product_id: int, qty: int, sale_no: str, line_no: int = 1, **kw):
    async with transaction():
        return await stock.allocate_sale(store_id, product_id, qty, sale_no, line_no, await actor(), **kw)


async def _expired(product: dict, batch: str, qty: int = 4, days_ago: int = 1):
    """A batch received while good that has since expired (expired stock cannot be received)."""
    view = await _receive(product, batch, _days(1), qty)
    await fetch("UPDATE stock_batch SET expiry = {} WHERE id = {}", _days(-days_ago), view.id)
    return await stock.get_batch(view.id)
