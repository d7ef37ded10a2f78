"""A store's stock list and the expiring list."""

from __future__ import annotations

from app.components import stock
from app.i18n import use_language
from tests.components.stock.stock_data import (
    _days,
    _product,
    _receive,
    _store_id,
)
from tests.conftest import actor


async def test_store_stock_and_expiring_lists() -> None:
    amox = await _product("阿莫西林胶囊", "Amoxicillin capsules")
    ibu = await _product("布洛芬缓释胶囊", "Ibuprofen SR capsules")
    store = await _store_id()
    await _receive(amox, "A1", _days(20), 3)
    await _receive(amox, "A2", _days(200), 5)
    quarantined = await _receive(ibu, "I1", _days(15), 4)
    await stock.set_batch_status(quarantined.id, "quarantined", "damaged", await actor("manager"))
    await _receive(ibu, "I2", _days(60), 1, store="SH002")  # another store
    with use_language("en"):
        page = await stock.store_stock(store)
        assert [(r.sku, r.sellable, r.blocked, r.nearest_expiry, r.batches) for r in page.rows] == [
            (amox["sku"], 8, 0, _days(20), 2),
            (ibu["sku"], 0, 4, None, 1),
        ]
        found = await stock.store_stock(store, q="IBUPROFEN")
        assert [r.name for r in found.rows] == ["Ibuprofen SR capsules"]
        small = await stock.store_stock(store, page=1, per_page=1)
        assert small.has_next and len(small.rows) == 1
    soon = await stock.expiring(store, 30)
    assert [b.batch_no for b in soon] == ["I1", "A1"]
    assert [b.batch_no for b in await stock.expiring(None, 90)] == ["I1", "A1", "I2"]
