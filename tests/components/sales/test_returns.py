"""Returns: partial and whole refunds reverse points, coupons and medication history exactly, once per key; the money
goes back to the sale's tenders in the documented order; the units wait in quarantine; dispensed Rx, antibiotic
and cold-chain medicines follow the chain's rule."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from app.components import sales
from app.components.core.clock import store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.sales import chain_settings, returns, views
from app.db import fetch
from tests.components.sales.sale_data import count, make_member, make_products, on_hand, points, request, stock_in
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


def _ret(key: str, sale_no: str, lines: list[tuple[int, int]] | None = None, reason: str = "wrong item", **kw):
    return sales.ReturnRequest(idempotency_key=key, sale_no=sale_no, lines=lines, reason=reason, **kw)


async def _held(sku: str | None = None) -> int:
    """Units of returned packs still in quarantine (of one product)."""
    rows = await fetch(
        "SELECT COALESCE(SUM(rp.qty), 0) AS n FROM returned_pack rp JOIN product p ON p.id = rp.product"
        " WHERE rp.status = 'held'" + (" AND p.sku = {}" if sku else ""),
        *([sku] if sku else []),
    )
    return int(rows[0]["n"])


async def _ledger_matches() -> None:
    rows = await fetch(
        "SELECT b.id, b.on_hand, COALESCE(SUM(m.qty), 0) AS moved FROM stock_batch b"
        " LEFT JOIN stock_move m ON m.batch = b.id GROUP BY b.id, b.on_hand"
    )
    assert all(r["on_hand"] == r["moved"] for r in rows), rows


async def test_partial_then_full_return_refunds_the_total_and_reverses_points(sold) -> None:
    member_no, sale_no = sold
    pharmacist = await actor("pharmacist")
    sale = await sales.get_sale(sale_no, pharmacist)
    earned, start_points = sale.points_earned, await points(member_no)
    assert earned > 0

    first = await sales.return_sale(_ret("r1", sale_no, [(1, 1)]), pharmacist)
    assert first.created and first.ret.return_no == "RSH00100000001"
    assert first.ret.amount == 3000
    assert [(t.kind, t.amount) for t in first.ret.tenders] == [("cash", 3000)]
    assert first.sale.status == "part_returned" and first.sale.lines[0].returned_qty == 1
    # Points earned on the returned part, in proportion to the money: 3000 of 10990.
    assert first.ret.points_reversed == earned * 3000 // sale.total
    assert await points(member_no) == start_points - first.ret.points_reversed
    med = await fetch("SELECT qty, supply_until FROM medication WHERE atc = 'C08CA01'")
    assert med[0]["qty"] == 2
    assert str(med[0]["supply_until"])[:10] == (store_today() + timedelta(days=2 * 28 - 1)).isoformat()

    rest = await sales.return_sale(_ret("r2", sale_no, None, "customer changed mind"), pharmacist)
    assert rest.sale.status == "returned"
    assert first.ret.amount + rest.ret.amount == sale.total
    assert sum(t.amount for t in rest.ret.tenders) == rest.ret.amount
    assert rest.sale.net_paid == 0 and rest.sale.refunded == sale.total
    assert first.ret.points_reversed + rest.ret.points_reversed == earned
    assert await points(member_no) == start_points - earned
    assert await count("medication") == 0
    outbox = await fetch("SELECT kind FROM outbox WHERE kind LIKE 'sale.%' ORDER BY id")
    assert [r["kind"] for r in outbox] == ["sale.completed", "sale.returned", "sale.returned"]
    events = await fetch("SELECT kind FROM member_event WHERE kind = {}", returns.RETURNED)
    assert len(events) == 2
    assert [r.return_no for r in rest.sale.returns] == ["RSH00100000001", "RSH00100000002"]


async def test_returned_units_wait_in_quarantine_not_in_sellable_stock(sold) -> None:
    _, sale_no = sold
    assert await on_hand("YS90005") == 17
    await sales.return_sale(_ret("r1", sale_no, [(1, 2)]), await actor("pharmacist"))
    # Fails on the old code: the two packs went straight back on the shelf (on_hand 19).
    assert await on_hand("YS90005") == 17
    assert await _held("YS90005") == 2
    moves = await fetch("SELECT kind, qty FROM stock_move WHERE kind IN ('return', 'quarantine') ORDER BY id")
    assert [(m["kind"], m["qty"]) for m in moves] == [("return", 2), ("quarantine", -2)]
    await _ledger_matches()


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
    balance, held = await points(member_no), await _held()
    again = await sales.return_sale(_ret("same", sale_no, [(1, 2)]), pharmacist)
    assert not again.created and again.ret.return_no == results[0].ret.return_no
    assert await points(member_no) == balance and await _held() == held == 2
    assert await count("sale_return") == 1 and await count("sale_return_tender") == 1
    # Two different refunds of the last unit at once: one wins, the other is refused.
    outcomes = await asyncio.gather(
        *(sales.return_sale(_ret(f"last-{i}", sale_no, [(1, 1)]), pharmacist) for i in range(3)),
        return_exceptions=True,
    )
    assert sum(isinstance(o, views.ReturnResult) for o in outcomes) == 1
    assert all(isinstance(o, (views.ReturnResult, ValidationFailed)) for o in outcomes)
    assert await _held("YS90005") == 3
    await _ledger_matches()


async def test_a_retry_that_finds_its_own_return_already_committed_is_its_replay(sold, monkeypatch) -> None:
    """The retry passed the key check just before the first request committed, then found nothing left to return:
    it answers the first return, not "only 0 can still be returned" (seen on PostgreSQL under load)."""
    _, sale_no = sold
    pharmacist = await actor("pharmacist")
    retry_checked_its_key, first_done = asyncio.Event(), asyncio.Event()
    real_get_sale = returns.get_sale

    async def read_after_the_first_committed(number: str, who):  # only the retry waits
        if asyncio.current_task() is retry_task:
            retry_checked_its_key.set()
            await first_done.wait()
        return await real_get_sale(number, who)

    monkeypatch.setattr(returns, "get_sale", read_after_the_first_committed)
    everything = _ret("retried", sale_no)  # every returnable unit: after the first, nothing is left
    retry_task = asyncio.create_task(sales.return_sale(everything, pharmacist))
    await retry_checked_its_key.wait()
    first = await sales.return_sale(everything, pharmacist)
    first_done.set()
    retried = await retry_task
    assert first.created and not retried.created and retried.ret.return_no == first.ret.return_no
    assert await count("sale_return") == 1


async def test_only_return_roles_may_refund_and_only_in_their_store(sold) -> None:
    _, sale_no = sold
    with pytest.raises(sales.NotPermitted):
        await sales.return_sale(_ret("r1", sale_no), await actor("clerk"))
    with pytest.raises(NotFound):
        await sales.return_sale(_ret("r1", sale_no), await actor("pharmacist2"))
    with pytest.raises(NotFound):
        await sales.return_sale(_ret("r1", "SNOPE"), await actor("pharmacist"))


async def test_a_returned_traceability_code_can_be_sold_again(sold) -> None:
    code = "81234567890123456789"
    req = replace(await request("t1"), lines=[sales.LineRequest(code="YS90007", qty=1, trace_codes=(code,))])
    first = (await sales.record_sale(req, await actor())).sale
    await sales.return_sale(_ret("back", first.sale_no), await actor("pharmacist"))
    await stock_in("YS90007", 1, "B2")
    again = await sales.record_sale(replace(req, idempotency_key="t2"), await actor())
    assert again.created


# ---------------------------------------------------------------- the refund's tenders


def test_refund_split_fills_the_tenders_in_the_documented_order() -> None:
    net = {"cash": 1000, "wechat": 3000, "points": 500, "insurance": 2000}
    assert sales.REFUND_ORDER == ("points", "insurance", "bank_card", "alipay", "wechat", "cash")
    assert returns.refund_split(net, {}, 1000) == [("points", 500), ("insurance", 500)]
    assert returns.refund_split(net, {"points": 500, "insurance": 500}, 4000) == [("insurance", 1500), ("wechat", 2500)]
    assert returns.refund_split(net, {"points": 500, "insurance": 2000, "wechat": 2500}, 1500) == [
        ("wechat", 500),
        ("cash", 1000),
    ]
    assert returns.refund_split({}, {}, 0) == []


async def test_a_refund_goes_back_to_the_original_tenders_points_first_cash_last(sold) -> None:
    member_no, _ = sold
    # 3 × vitamin C (2970): 60 fen in points, 1000 by WeChat, the rest in cash with ¥10 change.
    req = await request(
        "mixed", member_no=member_no, lines=[("YS90007", 3)], tenders=[("points", 60), ("wechat", 1000), ("cash", 2910)]
    )
    sale = (await sales.record_sale(req, await actor())).sale
    assert sale.change_given == 1000 and sales.tender_net(sale) == {"points": 60, "wechat": 1000, "cash": 1910}
    balance = await points(member_no)
    pharmacist = await actor("pharmacist")
    one = await sales.return_sale(_ret("one", sale.sale_no, [(1, 1)]), pharmacist)
    # Fails on the old code: a refund recorded no tender at all.
    assert [(t.kind, t.amount) for t in one.ret.tenders] == [("points", 60), ("wechat", 930)]
    assert one.ret.points_restored == 60
    two = await sales.return_sale(_ret("two", sale.sale_no, [(1, 1)]), pharmacist)
    assert [(t.kind, t.amount) for t in two.ret.tenders] == [("wechat", 70), ("cash", 920)]
    three = await sales.return_sale(_ret("three", sale.sale_no), pharmacist)
    assert [(t.kind, t.amount) for t in three.ret.tenders] == [("cash", 990)]
    paid_back: dict[str, int] = {}
    for ret in three.sale.returns:
        for part in ret.tenders:
            paid_back[part.kind] = paid_back.get(part.kind, 0) + part.amount
    assert paid_back == sales.tender_net(sale)  # every tender gets back exactly what it brought in
    assert await points(member_no) == balance + 60 - sum(r.points_reversed for r in three.sale.returns)
    payload = (await fetch("SELECT payload FROM outbox WHERE key = {}", f"return:{one.ret.return_no}"))[0]["payload"]
    assert '"wechat"' in str(payload)


async def test_another_tender_needs_a_reason_is_recorded_and_audited_and_points_stay_points(sold) -> None:
    member_no, _ = sold
    req = await request("card", member_no=member_no, lines=[("YS90007", 2)], tenders=[("points", 60), ("wechat", 1920)])
    sale = (await sales.record_sale(req, await actor())).sale
    pharmacist = await actor("pharmacist")
    with pytest.raises(ValidationFailed) as no_reason:
        await sales.return_sale(_ret("k", sale.sale_no, refund_kind="cash"), pharmacist)
    assert set(no_reason.value.errors) == {"refund_reason"}
    with pytest.raises(ValidationFailed) as bad_kind:
        await sales.return_sale(_ret("k", sale.sale_no, refund_kind="insurance", refund_reason="x"), pharmacist)
    assert set(bad_kind.value.errors) == {"refund_kind"}
    done = await sales.return_sale(
        _ret("k", sale.sale_no, refund_kind="cash", refund_reason="WeChat account closed"), pharmacist
    )
    assert [(t.kind, t.original_kind, t.amount) for t in done.ret.tenders] == [
        ("points", "points", 60),
        ("cash", "wechat", 1920),
    ]
    assert done.ret.tender_reason == "WeChat account closed"
    logged = await fetch("SELECT detail FROM audit_event WHERE action = {}", returns.REFUND_TENDER_CHANGE)
    assert len(logged) == 1 and "1920 fen to cash instead of wechat" in logged[0]["detail"]
    assert done.ret.as_json()["tenders"][1] == {"kind": "cash", "from": "wechat", "amount": 1920}


# ---------------------------------------------------------------- dispensed medicines


@pytest.fixture
async def rx_sold(sold) -> str:
    """A walk-in sale of amoxicillin (Rx, J01) and vitamin C, prescription verified by the pharmacist."""
    await stock_in("YS90001", 10, "A1")
    rx = sales.Prescription(number="RX1", hospital="瑞金医院", verified_by=(await actor("pharmacist")).id)
    req = await request("rx", lines=[("YS90001", 1), ("YS90007", 1)], prescription=rx)
    return (await sales.record_sale(req, await actor("pharmacist"))).sale.sale_no


async def _set_rule(rule: str) -> None:
    new = replace(await chain_settings.counter_settings(), restricted_returns=rule)
    await chain_settings.save_counter_settings(new, await actor("admin"))


async def test_a_dispensed_antibiotic_comes_back_only_as_the_chain_says(rx_sold) -> None:
    pharmacist = await actor("pharmacist")
    await _set_rule(chain_settings.REFUSE)
    with pytest.raises(ValidationFailed) as refused:
        await sales.return_sale(_ret("r1", rx_sold), pharmacist)
    assert set(refused.value.errors) == {"lines.1"}  # the vitamin (line 2) could come back alone
    with pytest.raises(ValidationFailed):  # even a store manager cannot
        await sales.return_sale(_ret("r1", rx_sold, [(1, 1)]), await actor("manager"))
    other = await sales.return_sale(_ret("r2", rx_sold, [(2, 1)]), pharmacist)
    assert other.created and other.ret.approved_by_name is None

    await _set_rule(chain_settings.MANAGER_PIN)
    with pytest.raises(ValidationFailed) as no_pin:
        await sales.return_sale(_ret("r3", rx_sold), pharmacist)
    assert set(no_pin.value.errors) == {"approver"}
    with pytest.raises(ValidationFailed) as wrong:
        await sales.return_sale(_ret("r3", rx_sold, approver_username="manager", approver_pin="0000"), pharmacist)
    assert set(wrong.value.errors) == {"pin"}
    with pytest.raises(ValidationFailed):  # a pharmacist's PIN is not a store manager's
        await sales.return_sale(_ret("r3", rx_sold, approver_username="pharmacist", approver_pin="2468"), pharmacist)
    done = await sales.return_sale(_ret("r3", rx_sold, approver_username="manager", approver_pin="2468"), pharmacist)
    assert done.created and done.ret.approved_by_name == "陈店长"
    audited = await fetch("SELECT detail FROM audit_event WHERE action = {}", returns.RETURN_APPROVAL)
    assert len(audited) == 1 and done.ret.return_no in audited[0]["detail"]
    # The antibiotic waits in quarantine marked as never resaleable.
    packs = await fetch("SELECT restricted, qty FROM returned_pack WHERE return_no = {}", done.ret.return_no)
    assert [(bool(p["restricted"]), p["qty"]) for p in packs] == [(True, 1)]


async def test_a_store_manager_approves_a_restricted_return_with_their_own_login(rx_sold) -> None:
    done = await sales.return_sale(_ret("m1", rx_sold, [(1, 1)]), await actor("manager"))
    assert done.ret.approved_by_name == "陈店长"
    line = next(line for line in done.sale.lines if line.line_no == 1)
    assert line.restriction == "rx"


async def test_cold_chain_lines_are_restricted_too(sold) -> None:
    await fetch("UPDATE product SET cold_chain = {} WHERE sku = 'YS90007'", True)
    await stock_in("YS90007", 5, "C1")
    sale = (await sales.record_sale(await request("cold"), await actor())).sale
    assert sale.lines[0].restriction == "cold_chain"
    with pytest.raises(ValidationFailed) as needs:
        await sales.return_sale(_ret("c1", sale.sale_no), await actor("pharmacist"))
    assert "approver" in needs.value.errors


# ---------------------------------------------------------------- finding a sale


async def test_a_sale_is_found_by_its_number_its_return_number_or_a_part_of_it(sold) -> None:
    _, sale_no = sold
    store = (await fetch("SELECT id FROM store WHERE code = 'SH001'"))[0]["id"]
    other = (await fetch("SELECT id FROM store WHERE code = 'SH002'"))[0]["id"]
    assert await sales.sale_no_for(store, f" {sale_no.lower()} ") == sale_no
    assert await sales.sale_no_for(other, sale_no) is None  # another store's sale is not found
    ret = await sales.return_sale(_ret("r1", sale_no, [(1, 1)]), await actor("pharmacist"))
    assert await sales.sale_no_for(store, ret.ret.return_no) == sale_no
    assert [s.sale_no for s in await sales.recent_sales(store, number="00001")] == [sale_no]
    assert await sales.recent_sales(store, number="99999") == []
    # A sale of yesterday is found by its date, not among today's.
    day_before = (await _created(sale_no)) - timedelta(days=1)
    await fetch("UPDATE sale SET created_at = {} WHERE sale_no = {}", day_before, sale_no)
    yesterday = store_today() - timedelta(days=1)
    assert [s.sale_no for s in await sales.recent_sales(store, on_date=yesterday)] == [sale_no]
    assert await sales.recent_sales(store, on_date=store_today()) == []


async def _created(sale_no: str):
    from datetime import datetime

    value = (await fetch("SELECT created_at FROM sale WHERE sale_no = {}", sale_no))[0]["created_at"]
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def test_the_sales_date_is_bounded() -> None:
    today = store_today()
    assert sales.sales_date(today.isoformat(), today) == today
    assert sales.sales_date((today - timedelta(days=sales.SALE_SEARCH_DAYS)).isoformat(), today)
    for bad in ("", "2024-13-01", "yesterday", (today + timedelta(days=1)).isoformat()):
        with pytest.raises(ValidationFailed) as err:
            sales.sales_date(bad, today)
        assert set(err.value.errors) == {"date"}
    with pytest.raises(ValidationFailed):
        sales.sales_date((today - timedelta(days=sales.SALE_SEARCH_DAYS + 1)).isoformat(), today)
