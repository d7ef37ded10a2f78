"""Expiry and write-off: what may not be sold leaves stock once, with a reason, in its own store only."""

from __future__ import annotations

import asyncio

import pytest

from app.components import stock
from app.components.core.errors import NotFound, ValidationFailed
from app.db import fetch
from tests.components.stock.stock_data import (
    _days,
    _expired,
    _ledger_matches,
    _product,
    _receive,
    _store_id,
)
from tests.conftest import actor


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
