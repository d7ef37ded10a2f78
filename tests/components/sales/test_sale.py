"""The sale: quote (prices, allergy and duplicate-therapy alerts, blockers) and record_sale (once per key, FEFO,
points, medication history, outbox), against the real database."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from app.components import members
from app.components.audit import log as audit
from app.components.core import bounds
from app.components.core.clock import store_today
from app.components.core.errors import NotFound, ValidationFailed
from app.components.loyalty import points as loyalty
from app.components.sales import sale as sales
from app.components.stock import inventory as stock
from app.db import fetch, transaction
from app.i18n import use_language
from tests.components.sales.sale_data import (
    PRICE,
    count,
    gtin,
    make_member,
    make_products,
    on_hand,
    past_sale,
    points,
    request,
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


def _levels(q: sales.Quote, line_no: int = 1, kind: str = "allergy") -> list[str]:
    return [a.level for a in q.lines[line_no - 1].alerts if a.kind == kind]


# ---------------------------------------------------------------- quote: allergies


@pytest.mark.parametrize(
    ("allergies", "sku", "level"),
    [
        (("penicillins",), "YS90002", "high"),  # cefalexin shares the aminopenicillin side chain
        (("penicillins",), "YS90003", "caution"),  # cefuroxime: low cross-reactivity
        (("nsaids",), "YS90004", "high"),  # aspirin: COX-1 inhibition
        (("penicillins",), "YS90005", None),  # amlodipine: nothing to say
    ],
)
async def test_allergy_matrix_through_quote(products: dict, allergies: tuple, sku: str, level: str | None) -> None:
    member_no = await make_member(allergies=allergies)
    q = await sales.quote(await request(member_no=member_no, lines=[(sku, 1)]), await actor())
    assert _levels(q)[:1] == ([level] if level else [])
    assert ("allergy_high" in q.blocker_codes) is (level == "high")
    if level == "high":
        assert q.conflicts and q.conflicts[0]["sku"] == sku
    if level == "caution":
        assert q.warnings and not q.conflicts


async def test_unknown_allergy_status_with_an_allergen_class_product_prompts_to_ask(products: dict) -> None:
    member_no = await make_member()
    q = await sales.quote(await request(member_no=member_no, lines=[("YS90001", 1), ("YS90007", 1)]), await actor())
    assert _levels(q, 1) == ["ask"]
    assert _levels(q, 2) == []  # vitamin C has no allergen class
    assert "allergy_high" not in q.blocker_codes


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
    rows = await fetch("SELECT detail, username FROM audit_event WHERE action = {}", sales.ALLERGY_OVERRIDE)
    assert len(rows) == 1 and "tolerated cefalexin in 2024" in rows[0]["detail"]
    assert rows[0]["username"] == "clerk"
    assert await audit.count(sales.ALLERGY_OVERRIDE) == 1


async def test_verify_pin_returns_the_pharmacist_and_refuses_a_wrong_pin_or_role(staff_ids) -> None:
    clerk = await actor("clerk")
    found = await sales.verify_pin(clerk, "pharmacist", "2468")
    assert (found.id, found.display_name) == (staff_ids["pharmacist"], "王药师")
    assert (await sales.verify_pin(clerk, "Manager", "2468")).id == staff_ids["manager"]
    for username, pin in (("pharmacist", "1111"), ("clerk", "2468"), ("nobody", "2468"), ("pharmacist2", "2468")):
        with pytest.raises(ValidationFailed) as bad:
            await sales.verify_pin(clerk, username, pin)
        assert "pin" in bad.value.errors


# ---------------------------------------------------------------- quote: duplicate therapy, Rx, tenders, discounts


async def test_two_products_of_one_atc_group_in_the_cart_warn_on_both(products: dict) -> None:
    member_no = await make_member(status="none")
    q = await sales.quote(await request(member_no=member_no, lines=[("YS90005", 1), ("YS90006", 1)]), await actor())
    assert _levels(q, 1, "duplicate") == ["caution"] and _levels(q, 2, "duplicate") == ["caution"]
    assert "C08CA" in q.lines[0].alerts[0].message
    assert q.can_checkout  # a warning, not a block


async def test_an_earlier_purchase_still_within_its_supply_warns(products: dict) -> None:
    member_no = await make_member(status="none")
    await sales.record_sale(await request("first", member_no=member_no, lines=[("YS90005", 1)]), await actor())
    q = await sales.quote(await request("second", member_no=member_no, lines=[("YS90006", 1)]), await actor())
    alerts = [a for a in q.lines[0].alerts if a.kind == "duplicate"]
    assert alerts and alerts[0].detail["source"] == "history"
    # 28 tablets at one a day: supply until today + 27.
    assert alerts[0].detail["until"] == (store_today() + timedelta(days=27)).isoformat()
    # Once the supply has run out, no warning.
    await fetch("UPDATE medication SET supply_until = {}", store_today() - timedelta(days=1))
    q = await sales.quote(await request("third", member_no=member_no, lines=[("YS90006", 1)]), await actor())
    assert not [a for a in q.lines[0].alerts if a.kind == "duplicate"]


async def test_rx_needs_a_prescription_verified_by_a_pharmacist(products: dict, staff_ids) -> None:
    req = await request(lines=[("YS90001", 1)])
    q = await sales.quote(req, await actor("clerk"))
    assert "rx_unverified" in q.blocker_codes and q.needs_rx
    unverified = replace(req, prescription=sales.Prescription("RX-9", "华山医院"))
    assert "rx_unverified" in (await sales.quote(unverified, await actor("clerk"))).blocker_codes
    by_clerk = replace(req, prescription=sales.Prescription("RX-9", "华山医院", verified_by=staff_ids["clerk"]))
    assert "rx_unverified" in (await sales.quote(by_clerk, await actor("clerk"))).blocker_codes
    with pytest.raises(ValidationFailed) as refused:
        await sales.record_sale(req, await actor("clerk"))
    assert "prescription" in refused.value.errors
    ok = replace(req, prescription=sales.Prescription("RX-9", "华山医院", verified_by=staff_ids["pharmacist"]))
    sale = (await sales.record_sale(ok, await actor("clerk"))).sale
    assert (sale.rx_number, sale.rx_hospital, sale.rx_verified_by_name) == ("RX-9", "华山医院", "王药师")


async def test_tender_short_is_a_blocker_and_cash_over_gives_change(products: dict) -> None:
    short = await request(lines=[("YS90007", 2)], tenders=[("cash", 1000)])
    q = await sales.quote(short, await actor())
    assert q.total == 1980 and q.due == 980 and "tender_short" in q.blocker_codes
    with pytest.raises(ValidationFailed) as refused:
        await sales.record_sale(short, await actor())
    assert "tenders" in refused.value.errors
    card_over = await request(lines=[("YS90007", 2)], tenders=[("wechat", 2000)])
    assert "tender_over" in (await sales.quote(card_over, await actor())).blocker_codes
    mixed = await request("pay", lines=[("YS90007", 2)], tenders=[("wechat", 980), ("cash", 2000)])
    sale = (await sales.record_sale(mixed, await actor())).sale
    assert (sale.total, sale.paid, sale.change_given) == (1980, 2980, 1000)
    assert [(t.kind, t.amount) for t in sale.tenders] == [("wechat", 980), ("cash", 2000)]


async def test_cash_is_capped_at_ten_times_the_total_or_the_total_and_one_100_note(products: dict) -> None:
    """More cash than that is a mistyped amount (an extra zero), refused next to the cash tender, never change."""
    clerk = await actor()

    async def quoted(total_lines: list, tenders: list) -> sales.Quote:
        return await sales.quote(await request(lines=total_lines, tenders=tenders), clerk)

    two = [("YS90007", 2)]  # ¥19.80: ten times is ¥198.00, more than the total and a ¥100 note
    assert (await quoted(two, [("cash", 19800)])).change == 19800 - 1980
    with pytest.raises(ValidationFailed) as refused, use_language("en"):
        await quoted(two, [("cash", 19801)])
    assert refused.value.errors == {"tenders.0.amount": "More cash than this sale can take: at most ¥198.00."}
    # The cap counts the cash only, and names the cash tender wherever it stands.
    assert (await quoted(two, [("wechat", 980), ("cash", 19800)])).change == 19800 - 1000
    with pytest.raises(ValidationFailed) as refused:
        await quoted(two, [("wechat", 980), ("cash", 19801)])
    assert set(refused.value.errors) == {"tenders.1.amount"}
    one = [("YS90007", 1)]  # ¥9.90: ten times is ¥99.00, less than the total and a ¥100 note (¥109.90)
    assert (await quoted(one, [("cash", 10990)])).change == 10000
    with pytest.raises(ValidationFailed) as refused, use_language("en"):
        await quoted(one, [("cash", 10991)])
    assert refused.value.errors == {"tenders.0.amount": "More cash than this sale can take: at most ¥109.90."}


async def test_a_single_payment_is_at_most_a_million_yuan(products: dict) -> None:
    clerk = await actor()
    at_most = await sales.quote(await request(tenders=[("wechat", bounds.MAX_FEN)]), clerk)
    assert "tender_over" in at_most.blocker_codes  # a card over the total: a blocker, not bad input
    with pytest.raises(ValidationFailed) as refused, use_language("en"):
        await sales.quote(await request(tenders=[("wechat", bounds.MAX_FEN + 1)]), clerk)
    assert refused.value.errors == {"tenders.0.amount": "A payment is at most ¥1000000.00."}


async def test_bad_input_names_the_field(products: dict) -> None:
    cases = [
        (await request(lines=[("6900000000000", 1)]), "lines.0.code"),  # bad check digit
        (await request(lines=[("YS99999", 1)]), "lines.0.code"),
        (await request(lines=[("YS90007", 0)], tenders=[("cash", 100)]), "lines.0.qty"),
        (await request(member_no="99999999", lines=[("YS90007", 1)]), "member_no"),
        (await request(lines=[("YS90007", 1)], tenders=[("cheque", 990)]), "tenders.0.kind"),
        (await request(lines=[]), "lines"),
    ]
    for req, field in cases:
        with pytest.raises(ValidationFailed) as bad:
            await sales.quote(req, await actor())
        assert field in bad.value.errors, (field, bad.value.errors)


async def test_a_line_discount_needs_a_discount_role(products: dict) -> None:
    req = await request(lines=[("YS90007", 1)], tenders=[("cash", 890)])
    req = replace(req, lines=[sales.LineRequest(code="YS90007", qty=1, line_discount=100)])
    assert "line_discount_forbidden" in (await sales.quote(req, await actor("clerk"))).blocker_codes
    q = await sales.quote(req, await actor("pharmacist"))
    assert q.can_checkout and q.total == 890 and q.line_discount == 100


async def test_scanning_a_gtin_resolves_the_product(products: dict) -> None:
    req = await request(lines=[(gtin("YS90007"), 3)], tenders=[("cash", 3 * PRICE["YS90007"])])
    q = await sales.quote(req, await actor())
    assert q.lines[0].product.sku == "YS90007" and q.total == 2970


async def test_a_store_role_may_not_sell_for_another_store(products: dict) -> None:
    req = replace(await request(), store_id=await store_id("SH002"))
    with pytest.raises(sales.NotPermitted):
        await sales.quote(req, await actor("clerk"))


# ---------------------------------------------------------------- record_sale


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
    outbox = await fetch("SELECT key, kind, payload FROM outbox")
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
    assert await count("outbox") == 1


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
    assert await count("sale") == 1 and await count("sale_line") == 2 and await count("outbox") == 1
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
    sold = [r for r in results if isinstance(r, sales.SaleResult)]
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


async def _coupon(code: str, value: int = 1000, threshold: int = 2000, restore: bool = True, sku: str = "") -> None:
    """A printed coupon: `value` fen off from `threshold`, on the whole cart or on one product (`sku`)."""
    rows = await fetch(
        "INSERT INTO coupon_template (code, name_zh, name_en, kind, value, threshold, scope, scope_value,"
        " per_member_limit, stackable, restore_on_return, active, created_at)"
        " VALUES ({}, '满20减10', '10 off 20', 'amount', {}, {}, {}, {}, 0, {}, {}, {}, CURRENT_TIMESTAMP)"
        " RETURNING id",
        f"T{code}",
        value,
        threshold,
        "product" if sku else "all",
        sku,
        False,
        restore,
        True,
    )
    await fetch(
        "INSERT INTO coupon (code, template, status, source, issued_at) VALUES ({}, {}, 'issued', 'printed',"
        " CURRENT_TIMESTAMP)",
        code,
        rows[0]["id"],
    )


async def test_a_coupon_is_shared_over_lines_redeemed_once_and_restored_by_a_full_return(products: dict) -> None:
    await _coupon("CPN1")
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
    await _coupon("SAME1")
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
    sold = [r for r in results if isinstance(r, sales.SaleResult)]
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


async def test_totals_due_and_change_at_the_edges(products: dict) -> None:
    lines = [("YS90007", 2), ("YS90005", 1)]  # 2 × 9.90 + 30.00 = 49.80
    exact = await sales.quote(await request(lines=lines), await actor())
    assert (exact.subtotal, exact.total, exact.paid, exact.due, exact.change) == (4980, 4980, 4980, 0, 0)
    assert [line.coupon_share for line in exact.lines] == [0, 0] and exact.coupon_discount == 0
    over = await sales.quote(await request(lines=lines, tenders=[("cash", 5000)]), await actor())
    assert (over.due, over.change) == (0, 20) and over.can_checkout
    with use_language("en"):
        short = await sales.quote(await request(lines=lines, tenders=[("cash", 4000)]), await actor())
    assert (short.due, short.change) == (980, 0)
    assert ("tender_short", "¥9.80 still to pay.") in short.blockers


async def test_change_comes_only_from_cash(products: dict) -> None:
    lines = [("YS90007", 2)]  # 19.80
    card_then_cash = await request(lines=lines, tenders=[("wechat", 1980), ("cash", 500)])
    q = await sales.quote(card_then_cash, await actor())
    assert (q.paid, q.change) == (2480, 500) and q.can_checkout
    card_over = await sales.quote(await request(lines=lines, tenders=[("alipay", 1981)]), await actor())
    assert card_over.change == 0 and "tender_over" in card_over.blocker_codes
    card_over_and_cash = await request(lines=lines, tenders=[("alipay", 1981), ("cash", 100)])
    assert (await sales.quote(card_over_and_cash, await actor())).change == 0


async def test_a_payment_is_a_positive_amount_and_points_need_a_member(products: dict) -> None:
    with use_language("en"):
        for amount in (0, -5):
            with pytest.raises(ValidationFailed) as bad:
                await sales.quote(await request(tenders=[("cash", amount), ("cash", 990)]), await actor())
            assert bad.value.errors == {"tenders.0.amount": "A payment is a positive amount."}
        with pytest.raises(ValidationFailed) as bad:
            await sales.quote(await request(tenders=[("points", 990)]), await actor())
        assert bad.value.errors == {"tenders.0.kind": "Paying with points needs a member."}
    one_fen = await sales.quote(await request(tenders=[("cash", 1), ("cash", 989)]), await actor())
    assert one_fen.can_checkout and one_fen.paid == 990


async def test_a_points_tender_is_whole_points_and_at_most_the_balance(products: dict) -> None:
    member_no = await make_member(status="none")
    member_id = await members.member_id(member_no)
    async with transaction():
        await loyalty.earn(member_id, "EARLIER", 200_000, store_today(), None, None)  # 2000 points or more
    balance = await points(member_no)
    lines = [("YS90007", 1)]  # 9.90
    with use_language("en"):
        q = await sales.quote(await request(member_no=member_no, lines=lines, tenders=[("points", 990)]), await actor())
        assert q.can_checkout and q.points_tender == 990  # 990 points at 100 a yuan
        await loyalty.save_rules(loyalty.LoyaltyRules(redeem_points_per_yuan=50), await actor("admin"))
        odd = await sales.quote(
            await request(member_no=member_no, lines=lines, tenders=[("points", 99), ("cash", 891)]), await actor()
        )
        assert ("points", "This amount cannot be paid in whole points.") in odd.blockers  # 49.5 points
        await loyalty.save_rules(loyalty.LoyaltyRules(redeem_points_per_yuan=200), await actor("admin"))
        whole = balance // 2  # fen the whole balance pays at 200 points a yuan
        big = [("YS90005", 40)]
        exact = await sales.quote(
            await request(member_no=member_no, lines=big, tenders=[("points", whole), ("cash", 120_000 - whole)]),
            await actor(),
        )
        assert exact.can_checkout, exact.blockers  # exactly the balance
        more = await sales.quote(
            await request(member_no=member_no, lines=big, tenders=[("points", whole + 1), ("cash", 119_999 - whole)]),
            await actor(),
        )
    needed = (whole + 1) * 2
    assert ("points", f"Not enough points: {needed} needed, {balance} available.") in more.blockers


async def test_a_coupon_counts_the_line_after_its_discount_and_shares_only_in_scope(products: dict) -> None:
    await _coupon("CPNAMLO", 500, threshold=3000, sku="YS90005")
    lines = [sales.LineRequest(code="YS90005", qty=1, line_discount=100), sales.LineRequest(code="YS90007", qty=1)]
    req = replace(await request(tenders=[("cash", 3890)]), lines=lines, coupon_codes=["CPNAMLO"])
    q = await sales.quote(req, await actor("pharmacist"))
    assert "coupon" in q.blocker_codes  # 30.00 − 1.00 is below the ¥30 threshold
    await _coupon("CPNAMLO2", 500, threshold=0, sku="YS90005")
    q = await sales.quote(replace(req, coupon_codes=["CPNAMLO2"]), await actor("pharmacist"))
    assert [(line.coupon_share, line.total) for line in q.lines] == [(500, 2400), (0, 990)]
    assert (q.coupon_discount, q.total) == (500, 3390)


async def test_a_coupon_share_is_never_above_its_line(products: dict) -> None:
    await _coupon("CPNBIG", 5000, threshold=0)
    req = replace(await request(tenders=[]), coupon_codes=["CPNBIG"])
    q = await sales.quote(req, await actor())
    assert [(line.coupon_share, line.total) for line in q.lines] == [(990, 0)]
    assert (q.coupon_discount, q.total, q.due, q.change) == (990, 0, 0, 0) and q.can_checkout


@pytest.mark.parametrize("exclude_rx", [False, True])
async def test_the_points_estimate_leaves_out_excluded_products_and_rx_by_rule(
    products: dict, exclude_rx: bool
) -> None:
    await loyalty.save_rules(loyalty.LoyaltyRules(exclude_rx=exclude_rx), await actor("admin"))
    member_no = await make_member(status="none")
    lines = [("YS90001", 1), ("YS90009", 1), ("YS90007", 1)]  # Rx 18.50, mask (no points) 5.00, OTC 9.90
    q = await sales.quote(await request(member_no=member_no, lines=lines), await actor())
    eligible = 990 if exclude_rx else 990 + 1850
    assert q.points_estimate == loyalty.points_for(eligible, q.rules, q.member.tier, q.on_date) > 0
