"""The stock-move ledger: on_hand is always the sum of the moves; adjustments move the difference once."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.components import stock
from app.components.audit import log as audit
from app.components.core.clock import store_today
from app.components.core.errors import ValidationFailed
from app.components.stock import batches
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

# ---------------------------------------------------------------- the ledger property


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("receive"), st.integers(0, 3), st.integers(-2, 200), st.integers(1, 20)),
            st.tuples(st.just("sell"), st.integers(1, 25), st.booleans()),
            st.tuples(st.just("return"), st.integers(0, 10), st.integers(1, 10)),
            st.tuples(st.just("status"), st.integers(0, 3), st.sampled_from(batches.STATUSES)),
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
