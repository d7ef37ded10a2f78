"""The quote: prices, allergy and duplicate-therapy alerts, blockers, totals, tenders and change, coupon shares and the
points estimate, against the real database (nothing written)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.components import loyalty, members, sales
from app.components.core import bounds
from app.components.core.clock import store_today
from app.components.core.errors import ValidationFailed
from app.components.sales import quote as quotes
from app.db import fetch, transaction
from app.i18n import use_language
from tests.components.sales.sale_data import (
    PRICE,
    gtin,
    make_member,
    make_products,
    points,
    printed_coupon,
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


def _levels(q: quotes.Quote, line_no: int = 1, kind: str = "allergy") -> list[str]:
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

    async def quoted(total_lines: list, tenders: list) -> quotes.Quote:
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
    await printed_coupon("CPNAMLO", 500, threshold=3000, sku="YS90005")
    lines = [sales.LineRequest(code="YS90005", qty=1, line_discount=100), sales.LineRequest(code="YS90007", qty=1)]
    req = replace(await request(tenders=[("cash", 3890)]), lines=lines, coupon_codes=["CPNAMLO"])
    q = await sales.quote(req, await actor("pharmacist"))
    assert "coupon" in q.blocker_codes  # 30.00 − 1.00 is below the ¥30 threshold
    await printed_coupon("CPNAMLO2", 500, threshold=0, sku="YS90005")
    q = await sales.quote(replace(req, coupon_codes=["CPNAMLO2"]), await actor("pharmacist"))
    assert [(line.coupon_share, line.total) for line in q.lines] == [(500, 2400), (0, 990)]
    assert (q.coupon_discount, q.total) == (500, 3390)


async def test_a_coupon_share_is_never_above_its_line(products: dict) -> None:
    await printed_coupon("CPNBIG", 5000, threshold=0)
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
