"""Returned packs: into quarantine from the batches the line took, released or written off once."""

from __future__ import annotations

import asyncio

import pytest

from app.components import stock
from app.components.core.errors import NotFound, ValidationFailed
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
