"""Coupons: templates with field errors, issuing idempotently, evaluating a cart, redeeming at most once."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from app.components import members
from app.components.core.errors import NotFound, ValidationFailed
from app.components.coupons import CouponLine, NewTemplate
from app.components.coupons import issuing as coupons
from app.db import fetch, transaction
from app.i18n import use_language
from tests.conftest import actor

TODAY = date(2026, 11, 30)
LINES = [
    CouponLine(1, 11, "YS00001", "感冒/流感", 3000),
    CouponLine(2, 12, "YS00002", "感冒/流感", 2000),
    CouponLine(3, 13, "YS00003", "维矿物质", 1001),
]


async def _member(name: str = "券") -> int:
    view = await members.register(members.NewMember(name=name), await actor())
    return await members.member_id(view.member_no)


async def _template(code: str, **kw: str) -> coupons.TemplateView:
    form = NewTemplate(**{"code": code, "name_zh": f"券{code}", "value": "10", **kw})
    return await coupons.create_template(form, await actor("admin"))


async def _printed(code: str, **kw: str) -> str:
    await _template(code, **kw)
    return (await coupons.print_codes(code, 1, await actor("admin")))[0].code


def test_codes_are_long_random_and_unambiguous() -> None:
    codes = {coupons.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 12 and not set(c) & set("01OIL") for c in codes)


def test_shares_follow_the_amounts_and_sum_exactly() -> None:
    assert coupons.share(1000, {1: 3000, 2: 2000, 3: 1001}) == {1: 500, 2: 333, 3: 167}
    assert sum(coupons.share(7, {1: 1, 2: 1, 3: 1}).values()) == 7
    assert coupons.share(0, {1: 5}) == {1: 0}


async def test_a_bad_template_gets_one_message_per_field() -> None:
    bad = NewTemplate(
        code="?", name_zh="", kind="percent", value="120", threshold="abc", scope="product", scope_value="NOPE",
        valid_from="2026-12-31", valid_to="2026-01-01", valid_days="0", per_member_limit="x",
    )  # fmt: skip
    with pytest.raises(ValidationFailed) as exc:
        await coupons.create_template(bad, await actor("admin"))
    assert set(exc.value.errors) == {
        "code", "name_zh", "value", "threshold", "scope_value", "valid_to", "valid_days", "per_member_limit",
    }  # fmt: skip
    await _template("TEN")
    with pytest.raises(ValidationFailed) as exc:
        await _template("TEN")
    assert "code" in exc.value.errors
    audited = await fetch("SELECT detail FROM audit_event WHERE action = {}", coupons.TEMPLATE_CREATE)
    assert [r["detail"] for r in audited] == ["TEN"]


async def test_issue_is_idempotent_by_source_key_and_respects_the_member_limit() -> None:
    member = await _member()
    await _template("BDAY", valid_days="30", per_member_limit="2")
    first = await coupons.issue("BDAY", member, "birthday", "birthday:2026", None)
    again = await coupons.issue("BDAY", member, "birthday", "birthday:2026", None)
    assert first == again
    assert first.valid_to == first.valid_from + timedelta(days=29)
    await coupons.issue("BDAY", member, "campaign", "camp:1", None)
    with pytest.raises(ValidationFailed):
        await coupons.issue("BDAY", member, "campaign", "camp:2", None)
    with pytest.raises(NotFound):
        await coupons.issue("NOPE", member, "campaign", "camp:3", None)
    assert len(await coupons.wallet(member, first.valid_from)) == 2


async def test_concurrent_issues_with_one_key_make_one_coupon() -> None:
    member = await _member()
    await _template("ONCE", per_member_limit="0")
    results = await asyncio.gather(*(coupons.issue("ONCE", member, "journey", "j:1", None) for _ in range(6)))
    assert len({r.code for r in results}) == 1
    assert (await fetch("SELECT COUNT(*) AS n FROM coupon"))[0]["n"] == 1


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


async def test_redeeming_twice_fails_and_a_retry_of_the_same_sale_does_not() -> None:
    code = await _printed("ONE")
    async with transaction():
        await coupons.redeem_coupons([code], None, 41, None)
    async with transaction():
        await coupons.redeem_coupons([code], None, 41, None)
    with pytest.raises(ValidationFailed) as exc:
        async with transaction():
            await coupons.redeem_coupons([code], None, 42, None)
    assert "coupon" in exc.value.errors


@pytest.mark.parametrize("round_", range(2))
async def test_ten_counters_redeeming_one_printed_coupon_exactly_one_wins(round_: int) -> None:
    code = await _printed(f"RACE{round_}")

    async def attempt(sale_id: int) -> bool:
        try:
            async with transaction():
                await coupons.redeem_coupons([code], None, sale_id, None)
            return True
        except ValidationFailed:
            return False

    results = await asyncio.gather(*(attempt(100 + i) for i in range(10)))
    assert sum(results) == 1
    rows = await fetch("SELECT status FROM coupon WHERE code = {}", code)
    assert rows[0]["status"] == "redeemed"


async def test_a_return_restores_coupons_whose_template_says_so() -> None:
    keep = await _printed("KEEP")
    gone = await _printed("GONE", restore_on_return="")
    async with transaction():
        await coupons.redeem_coupons([keep, gone], None, 7, None)
    async with transaction():
        assert await coupons.restore_coupons(7, None) == [keep]
    result = await coupons.evaluate([keep, gone], None, LINES, TODAY)
    assert result.codes == [keep] and gone in result.errors


async def test_the_per_member_limit_counts_redeemed_printed_codes() -> None:
    member = await _member()
    await _template("LIM", per_member_limit="1", stackable="1")
    first, second = (c.code for c in await coupons.print_codes("LIM", 2, await actor("admin")))
    both = await coupons.evaluate([first, second], member, LINES, TODAY)
    assert both.codes == [first] and second in both.errors
    async with transaction():
        await coupons.redeem_coupons([first], member, 9, None)
    later = await coupons.evaluate([second], member, LINES, TODAY)
    assert second in later.errors


async def test_print_codes_with_a_batch_key_does_not_print_twice() -> None:
    await _template("PB")
    first = await coupons.print_codes("PB", 3, await actor("admin"), batch_key="b1")
    again = await coupons.print_codes("PB", 3, await actor("admin"), batch_key="b1")
    assert first == again and len({c.code for c in first}) == 3
    with pytest.raises(ValidationFailed):
        await coupons.print_codes("PB", 0, await actor("admin"))


async def test_demo_templates_are_seeded_once() -> None:
    assert await coupons.seed_demo_coupons() == len(coupons.DEMO_TEMPLATES)
    assert await coupons.seed_demo_coupons() == len(coupons.DEMO_TEMPLATES)
    assert (await coupons.get_template("new10")).benefit


async def test_concurrent_issues_with_different_keys_respect_the_member_limit() -> None:
    member = await _member()
    await _template("LIMIT2", per_member_limit="2")

    async def attempt(i: int) -> bool:
        try:
            await coupons.issue("LIMIT2", member, "campaign", f"c:{i}", None)
            return True
        except ValidationFailed:
            return False

    assert sum(await asyncio.gather(*(attempt(i) for i in range(6)))) == 2


async def test_store_staff_issue_only_to_their_own_stores_members() -> None:
    await _template("SHOP", per_member_limit="0")
    own = await _member("本店")
    far = await members.register(members.NewMember(name="他店", store_code="SH002"), await actor("admin"))
    far_id = await members.member_id(far.member_no)
    manager = await actor("manager")
    assert (await coupons.issue("SHOP", own, "manual", "s1", manager)).code
    with pytest.raises(ValidationFailed) as exc:
        await coupons.issue("SHOP", far_id, "manual", "s2", manager)
    assert set(exc.value.errors) == {"member_no"} and far.member_no in exc.value.errors["member_no"]
    assert (await coupons.issue("SHOP", far_id, "manual", "s3", await actor("admin"))).code  # HQ: any store
    assert (await coupons.issue("SHOP", far_id, "journey", "s4", None)).code  # the worker: any store
    held = await fetch("SELECT source_key FROM coupon WHERE member = {} ORDER BY source_key", far_id)
    assert [r["source_key"] for r in held] == ["s3", "s4"]


async def test_a_category_scope_is_one_of_the_catalogs_categories_shown_in_the_current_language() -> None:
    made = await _template("VITS", scope="category", scope_value="vitamins & minerals")  # the English label
    assert made.scope_value == "维矿物质"
    with use_language("en"):
        assert made.scope_text == "category Vitamins & minerals"
    with use_language("zh_CN"):
        assert made.scope_text == "类别：维矿物质"
    with pytest.raises(ValidationFailed) as exc:
        await _template("NOCAT", scope="category", scope_value="vitamin")
    assert set(exc.value.errors) == {"scope_value"}


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
