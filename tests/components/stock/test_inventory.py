"""Stock by batch: receipts, first-expiry-first-out sales, returns into quarantine, status changes, counts, ledger."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.components.audit import log as audit
from app.components.core.clock import store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.scanning import gs1_check_digit
from app.components.stock import inventory as stock
from app.db import fetch, transaction
from app.i18n import use_language
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


# ---------------------------------------------------------------- receipts


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


def test_the_api_body_of_a_batch_past_its_expiry_says_expired() -> None:
    view = stock.BatchView(1, 1, "SH001", 1, "YS1", "维生素C", "OLD", _days(-1), stock.AVAILABLE, 3)
    assert (view.as_json()["status"], view.as_json()["state"]) == ("available", "expired")
    fresh = stock.BatchView(2, 1, "SH001", 1, "YS1", "维生素C", "NEW", _days(1), stock.AVAILABLE, 3)
    assert fresh.as_json()["state"] == "available"


async def test_an_expiry_years_beyond_any_shelf_life_is_a_typing_error() -> None:
    product = await _product()
    manager = await actor("manager")
    far = _days(366 * stock.MAX_SHELF_YEARS + 31)
    for typed in (far, "9999-12-31"):
        with use_language("en"), pytest.raises(ValidationFailed) as err:
            await stock.receive(stock.Receipt("SH001", product["sku"], "B9", typed, 2), manager)
        assert err.value.errors == {
            "expiry": f"An expiry more than {stock.MAX_SHELF_YEARS} years ahead is not on any carton: check the year."
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


# ---------------------------------------------------------------- sales


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


# ---------------------------------------------------------------- returns


async def test_a_return_goes_into_quarantine_from_the_batches_the_line_took() -> None:
    product = await _product()
    store = await _store_id()
    early = await _receive(product, "E", _days(20), 2)
    late = await _receive(product, "L", _days(200), 10)
    await _sell(store, product["id"], 5, "S0010", line_no=1)
    manager = await actor("manager")
    async with transaction():
        first = await stock.quarantine_return(store, "S0010", 1, 3, "T0001", manager)
    # Nothing is sellable again: the three units wait in quarantine, by the batch they came from.
    on_hand = {r["id"]: r["on_hand"] for r in await fetch("SELECT id, on_hand FROM stock_batch")}
    assert on_hand == {early.id: 0, late.id: 7}
    packs = await stock.returned_packs(store)
    assert [(p.batch_no, p.qty, p.status) for p in packs] == [("E", 2, "held"), ("L", 1, "held")]
    assert sorted(first) == sorted(p.id for p in packs)
    async with transaction():  # a retry of the same return moves nothing and holds nothing more
        again = await stock.quarantine_return(store, "S0010", 1, 3, "T0001", manager)
    assert sorted(again) == sorted(first)
    async with transaction():
        await stock.quarantine_return(store, "S0010", 1, 2, "T0002", manager)
    assert sum(p.qty for p in await stock.returned_packs(store)) == 5
    with use_language("en"), pytest.raises(ValidationFailed) as err:
        async with transaction():
            await stock.quarantine_return(store, "S0010", 1, 1, "T0003", manager)
    assert err.value.errors == {"qty": "At most 0 of this line can still be returned."}
    with pytest.raises(NotFound):
        async with transaction():
            await stock.quarantine_return(store, "S0010", 9, 1, "T0004", manager)
    await _ledger_matches()


async def test_a_manager_releases_a_returned_pack_to_its_batch_or_writes_it_off_once() -> None:
    product = await _product()
    store = await _store_id()
    batch = await _receive(product, "R1", _days(200), 10)
    await _sell(store, product["id"], 4, "S0020", line_no=1)
    manager = await actor("manager")
    async with transaction():
        await stock.quarantine_return(store, "S0020", 1, 3, "T0020", manager)
        await stock.quarantine_return(store, "S0020", 1, 1, "T0021", manager)
    three, one = await stock.returned_packs(store)
    assert (await stock.sellable(store, [product["id"]]))[product["id"]] == 6

    with pytest.raises(ValidationFailed) as no_reason:
        await stock.release_returned(three.id, " ", manager)
    assert set(no_reason.value.errors) == {"reason"}
    with pytest.raises(NotFound):  # another store's manager does not see it
        await stock.release_returned(three.id, "sealed", await actor("pharmacist2"))
    results = await asyncio.gather(*(stock.release_returned(three.id, "sealed, checked", manager) for _ in range(3)))
    assert {r.status for r in results} == {stock.RELEASED}
    assert (await stock.get_batch(batch.id)).on_hand == 9  # released once, whatever the taps
    assert (await stock.sellable(store, [product["id"]]))[product["id"]] == 9
    released = await stock.write_off_returned(three.id, "too late", manager)
    assert released.status == stock.RELEASED  # a decided pack stays decided

    off = await stock.write_off_returned(one.id, "box crushed", manager)
    assert off.status == stock.WRITTEN_OFF and off.decided_by_name == "陈店长" and off.decision_reason == "box crushed"
    assert (await stock.get_batch(batch.id)).on_hand == 9
    assert await stock.returned_packs(store) == []
    assert [p.id for p in await stock.returned_packs(store, held=False)] == [one.id, three.id]
    actions = [r["action"] for r in await fetch("SELECT action FROM audit_event ORDER BY id")]
    assert actions == [stock.RELEASE_ACTION, stock.RETURNED_WRITE_OFF_ACTION]
    await _ledger_matches()


async def test_restricted_expired_recalled_and_batchless_packs_can_only_be_written_off() -> None:
    product = await _product()
    store = await _store_id()
    batch = await _receive(product, "X1", _days(200), 10)
    await _sell(store, product["id"], 4, "S0030", line_no=1)
    await _sell(store, product["id"], 8, "S0031", line_no=1, allow_oversell=True)  # 6 from the batch, 2 short
    manager = await actor("manager")
    async with transaction():
        await stock.quarantine_return(store, "S0030", 1, 1, "T0030", manager, restricted=True)
        await stock.quarantine_return(store, "S0030", 1, 1, "T0031", manager)
        await stock.quarantine_return(store, "S0031", 1, 8, "T0032", manager)
    restricted, plain, from_batch, batchless = await stock.returned_packs(store)
    assert (from_batch.qty, batchless.qty, batchless.batch_id) == (6, 2, None)
    with use_language("en"), pytest.raises(ValidationFailed) as err:
        await stock.release_returned(restricted.id, "looks fine", manager)
    assert "not resold" in err.value.errors["reason"]
    with pytest.raises(ValidationFailed):
        await stock.release_returned(batchless.id, "looks fine", manager)
    await stock.set_batch_status(batch.id, stock.RECALLED, "maker's recall", manager)
    assert (await stock.returned_pack(plain.id)).release_refusal
    with pytest.raises(ValidationFailed):
        await stock.release_returned(plain.id, "sealed", manager)
    assert (await stock.write_off_returned(plain.id, "recalled batch", manager)).status == stock.WRITTEN_OFF
    await _ledger_matches()


# ---------------------------------------------------------------- the ledger property


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("receive"), st.integers(0, 3), st.integers(-2, 200), st.integers(1, 20)),
            st.tuples(st.just("sell"), st.integers(1, 25), st.booleans()),
            st.tuples(st.just("return"), st.integers(0, 10), st.integers(1, 10)),
            st.tuples(st.just("status"), st.integers(0, 3), st.sampled_from(stock.STATUSES)),
        ),
        max_size=15,
    )
)
async def test_any_sequence_keeps_on_hand_equal_to_the_ledger(ops: list[tuple]) -> None:
    product = await _product()
    store = await _store_id()
    manager = await actor("manager")
    batches: list[int] = []
    sales: list[tuple[str, int]] = []
    for n, op in enumerate(ops):
        try:
            if op[0] == "receive":
                _, batch, expiry_days, qty = op
                view = await _receive(product, f"P{batch}", _days(expiry_days), qty)
                batches.append(view.id)
            elif op[0] == "sell":
                _, qty, oversell = op
                sale_no = f"H{product['id']}-{n}"
                await _sell(store, product["id"], qty, sale_no, allow_oversell=oversell)
                sales.append((sale_no, qty))
            elif op[0] == "return" and sales:
                _, which, qty = op
                sale_no, sold = sales[which % len(sales)]
                async with transaction():
                    await stock.quarantine_return(store, sale_no, 1, min(qty, sold), f"T{n}", manager)
            elif op[0] == "status" and batches:
                _, which, status = op
                await stock.set_batch_status(batches[which % len(batches)], status, "property test", manager)
        except ValidationFailed:
            pass  # refusals (expired receipt, short stock, over-return, recalled) must change nothing
        await _ledger_matches()
    sellable = (await stock.sellable(store, [product["id"]]))[product["id"]]
    rows = await fetch(
        "SELECT SUM(on_hand) AS n FROM stock_batch WHERE product = {} AND status = 'available' AND expiry >= {}",
        product["id"],
        store_today(),
    )
    assert sellable == (rows[0]["n"] or 0)


# ---------------------------------------------------------------- status, adjustments, views


async def test_status_changes_are_audited_and_recalled_is_final() -> None:
    product = await _product()
    batch = await _receive(product, "B1", _days(60), 4)
    manager = await actor("manager")
    with use_language("en"):
        with pytest.raises(ValidationFailed) as err:
            await stock.set_batch_status(batch.id, "lost", "", manager)
        assert set(err.value.errors) == {"status", "reason"}
        view = await stock.set_batch_status(batch.id, "quarantined", "carton wet", manager)
        assert view.status == "quarantined" and not view.sellable
        view = await stock.set_batch_status(batch.id, "available", "checked: fine", manager)
        assert view.sellable
        await stock.set_batch_status(batch.id, "recalled", "NMPA recall notice", manager)
        with pytest.raises(ValidationFailed) as err:
            await stock.set_batch_status(batch.id, "available", "mistake", manager)
        assert err.value.errors == {"status": "A recalled batch stays recalled."}
    assert await audit.count(stock.STATUS_ACTION) == 3
    other = await stock.receive(stock.Receipt("SH002", product["sku"], "X", _days(60), 1), await actor("admin"))
    with pytest.raises(NotFound):  # another store's batch is invisible to a store manager
        await stock.set_batch_status(other.id, "quarantined", "not mine", manager)


async def test_adjust_to_a_count_moves_the_difference_once() -> None:
    product = await _product()
    batch = await _receive(product, "B1", _days(60), 10)
    manager = await actor("manager")
    with use_language("en"), pytest.raises(ValidationFailed) as err:
        await stock.adjust(batch.id, "-1", "", manager)
    assert set(err.value.errors) == {"counted", "reason"}
    view = await stock.adjust(batch.id, 7, "stocktake", manager, key="count-1")
    again = await stock.adjust(batch.id, 7, "stocktake", manager, key="count-1")
    assert view.on_hand == again.on_hand == 7
    moves = await fetch("SELECT qty FROM stock_move WHERE kind = 'adjust'")
    assert [m["qty"] for m in moves] == [-3]
    assert await audit.count(stock.ADJUST_ACTION) == 1
    await _ledger_matches()


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


# ---------------------------------------------------------------- expired batches: the shown state, write-off


async def _expired(product: dict, batch: str, qty: int = 4, days_ago: int = 1):
    """A batch received while good that has since expired (expired stock cannot be received)."""
    view = await _receive(product, batch, _days(1), qty)
    await fetch("UPDATE stock_batch SET expiry = {} WHERE id = {}", _days(-days_ago), view.id)
    return await stock.get_batch(view.id)


def test_the_shown_state_is_computed_from_the_expiry_against_today() -> None:
    today = date(2026, 12, 1)
    assert stock.batch_state("available", today, today) == "available"  # sellable through its expiry date
    assert stock.batch_state("available", today - timedelta(days=1), today) == "expired"
    assert stock.batch_state("quarantined", today - timedelta(days=1), today) == "expired"
    assert stock.batch_state("quarantined", today, today) == "quarantined"
    assert stock.batch_state("recalled", today - timedelta(days=1), today) == "recalled"  # a recall is final
    with use_language("zh_CN"):
        assert stock.status_label("expired") == "已过期"


async def test_an_expired_batch_is_listed_as_expired_and_never_sellable() -> None:
    product = await _product()
    old = await _expired(product, "OLD")
    good = await _receive(product, "GOOD", _days(30), 2)
    assert (old.status, old.state, old.sellable, old.may_write_off) == ("available", "expired", False, True)
    assert (good.state, good.sellable, good.may_write_off) == ("available", True, False)
    listed = {b.batch_no: b.state for b in await stock.expiring(await _store_id(), 90)}
    assert listed == {"OLD": "expired", "GOOD": "available"}
    assert {b.batch_no: b.state for b in await stock.product_batches(await _store_id(), product["id"])} == listed
    with pytest.raises(ValidationFailed) as exc:  # past its expiry it is never released back to sale
        await stock.set_batch_status(old.id, "quarantined", "off the shelf", await actor("manager"))
        await stock.set_batch_status(old.id, "available", "oops", await actor("manager"))
    assert "status" in exc.value.errors
    assert (await stock.get_batch(old.id)).status == "quarantined"


async def test_write_off_takes_what_is_left_out_once_with_a_reason_and_is_audited() -> None:
    product = await _product()
    old = await _expired(product, "OLD", qty=6)
    manager = await actor("manager")
    with pytest.raises(ValidationFailed) as exc:
        await stock.write_off(old.id, "  ", manager, key="w1")
    assert set(exc.value.errors) == {"reason"}
    for _ in range(2):  # a double tap writes off once
        done = await stock.write_off(old.id, "过期报损", manager, key="w1")
    assert done.on_hand == 0
    moves = await fetch("SELECT qty, kind, ref, staff FROM stock_move WHERE batch = {} ORDER BY id", old.id)
    assert [(m["qty"], m["kind"], m["ref"]) for m in moves][1:] == [(-6, "write_off", "过期报损")]
    assert moves[-1]["staff"] == manager.id
    audited = await fetch("SELECT detail FROM audit_event WHERE action = {}", stock.WRITE_OFF_ACTION)
    assert len(audited) == 1 and "OLD" in audited[0]["detail"] and "过期报损" in audited[0]["detail"]
    with pytest.raises(ValidationFailed):  # nothing left: a new write-off has nothing to take
        await stock.write_off(old.id, "again", manager, key="w2")
    await _ledger_matches()


async def test_a_sellable_batch_is_not_written_off_and_another_store_cannot() -> None:
    product = await _product()
    good = await _receive(product, "GOOD", _days(30), 3)
    with pytest.raises(ValidationFailed) as exc:
        await stock.write_off(good.id, "damaged", await actor("manager"))
    assert set(exc.value.errors) == {"reason"}
    held = await _receive(product, "HELD", _days(30), 2)
    await stock.set_batch_status(held.id, "quarantined", "returned packs", await actor("manager"))
    assert (await stock.write_off(held.id, "not resaleable", await actor("manager"))).on_hand == 0
    elsewhere = await _expired(product, "FAR")
    await fetch("UPDATE stock_batch SET store = {} WHERE id = {}", await _store_id("SH002"), elsewhere.id)
    with pytest.raises(NotFound):
        await stock.write_off(elsewhere.id, "not mine", await actor("manager"))
    assert (await stock.get_batch(good.id)).on_hand == 3 and (await stock.get_batch(elsewhere.id)).on_hand == 4
    await _ledger_matches()


async def test_concurrent_write_offs_with_different_keys_take_the_stock_once() -> None:
    product = await _product()
    old = await _expired(product, "OLD", qty=5)
    manager = await actor("manager")
    results = await asyncio.gather(
        *(stock.write_off(old.id, "expired", manager, key=f"k{i}") for i in range(4)), return_exceptions=True
    )
    assert sum(1 for r in results if isinstance(r, stock.BatchView)) == 1
    assert all(isinstance(r, ValidationFailed) for r in results if not isinstance(r, stock.BatchView))
    assert (await stock.get_batch(old.id)).on_hand == 0
    await _ledger_matches()
