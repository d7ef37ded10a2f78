"""Returns: partial and whole refunds reverse stock, points, coupons and medication history exactly, once per key."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from app.components import sales
from app.components.errors import NotFound, ValidationFailed
from app.components.members import store_today
from app.db import fetch
from tests.components.sale_data import count, make_member, make_products, on_hand, points, request, stock_in
from tests.conftest import actor


@pytest.fixture
async def sold() -> tuple[str, str]:
    """A member's sale of 3 amlodipine (90.00), 1 vitamin C (9.90) and 2 masks (10.00, points-excluded)."""
    await make_products()
    for sku in ("YS90005", "YS90007", "YS90009"):
        await stock_in(sku, 20, "B1")
    member_no = await make_member(status="none")
    req = await request("sale", member_no=member_no, lines=[("YS90005", 3), ("YS90007", 1), ("YS90009", 2)])
    sale = (await sales.record_sale(req, await actor("clerk"))).sale
    return member_no, sale.sale_no


def _ret(key: str, sale_no: str, lines: list[tuple[int, int]] | None = None, reason: str = "wrong item"):
    return sales.ReturnRequest(idempotency_key=key, sale_no=sale_no, lines=lines, reason=reason)


async def test_partial_then_full_return_refunds_the_total_and_reverses_stock_and_points(sold) -> None:
    member_no, sale_no = sold
    pharmacist = await actor("pharmacist")
    sale = await sales.get_sale(sale_no, pharmacist)
    earned, start_points = sale.points_earned, await points(member_no)
    assert earned > 0

    first = await sales.return_sale(_ret("r1", sale_no, [(1, 1)]), pharmacist)
    assert first.created and first.ret.return_no == "RSH00100000001"
    assert first.ret.amount == 3000
    assert first.sale.status == "part_returned" and first.sale.lines[0].returned_qty == 1
    assert await on_hand("YS90005") == 18
    # Points earned on the returned part, in proportion to the money: 3000 of 10990.
    assert first.ret.points_reversed == earned * 3000 // sale.total
    assert await points(member_no) == start_points - first.ret.points_reversed
    med = await fetch("SELECT qty, supply_until FROM medication WHERE atc = 'C08CA01'")
    assert med[0]["qty"] == 2
    assert str(med[0]["supply_until"])[:10] == (store_today() + timedelta(days=2 * 28 - 1)).isoformat()

    rest = await sales.return_sale(_ret("r2", sale_no, None, "customer changed mind"), pharmacist)
    assert rest.sale.status == "returned"
    assert first.ret.amount + rest.ret.amount == sale.total
    assert first.ret.points_reversed + rest.ret.points_reversed == earned
    assert await points(member_no) == start_points - earned
    assert (await on_hand("YS90005"), await on_hand("YS90007"), await on_hand("YS90009")) == (20, 20, 20)
    assert await count("medication") == 0
    outbox = await fetch("SELECT kind FROM outbox ORDER BY id")
    assert [r["kind"] for r in outbox] == ["sale.completed", "sale.returned", "sale.returned"]
    events = await fetch("SELECT kind FROM member_event WHERE kind = {}", sales.RETURNED)
    assert len(events) == 2
    assert [r.return_no for r in rest.sale.returns] == ["RSH00100000001", "RSH00100000002"]


async def test_over_return_and_nothing_left_are_refused(sold) -> None:
    _, sale_no = sold
    pharmacist = await actor("pharmacist")
    with pytest.raises(ValidationFailed) as over:
        await sales.return_sale(_ret("r1", sale_no, [(1, 4)]), pharmacist)
    assert "lines.1" in over.value.errors
    with pytest.raises(ValidationFailed) as unknown:
        await sales.return_sale(_ret("r1", sale_no, [(9, 1)]), pharmacist)
    assert "lines.9" in unknown.value.errors
    await sales.return_sale(_ret("r1", sale_no), pharmacist)
    with pytest.raises(ValidationFailed) as nothing:
        await sales.return_sale(_ret("r2", sale_no), pharmacist)
    assert "lines" in nothing.value.errors
    with pytest.raises(ValidationFailed) as no_reason:
        await sales.return_sale(_ret("r3", sale_no, reason=" "), pharmacist)
    assert "reason" in no_reason.value.errors


async def test_a_replayed_return_changes_nothing_and_concurrent_ones_make_one(sold) -> None:
    member_no, sale_no = sold
    pharmacist = await actor("pharmacist")
    results = await asyncio.gather(*(sales.return_sale(_ret("same", sale_no, [(1, 2)]), pharmacist) for _ in range(5)))
    assert sum(r.created for r in results) == 1 and len({r.ret.return_no for r in results}) == 1
    balance, stock = await points(member_no), await on_hand("YS90005")
    again = await sales.return_sale(_ret("same", sale_no, [(1, 2)]), pharmacist)
    assert not again.created and again.ret.return_no == results[0].ret.return_no
    assert await points(member_no) == balance and await on_hand("YS90005") == stock == 19
    assert await count("sale_return") == 1
    # Two different refunds of the last unit at once: one wins, the other is refused.
    outcomes = await asyncio.gather(
        *(sales.return_sale(_ret(f"last-{i}", sale_no, [(1, 1)]), pharmacist) for i in range(3)),
        return_exceptions=True,
    )
    assert sum(isinstance(o, sales.ReturnResult) for o in outcomes) == 1
    assert all(isinstance(o, (sales.ReturnResult, ValidationFailed)) for o in outcomes)
    assert await on_hand("YS90005") == 20


async def test_only_return_roles_may_refund_and_only_in_their_store(sold) -> None:
    _, sale_no = sold
    with pytest.raises(sales.NotPermitted):
        await sales.return_sale(_ret("r1", sale_no), await actor("clerk"))
    with pytest.raises(NotFound):
        await sales.return_sale(_ret("r1", sale_no), await actor("pharmacist2"))
    with pytest.raises(NotFound):
        await sales.return_sale(_ret("r1", "SNOPE"), await actor("pharmacist"))


async def test_points_paid_are_restored_in_proportion(sold) -> None:
    member_no, _ = sold
    balance = await points(member_no)
    assert balance >= 60  # 99.90 of eligible spend: the masks earn nothing
    req = await request("spend", member_no=member_no, lines=[("YS90007", 2)], tenders=[("points", 60), ("cash", 1920)])
    sale = (await sales.record_sale(req, await actor())).sale
    assert sale.points_redeemed == 60
    half = await sales.return_sale(_ret("half", sale.sale_no, [(1, 1)]), await actor("pharmacist"))
    assert half.ret.points_restored == 30 and half.ret.amount == 990
    rest = await sales.return_sale(_ret("rest", sale.sale_no), await actor("pharmacist"))
    assert rest.ret.points_restored == 30
    assert await points(member_no) == balance


async def test_a_returned_traceability_code_can_be_sold_again(sold) -> None:
    code = "81234567890123456789"
    req = replace(await request("t1"), lines=[sales.LineRequest(code="YS90007", qty=1, trace_codes=(code,))])
    first = (await sales.record_sale(req, await actor())).sale
    await sales.return_sale(_ret("back", first.sale_no), await actor("pharmacist"))
    again = await sales.record_sale(replace(req, idempotency_key="t2"), await actor())
    assert again.created
