"""What coupons do to a cart: shares, thresholds, percent rounding, stacking, an error per code."""

from __future__ import annotations

from app.components import coupons
from app.components.coupons import CouponLine
from app.db import transaction
from app.i18n import use_language
from tests.components.coupons.coupon_data import LINES, TODAY, _member, _printed, _template
from tests.conftest import actor


def test_shares_follow_the_amounts_and_sum_exactly() -> None:
    assert coupons.share(1000, {1: 3000, 2: 2000, 3: 1001}) == {1: 500, 2: 333, 3: 167}
    assert sum(coupons.share(7, {1: 1, 2: 1, 3: 1}).values()) == 7
    assert coupons.share(0, {1: 5}) == {1: 0}


async def test_amount_coupon_is_shared_proportionally_over_its_scope() -> None:
    code = await _printed("COLD5", scope="category", scope_value="感冒/流感", threshold="40")
    result = await coupons.evaluate([code.lower()], None, LINES, TODAY)
    assert result.errors == {}
    assert result.total == 1000
    assert result.per_line == {1: 600, 2: 400}


async def test_threshold_is_checked_on_the_in_scope_amount() -> None:
    code = await _printed("COLD60", scope="category", scope_value="感冒/流感", threshold="60")
    with use_language("en"):
        result = await coupons.evaluate([code], None, LINES, TODAY)
    assert result.total == 0
    assert result.errors[code] == f"Coupon {code} needs ¥60.00 of eligible items; the cart has ¥50.00."


async def test_percent_rounds_down_and_never_exceeds_the_scope() -> None:
    pct = await _printed("PCT15", kind="percent", value="15")
    result = await coupons.evaluate([pct], None, [CouponLine(1, 1, "A", "x", 999)], TODAY)
    assert result.total == 149  # 149.85 → 149


async def test_amount_off_is_capped_at_what_is_in_scope() -> None:
    code = await _printed("VIT", scope="category", scope_value="维矿物质", value="50")
    result = await coupons.evaluate([code], None, LINES, TODAY)
    assert result.total == 1001 and result.per_line == {3: 1001}


async def test_one_non_stackable_coupon_and_any_stackable_ones() -> None:
    a = await _printed("A1")
    b = await _printed("B1")
    s1 = await _printed("S1", stackable="1")
    s2 = await _printed("S2", kind="percent", stackable="1")
    with use_language("en"):
        result = await coupons.evaluate([a, s1, b, s2], None, LINES, TODAY)
    assert result.codes == [a, s1, s2]
    assert result.errors == {b: f"Coupon {b} cannot be combined with {a}."}
    # ¥10 + ¥10 off 60.01, then 10% of the remaining 40.01 = 4.00
    assert result.total == 1000 + 1000 + 400
    assert sum(result.per_line.values()) == result.total


async def test_each_code_gets_its_own_error() -> None:
    member, other = await _member(), await _member("别人")
    await _template("M1")
    theirs = (await coupons.issue("M1", other, "manual", "k1", None)).code
    used = await _printed("U1")
    async with transaction():
        await coupons.redeem_coupons([used], None, 1, None)
    await _template("LATE", valid_from="2027-01-01")
    late = (await coupons.print_codes("LATE", 1, await actor("admin")))[0].code
    await _template("OLD", valid_to="2026-01-01")
    old = (await coupons.print_codes("OLD", 1, await actor("admin")))[0].code
    with use_language("en"):
        result = await coupons.evaluate(["nope", theirs, used, late, old], member, LINES, TODAY)
        anonymous = await coupons.evaluate([theirs], None, LINES, TODAY)
    assert result.errors == {
        "NOPE": "Unknown coupon code NOPE.",
        theirs: f"Coupon {theirs} belongs to another member.",
        used: f"Coupon {used} has already been used.",
        late: f"Coupon {late} is not valid until 2027-01-01.",
        old: f"Coupon {old} expired on 2026-01-01.",
    }
    assert "scan their card" in anonymous.errors[theirs]
    with use_language("zh_CN"):
        zh = await coupons.evaluate(["nope"], member, LINES, TODAY)
    assert zh.errors["NOPE"]


def test_a_share_of_nothing_or_over_nothing_is_nothing() -> None:
    assert coupons.share(5, {1: 1}) == {1: 5}
    assert coupons.share(1, {1: 3, 2: 1}) == {1: 1, 2: 0}
    assert coupons.share(100, {1: 0, 2: 0}) == {1: 0, 2: 0}  # free lines take no share
    assert coupons.share(-5, {1: 1}) == {1: 0}


async def test_a_threshold_met_exactly_applies() -> None:
    code = await _printed("COLD50", scope="category", scope_value="感冒/流感", threshold="50")
    result = await coupons.evaluate([code], None, LINES, TODAY)
    assert result.errors == {} and result.total == 1000


async def test_a_free_line_gets_no_share_and_does_not_count_towards_the_threshold() -> None:
    code = await _printed("TEN", threshold="10")
    free, paid = CouponLine(1, 11, "YS00001", "感冒/流感", 0), CouponLine(2, 12, "YS00002", "感冒/流感", 1000)
    result = await coupons.evaluate([code], None, [free, paid], TODAY)
    assert result.errors == {} and result.per_line == {2: 1000}
    assert result.applied[0].lines == {2: 1000}  # the coupon names only the lines it took money from
    above = await _printed("TENPLUS", threshold="10.01")
    with use_language("en"):
        refused = await coupons.evaluate([above], None, [free, paid], TODAY)
    assert refused.errors == {above: f"Coupon {above} needs ¥10.01 of eligible items; the cart has ¥10.00."}


async def test_a_percent_coupon_worth_less_than_a_fen_is_refused_and_one_fen_is_given() -> None:
    tiny = await _printed("P5", kind="percent", value="5")
    with use_language("en"):
        result = await coupons.evaluate([tiny], None, [CouponLine(1, 1, "A", "x", 19)], TODAY)
    assert result.total == 0 and result.errors == {tiny: f"Coupon {tiny} leaves nothing to discount."}
    assert result.applied == [] and result.per_line == {}
    one = await _printed("P10", kind="percent", value="10")
    result = await coupons.evaluate([one], None, [CouponLine(1, 1, "A", "x", 15)], TODAY)
    assert result.errors == {} and result.total == 1 and result.per_line == {1: 1}


async def test_the_per_member_limit_counts_the_coupons_in_the_cart() -> None:
    member = await _member()
    await _template("TWO", per_member_limit="2", stackable="1")
    first, second, third = (c.code for c in await coupons.print_codes("TWO", 3, await actor("admin")))
    result = await coupons.evaluate([first, second, third], member, LINES, TODAY)
    assert result.codes == [first, second] and list(result.errors) == [third]


async def test_a_coupon_never_discounts_a_prescription_product_and_its_amount_does_not_meet_the_threshold() -> None:
    code = await _printed("BASKET5", threshold="30")
    rx, otc = CouponLine(1, 21, "YS00021", "心脑血管", 5000, rx=True), CouponLine(2, 22, "YS00022", "维矿物质", 2000)
    with use_language("en"):
        short = await coupons.evaluate([code], None, [rx, otc], TODAY)
    assert short.total == 0  # ¥50 of Rx does not count towards the ¥30 threshold
    assert short.errors[code] == f"Coupon {code} needs ¥30.00 of eligible items; the cart has ¥20.00."
    only_rx = await coupons.evaluate([code], None, [rx], TODAY)
    assert only_rx.total == 0 and code in only_rx.errors
    plain = await _printed("PLAIN5")
    result = await coupons.evaluate([plain], None, [rx, otc], TODAY)
    assert result.per_line == {2: 1000}  # the whole ¥10 off the vitamins, nothing off the Rx line
