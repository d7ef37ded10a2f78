"""Recording a sale: once per key, FEFO stock, points, medication history, trace codes, coupons, outbox and timeline,
against the real database."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from app.components import loyalty, members, sales, stock
from app.components.audit import log as audit
from app.components.core.clock import store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.sales import sale as recording
from app.components.sales import views
from app.db import fetch, transaction
from app.i18n import use_language
from tests.components.sales.sale_data import (
    PRICE,
    count,
    make_member,
    make_products,
    on_hand,
    past_sale,
    points,
    printed_coupon,
    request,
    sale_events,
    stock_in,
    store_id,
)
from tests.conftest import actor


@pytest.fixture
async def products() -> dict:
    found = await make_products()
    for sku in found:
        await stock_in(sku, 50, "B1")
    return found


async def test_override_with_a_reason_clears_the_block_and_the_sale_audits_it(products: dict, staff_ids) -> None:
    member_no = await make_member(allergies=("penicillins",))
    rx = sales.Prescription("RX-1", "瑞金医院", verified_by=staff_ids["pharmacist"])
    req = await request(member_no=member_no, lines=[("YS90002", 1)], prescription=rx)
    clerk = await actor("clerk")
    with pytest.raises(sales.AllergyBlocked) as blocked:
        await sales.record_sale(req, clerk)
    assert blocked.value.conflicts[0]["sku"] == "YS90002"
    no_reason = replace(req, override=sales.Override(reason="  ", approved_by=staff_ids["pharmacist"]))
    assert "allergy_high" in (await sales.quote(no_reason, clerk)).blocker_codes
    not_a_pharmacist = replace(req, override=sales.Override(reason="tolerated before", approved_by=staff_ids["clerk"]))
    assert "override_invalid" in (await sales.quote(not_a_pharmacist, clerk)).blocker_codes

    ok = replace(
        req, override=sales.Override(reason="tolerated cefalexin in 2024", approved_by=staff_ids["pharmacist"])
    )
    q = await sales.quote(ok, clerk)
    assert q.can_checkout, q.blockers
    result = await sales.record_sale(ok, clerk)
    assert result.created
    assert result.sale.override_reason == "tolerated cefalexin in 2024"
    assert result.sale.override_by_name == "王药师"
    rows = await fetch("SELECT detail, username FROM audit_event WHERE action = {}", recording.ALLERGY_OVERRIDE)
    assert len(rows) == 1 and "tolerated cefalexin in 2024" in rows[0]["detail"]
    assert rows[0]["username"] == "clerk"
    assert await audit.count(recording.ALLERGY_OVERRIDE) == 1


async def test_a_sale_records_lines_stock_points_medication_outbox_and_timeline(products: dict) -> None:
    member_no = await make_member(status="none")
    req = await request(member_no=member_no, lines=[("YS90005", 2), ("YS90007", 1)])
    result = await sales.record_sale(req, await actor("clerk"))
    sale = result.sale
    assert result.created and sale.sale_no == "SSH00100000001"
    assert (sale.subtotal, sale.total, sale.paid, sale.change_given) == (6990, 6990, 6990, 0)
    assert [(line.sku, line.qty, line.total) for line in sale.lines] == [("YS90005", 2, 6000), ("YS90007", 1, 990)]
    assert await on_hand("YS90005") == 48 and await on_hand("YS90007") == 49
    # Default rules: 1 point per yuan (×2 on member day).
    expected = loyalty.points_for(6990, await loyalty.rules(), "regular", store_today())
    assert sale.points_earned == expected == await points(member_no)
    meds = await fetch("SELECT atc, qty, started_on, supply_until FROM medication ORDER BY id")
    assert [m["atc"] for m in meds] == ["C08CA01", "A11GA01"]
    assert str(meds[0]["supply_until"])[:10] == (store_today() + timedelta(days=28 * 2 - 1)).isoformat()
    assert meds[1]["supply_until"] is None  # vitamin C: no daily use
    outbox = await fetch("SELECT key, kind, payload FROM outbox WHERE kind LIKE 'sale.%'")
    assert outbox[0]["key"] == f"sale:{sale.sale_no}" and outbox[0]["kind"] == "sale.completed"
    payload = outbox[0]["payload"] if isinstance(outbox[0]["payload"], dict) else json.loads(outbox[0]["payload"])
    assert payload["member"] == member_no
    assert payload["lines"][0] == {"line_no": 1, "sku": "YS90005", "atc": "C08CA01", "qty": 2, "days_supply": 28}
    events = await fetch("SELECT kind, ref FROM member_event WHERE kind = 'purchase'")
    assert events == [{"kind": "purchase", "ref": sale.sale_no}]
    # Amlodipine (C08CA) suggests hypertension: inferred in the same transaction.
    conditions = await fetch("SELECT code, source FROM member_condition")
    assert {"code": "hypertension", "source": "inferred"} in conditions
    assert (await sales.get_sale(sale.sale_no, await actor())).sale_no == sale.sale_no


async def test_a_replay_returns_the_same_sale_and_does_nothing_else(products: dict) -> None:
    member_no = await make_member(status="none")
    req = await request(member_no=member_no, lines=[("YS90005", 1)])
    first = await sales.record_sale(req, await actor())
    moves, entries = await count("stock_move"), await count("points_entry")
    again = await sales.record_sale(req, await actor())
    assert not again.created and again.sale.sale_no == first.sale.sale_no
    assert await count("sale") == 1 and await count("stock_move") == moves and await count("points_entry") == entries
    assert await sale_events() == 1


async def test_a_replay_gets_its_sale_even_when_its_cart_would_not_pass_now(products: dict) -> None:
    req = await request("all-of-it", lines=[("YS90005", 50)])
    first = await sales.record_sale(req, await actor())
    assert await on_hand("YS90005") == 0
    again = await sales.record_sale(req, await actor())  # its quote alone would now say "only 0 in stock"
    assert not again.created and again.sale.sale_no == first.sale.sale_no
    with pytest.raises(ValidationFailed):  # a new key for the same cart is refused
        await sales.record_sale(replace(req, idempotency_key="all-of-it-2"), await actor())


async def test_a_sale_that_lifts_the_member_to_silver_records_the_points_it_earned(products: dict) -> None:
    member_no = await make_member(status="none")
    member = await members.member_id(member_no)
    await past_sale(member, "PAST", loyalty.DEFAULT_RULES.silver_fen - PRICE["YS90005"], days_ago=30)
    req = await request(member_no=member_no, lines=[("YS90005", 1)])
    quoted = (await sales.quote(req, await actor())).points_estimate  # at the regular rate
    sale = (await sales.record_sale(req, await actor())).sale
    earned = await fetch("SELECT points FROM points_entry WHERE kind = 'earn' AND ref = {}", sale.sale_no)
    assert await loyalty.tier_of(member) == "silver"
    assert sale.points_earned == earned[0]["points"] > quoted  # silver's rate applied to this sale
    assert (await sales.get_sale(sale.sale_no, await actor())).points_earned == sale.points_earned


async def test_ten_concurrent_identical_sales_make_one(products: dict) -> None:
    member_no = await make_member(status="none")
    req = await request("same-key", member_no=member_no, lines=[("YS90005", 2), ("YS90004", 1)])
    clerk = await actor("clerk")
    results = await asyncio.gather(*(sales.record_sale(req, clerk) for _ in range(10)))
    assert len({r.sale.sale_no for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await count("sale") == 1 and await count("sale_line") == 2 and await sale_events() == 1
    assert await count("stock_move") - 9 == 2  # 9 receipts, one move per line
    assert await on_hand("YS90005") == 48 and await on_hand("YS90004") == 49
    assert len(await fetch("SELECT id FROM points_entry WHERE kind = 'earn'")) == 1
    assert await count("medication") == 2


async def test_fefo_takes_the_earliest_expiry_first_and_skips_expired_and_quarantined(products: dict) -> None:
    await stock_in("YS90008", 3, "LATE", days=400)
    await stock_in("YS90008", 2, "SOON", days=30)
    await stock_in("YS90008", 5, "HOLD", days=10)
    await fetch("UPDATE stock_batch SET status = 'quarantined' WHERE batch_no = 'HOLD'")
    await fetch("UPDATE stock_batch SET expiry = {} WHERE batch_no = 'B1'", store_today() - timedelta(days=1))
    sale = (await sales.record_sale(await request(lines=[("YS90008", 4)]), await actor())).sale
    moves = await fetch(
        "SELECT b.batch_no, m.qty FROM stock_move m JOIN stock_batch b ON b.id = m.batch"
        " WHERE m.kind = 'sale' AND m.ref = {} ORDER BY b.expiry",
        sale.sale_no,
    )
    assert [(m["batch_no"], m["qty"]) for m in moves] == [("SOON", -2), ("LATE", -2)]


async def test_selling_more_than_stock_is_refused_with_a_clear_message(products: dict) -> None:
    req = await request(lines=[("YS90008", 51)])
    q = await sales.quote(req, await actor())
    assert "out_of_stock" in q.blocker_codes
    assert "50" in dict(q.blockers)["out_of_stock"]
    with pytest.raises(ValidationFailed) as refused:
        await sales.record_sale(req, await actor())
    assert "50" in refused.value.errors["qty"]
    assert await count("sale") == 0 and await on_hand("YS90008") == 50


async def test_a_traceability_code_cannot_be_sold_twice(products: dict) -> None:
    code = "81234567890123456789"
    line = sales.LineRequest(code="YS90007", qty=1, trace_codes=(code,))
    req = replace(await request("t1"), lines=[line])
    first = (await sales.record_sale(req, await actor())).sale
    assert first.lines[0].codes == [code]
    with pytest.raises(ValidationFailed) as twice:
        await sales.record_sale(replace(req, idempotency_key="t2"), await actor())
    assert code in twice.value.errors["trace_codes"]
    assert await count("sale") == 1


async def test_a_traceability_code_typed_in_full_width_digits_is_refused_as_not_20_digits(products: dict) -> None:
    wide = "81234567890123456789".translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})
    line = sales.LineRequest(code="YS90007", qty=1, trace_codes=(wide,))
    with pytest.raises(ValidationFailed) as refused, use_language("en"):
        await sales.record_sale(replace(await request("wide"), lines=[line]), await actor())
    assert refused.value.errors == {"lines.0.trace_codes": f"A traceability code has 20 digits: {wide}"}
    assert await count("sale") == 0


async def test_two_counters_selling_the_same_unit_at_once_make_one_sale(products: dict) -> None:
    code = "81234567890123456780"
    line = sales.LineRequest(code="YS90007", qty=1, trace_codes=(code,))
    base = replace(await request("race"), lines=[line])
    pharmacist = await actor()
    results = await asyncio.gather(
        *(sales.record_sale(replace(base, idempotency_key=f"race-{i}"), pharmacist) for i in range(6)),
        return_exceptions=True,
    )
    sold = [r for r in results if isinstance(r, views.SaleResult)]
    refused = [r for r in results if isinstance(r, ValidationFailed)]
    assert len(sold) == 1 and len(refused) == 5, results
    assert all(code in r.errors["trace_codes"] for r in refused)
    assert await count("sale") == 1 and await count("sale_trace_code") == 1


async def test_get_sale_is_scoped_to_the_store_and_names_what_is_missing(products: dict) -> None:
    sale = (await sales.record_sale(await request(), await actor())).sale
    assert (await sales.get_sale(sale.sale_no, await actor("admin"))).total == 990
    with pytest.raises(NotFound) as missing:
        await sales.get_sale(sale.sale_no, await actor("pharmacist2"))
    assert sale.sale_no in missing.value.message
    with pytest.raises(NotFound, match="SNOPE"):
        await sales.get_sale("SNOPE", await actor())
    recent = await sales.recent_sales(await store_id(), 10, on_date=store_today())
    assert [r.sale_no for r in recent] == [sale.sale_no]


async def test_points_as_tender_redeem_from_the_balance(products: dict) -> None:
    member_no = await make_member(status="none")
    await sales.record_sale(await request("earn", member_no=member_no, lines=[("YS90005", 3)]), await actor())
    balance = await points(member_no)
    assert balance >= 90
    req = await request("spend", member_no=member_no, lines=[("YS90007", 1)], tenders=[("points", 50), ("cash", 940)])
    sale = (await sales.record_sale(req, await actor())).sale
    assert sale.points_redeemed == 50
    assert await points(member_no) == balance - 50 + sale.points_earned
    too_many = await request("greedy", member_no=member_no, lines=[("YS90005", 10)], tenders=[("points", 30000)])
    assert "points" in (await sales.quote(too_many, await actor())).blocker_codes


# ---------------------------------------------------------------- history for benches


async def test_seed_sales_history_writes_sales_lines_and_medication_set_based(products: dict) -> None:
    from app.components.seed import seed_sales_history

    for i in range(4):
        await make_member(name=f"历史{i}", status="none")
    moves, entries = await count("stock_move"), await count("points_entry")
    assert await seed_sales_history(31, seed=3) == 31
    assert await count("sale_line") == 31 and await count("sale") == 11 and await count("medication") == 31
    mismatched = await fetch(
        "SELECT s.id FROM sale s WHERE s.total <> (SELECT SUM(total) FROM sale_line WHERE sale = s.id)"
        " OR s.paid <> s.total"
    )
    assert mismatched == []
    assert await count("stock_move") == moves and await count("points_entry") == entries
    oldest = await fetch("SELECT MIN(started_on) AS d FROM medication")
    assert str(oldest[0]["d"])[:10] >= (store_today() - timedelta(days=366)).isoformat()
    supply = await fetch(
        "SELECT md.qty, md.started_on, md.supply_until FROM medication md JOIN product p ON p.id = md.product"
        " WHERE p.sku = 'YS90005' LIMIT 1"
    )
    if supply:  # amlodipine: 28 days a pack
        started = str(supply[0]["started_on"])[:10]
        from datetime import date

        expected = date.fromisoformat(started) + timedelta(days=28 * supply[0]["qty"] - 1)
        assert str(supply[0]["supply_until"])[:10] == expected.isoformat()
    # Real sales continue the numbering after the history.
    sale = (await sales.record_sale(await request("after-history"), await actor())).sale
    assert sale.sale_no == "SSH00100000012"
    assert await seed_sales_history(0) == 0


# ---------------------------------------------------------------- coupons, oversell


async def test_a_coupon_is_shared_over_lines_redeemed_once_and_restored_by_a_full_return(products: dict) -> None:
    await printed_coupon("CPN1")
    lines = [("YS90005", 1), ("YS90007", 1)]  # 30.00 + 9.90
    req = replace(await request("c1", lines=lines, tenders=[("cash", 2990)]), coupon_codes=["CPN1"])
    q = await sales.quote(req, await actor())
    assert q.coupon_discount == 1000 and q.total == 2990 and q.can_checkout, q.blockers
    assert sum(line.coupon_share for line in q.lines) == 1000
    sale = (await sales.record_sale(req, await actor())).sale
    assert sale.coupon_discount == 1000 and sum(line.total for line in sale.lines) == sale.total == 2990
    assert (await fetch("SELECT status FROM coupon WHERE code = 'CPN1'"))[0]["status"] == "redeemed"
    again = replace(req, idempotency_key="c2")
    assert "coupon" in (await sales.quote(again, await actor())).blocker_codes
    with pytest.raises(ValidationFailed) as used:
        await sales.record_sale(again, await actor())
    assert "coupon_codes" in used.value.errors
    await sales.return_sale(sales.ReturnRequest("r", sale.sale_no, None, "unwanted"), await actor("pharmacist"))
    assert (await fetch("SELECT status FROM coupon WHERE code = 'CPN1'"))[0]["status"] == "issued"
    refunded = await fetch("SELECT amount FROM sale_return")
    assert refunded[0]["amount"] == 2990


async def test_selling_beyond_stock_needs_the_setting_and_a_manager(products: dict, staff_ids, monkeypatch) -> None:
    from app.settings import get_settings

    req = replace(await request(lines=[("YS90008", 52)]), oversell_approved_by=staff_ids["manager"])
    assert "out_of_stock" in (await sales.quote(req, await actor())).blocker_codes  # switched off
    monkeypatch.setenv("YAOSHI_ALLOW_OVERSELL", "1")
    get_settings.cache_clear()
    try:
        by_pharmacist = replace(req, oversell_approved_by=staff_ids["pharmacist"])
        assert "out_of_stock" in (await sales.quote(by_pharmacist, await actor())).blocker_codes
        sale = (await sales.record_sale(req, await actor())).sale
    finally:
        monkeypatch.delenv("YAOSHI_ALLOW_OVERSELL")
        get_settings.cache_clear()
    assert sale.lines[0].qty == 52 and await on_hand("YS90008") == 0
    shortfall = await fetch("SELECT qty FROM stock_move WHERE kind = 'sale' AND batch IS NULL")
    assert [r["qty"] for r in shortfall] == [-2]


# ---------------------------------------------------------------- the answer of a new sale


async def test_a_new_sale_answers_exactly_what_reading_it_back_gives(products: dict) -> None:
    """record_sale builds the new sale's view from what it wrote (no read-back): it must be the replay's body."""
    await printed_coupon("SAME1")
    member_no = await make_member(status="none")
    await sales.record_sale(await request("seed", member_no=member_no, lines=[("YS90005", 3)]), await actor())
    cases = [
        await request("walk-in", lines=[("YS90007", 2)], tenders=[("cash", 5000)]),
        # Duplicate therapy in the cart and in the history (alerts and warnings), a device without ATC code.
        await request("member", member_no=member_no, lines=[("YS90005", 1), ("YS90006", 1), ("YS90009", 2)]),
        replace(
            await request("all", member_no=member_no, lines=[("YS90005", 1), ("YS90007", 1)], tenders=[]),
            coupon_codes=["SAME1"],
            tenders=[sales.TenderRequest("points", 100), sales.TenderRequest("wechat", 2890, "WX-42")],
        ),
    ]
    for req in cases:
        made = await sales.record_sale(req, await actor("clerk"))
        assert made.created
        replay = await sales.record_sale(req, await actor("clerk"))
        assert not replay.created
        assert made.sale.as_json() == replay.sale.as_json()
        assert made.sale == replay.sale


async def test_all_lines_take_stock_first_expiry_first_a_product_on_two_lines_included() -> None:
    await make_products()
    await stock_in("YS90005", 2, "SOON", days=30)
    await stock_in("YS90005", 5, "LATER", days=200)
    await stock_in("YS90007", 4, "ONLY", days=100)
    req = await request("two-lines", lines=[("YS90005", 3), ("YS90007", 1), ("YS90005", 3)])
    sale = (await sales.record_sale(req, await actor())).sale
    moves = await fetch(
        "SELECT m.key, m.qty, b.batch_no FROM stock_move m JOIN stock_batch b ON b.id = m.batch"
        " WHERE m.kind = 'sale' ORDER BY m.key"
    )
    taken = sorted((m["key"].split(":")[2], m["batch_no"], -m["qty"]) for m in moves)
    assert taken == [("1", "LATER", 1), ("1", "SOON", 2), ("2", "ONLY", 1), ("3", "LATER", 3)]
    left = await fetch("SELECT batch_no, on_hand FROM stock_batch ORDER BY batch_no")
    assert [(r["batch_no"], r["on_hand"]) for r in left] == [("LATER", 1), ("ONLY", 3), ("SOON", 0)]
    assert (await sales.record_sale(req, await actor())).sale == sale  # a replay moves nothing
    assert await count("stock_move") == 4 + 3  # the three receipts and the four sale moves
    with pytest.raises(ValidationFailed) as short:
        await sales.record_sale(await request("short", lines=[("YS90005", 2)]), await actor())
    assert "qty" in short.value.errors


async def test_concurrent_sales_of_the_last_units_sell_each_unit_once() -> None:
    await make_products()
    await stock_in("YS90007", 5, "LAST")
    clerk = await actor("clerk")
    requests = [await request(f"last-{i}", lines=[("YS90007", 1)]) for i in range(10)]
    results = await asyncio.gather(*(sales.record_sale(req, clerk) for req in requests), return_exceptions=True)
    sold = [r for r in results if isinstance(r, views.SaleResult)]
    assert len(sold) == 5 and all(isinstance(r, ValidationFailed) for r in results if r not in sold)
    assert len({r.sale.sale_no for r in sold}) == 5
    assert await on_hand("YS90007") == 0
    assert (await fetch("SELECT SUM(qty) AS n FROM stock_move WHERE kind = 'sale'"))[0]["n"] == -5


async def test_allocating_the_same_sale_lines_again_returns_the_first_allocations() -> None:
    await make_products()
    await stock_in("YS90005", 2, "SOON", days=30)
    await stock_in("YS90005", 5, "LATER", days=200)
    product = (await fetch("SELECT id FROM product WHERE sku = 'YS90005'"))[0]["id"]
    async with transaction():
        first = await stock.allocate_sale_lines(await store_id(), [(1, product, 3)], "SX1", await actor())
    async with transaction():
        again = await stock.allocate_sale_lines(await store_id(), [(1, product, 3)], "SX1", await actor())
    assert again == first and [(a.batch_no, a.qty) for a in first[1]] == [("SOON", 2), ("LATER", 1)]
    assert await on_hand("YS90005") == 4


# ---------------------------------------------------------------- quote: totals edge cases
