"""Points: earning rules, the ledger and its cache, FIFO expiry, returns, tiers, concurrent redemption."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.components import loyalty, members
from app.components.errors import ValidationFailed
from app.components.loyalty import DEFAULT_RULES, EligibleLine, LoyaltyRules
from app.db import fetch, transaction
from tests.components.sale_data import past_sale
from tests.conftest import actor


async def _member(name: str = "积分") -> int:
    view = await members.register(members.NewMember(name=name), await actor())
    return await members.member_id(view.member_no)


async def _earn(member_id: int, sale_no: str, fen: int, on: date) -> int:
    async with transaction():
        return await loyalty.earn(member_id, sale_no, fen, on, None, await actor())


async def _redeem(member_id: int, points: int, sale_no: str) -> int:
    async with transaction():
        return await loyalty.redeem(member_id, points, sale_no, None, await actor())


# ---------------------------------------------------------------- pure rules


@pytest.mark.parametrize(
    ("fen", "tier", "on", "points"),
    [
        (12_345, "regular", date(2026, 3, 15), 123),  # ¥123.45 → 123 points, rounded down
        (12_345, "regular", date(2026, 3, 8), 246),  # member day ×2
        (10_000, "silver", date(2026, 3, 15), 120),
        (10_000, "gold", date(2026, 3, 8), 300),  # ×2 × ×1.5
        (10_050, "silver", date(2026, 3, 15), 120),  # 100.5 × 1.2 = 120.6 → 120
        (10_000, "diamond", date(2026, 3, 8), 400),
        (99, "diamond", date(2026, 3, 15), 1),
        (0, "diamond", date(2026, 3, 8), 0),
        (-500, "regular", date(2026, 3, 15), 0),
    ],
)
def test_points_multiply_rate_member_day_and_tier_and_round_down(fen: int, tier: str, on: date, points: int) -> None:
    assert loyalty.points_for(fen, DEFAULT_RULES, tier, on) == points


def test_eligible_amount_skips_excluded_products_and_rx_only_when_configured() -> None:
    lines = [EligibleLine(1000), EligibleLine(2000, rx=True), EligibleLine(500, points_excluded=True)]
    assert loyalty.eligible_amount(lines) == 3000
    assert loyalty.eligible_amount(lines, LoyaltyRules(exclude_rx=True)) == 1000


@pytest.mark.parametrize(
    ("earned", "last_day"),
    [
        (date(2026, 3, 15), date(2027, 3, 31)),
        (date(2026, 1, 1), date(2027, 1, 31)),
        (date(2026, 12, 31), date(2027, 12, 31)),
        (date(2027, 2, 10), date(2028, 2, 29)),
    ],
)
def test_points_expire_at_the_end_of_the_twelfth_month_after_earning(earned: date, last_day: date) -> None:
    assert loyalty.expiry_for(earned) == last_day


def test_the_tier_follows_the_spend_thresholds() -> None:
    assert [DEFAULT_RULES.tier_for_spend(f) for f in (0, 199_999, 200_000, 500_000, 1_000_000)] == [
        "regular",
        "regular",
        "silver",
        "gold",
        "diamond",
    ]


def test_the_rules_form_rejects_bad_values_field_by_field() -> None:
    form = loyalty.rules_form(DEFAULT_RULES)
    assert loyalty.parse_rules(form) == DEFAULT_RULES
    with pytest.raises(ValidationFailed) as exc:
        loyalty.parse_rules({**form, "points_per_yuan": "x", "gold_multiplier": "0.5", "silver_yuan": "-3"})
    assert set(exc.value.errors) == {"points_per_yuan", "gold_multiplier", "silver_yuan"}
    with pytest.raises(ValidationFailed) as exc:
        loyalty.parse_rules({**form, "gold_yuan": "20000"})
    assert "gold_yuan" in exc.value.errors


async def test_saved_rules_change_earning_and_are_audited() -> None:
    admin = await actor("admin")
    new = LoyaltyRules(points_per_yuan=2, member_day=0)
    assert await loyalty.save_rules(new, admin) == ["points_per_yuan", "member_day"]
    assert await loyalty.rules() == new
    assert await loyalty.save_rules(new, admin) == []
    audited = await fetch("SELECT detail FROM audit_event WHERE action = {}", loyalty.RULES_CHANGE)
    assert len(audited) == 1 and "points_per_yuan: 1 → 2" in audited[0]["detail"]
    member = await _member()
    assert await _earn(member, "S1", 10_000, date(2026, 3, 8)) == 200  # no member day any more, rate 2


# ---------------------------------------------------------------- the ledger


async def test_earning_is_idempotent_by_sale_and_the_cache_follows_the_ledger() -> None:
    member = await _member()
    assert await _earn(member, "S1", 10_000, date(2026, 3, 15)) == 100
    assert await _earn(member, "S1", 10_000, date(2026, 3, 15)) == 100
    assert await loyalty.balance(member) == 100
    rows = await fetch("SELECT kind, points, expires_on FROM points_entry WHERE member = {}", member)
    assert len(rows) == 1 and rows[0]["kind"] == "earn"
    assert loyalty._as_date(rows[0]["expires_on"]) == date(2027, 3, 31)
    assert await loyalty.check_balances() == []


async def test_check_balances_finds_a_cache_that_drifted() -> None:
    member = await _member()
    await _earn(member, "S1", 10_000, date(2026, 3, 15))
    await fetch("UPDATE member_loyalty SET balance = 7 WHERE member = {}", member)
    assert [(r["member"], r["cached"], r["ledger"]) for r in await loyalty.check_balances()] == [(member, 7, 100)]


async def test_redeeming_pays_fen_and_cannot_overdraw() -> None:
    member = await _member()
    await _earn(member, "S1", 50_000, date(2026, 3, 15))
    assert await _redeem(member, 300, "S2") == 300  # 100 points = ¥1
    assert await _redeem(member, 300, "S2") == 300  # a retry of the same sale takes nothing more
    assert await loyalty.balance(member) == 200
    with pytest.raises(ValidationFailed) as exc:
        await _redeem(member, 201, "S3")
    assert "200" in exc.value.errors["points"]
    with pytest.raises(ValidationFailed):
        await _redeem(member, 0, "S4")
    assert await loyalty.balance(member) == 200


async def test_gifts_take_points_once_per_key() -> None:
    member = await _member()
    await _earn(member, "S1", 50_000, date(2026, 3, 15))
    assert await loyalty.redeem_gift(member, 120, "保温杯", "gift-1", await actor()) == 120
    assert await loyalty.redeem_gift(member, 120, "保温杯", "gift-1", await actor()) == 120
    assert await loyalty.balance(member) == 380


@pytest.mark.parametrize("round_", range(2))
async def test_concurrent_redemptions_never_take_the_balance_below_zero(round_: int) -> None:
    member = await _member()
    await _earn(member, "S1", 50_000, date(2026, 3, 15))  # 500 points

    async def attempt(i: int) -> bool:
        try:
            await _redeem(member, 200, f"R{round_}-{i}")
            return True
        except ValidationFailed:
            return False

    results = await asyncio.gather(*(attempt(i) for i in range(8)))
    assert sum(results) == 2
    assert await loyalty.balance(member) == 100
    assert await loyalty.check_balances() == []


# ---------------------------------------------------------------- returns


async def test_a_return_restores_redeemed_points_and_reverses_earned_ones() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2026, 3, 15))  # 300
    await _redeem(member, 100, "S2")
    await _earn(member, "S2", 20_000, date(2026, 4, 15))  # 200 → balance 400
    async with transaction():
        result = await loyalty.reverse_for_return(member, "S2", "T1", 200, 100, None, await actor())
    assert result == (200, 100)
    async with transaction():  # a retry changes nothing
        assert await loyalty.reverse_for_return(member, "S2", "T1", 200, 100, None, await actor()) == (200, 100)
    assert await loyalty.balance(member) == 300
    rows = {
        r["kind"]: r for r in await fetch("SELECT kind, points, expires_on FROM points_entry WHERE member = {}", member)
    }
    assert loyalty._as_date(rows["reverse"]["expires_on"]) == date(2027, 4, 30)  # the sale's own lot
    assert loyalty._as_date(rows["restore"]["expires_on"]) == loyalty.expiry_for(members.store_today())
    assert await loyalty.check_balances() == []


async def test_a_return_never_takes_the_balance_below_zero() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2026, 3, 15))  # 300
    await _redeem(member, 250, "S9")
    async with transaction():
        reversed_, restored = await loyalty.reverse_for_return(member, "S1", "T1", 300, 0, None, await actor())
    assert (reversed_, restored) == (50, 0)  # the 250 shortfall is simply not reversed
    assert await loyalty.balance(member) == 0


async def test_a_return_cannot_reverse_more_than_the_sale_earned() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2026, 3, 15))
    await _earn(member, "S2", 30_000, date(2026, 3, 16))
    async with transaction():
        assert await loyalty.reverse_for_return(member, "S1", "T1", 200, 0, None, None) == (200, 0)
    async with transaction():
        assert await loyalty.reverse_for_return(member, "S1", "T2", 200, 50, None, None) == (100, 0)
    assert await loyalty.balance(member) == 300


# ---------------------------------------------------------------- expiry


async def test_expiry_takes_only_unused_points_of_old_lots_and_runs_once() -> None:
    member = await _member()
    other = await _member("其他")
    await _earn(member, "S1", 30_000, date(2025, 1, 10))  # 300, last day 2026-01-31
    await _earn(member, "S2", 20_000, date(2025, 6, 10))  # 200, last day 2026-06-30
    await _redeem(member, 120, "S3")  # taken from the oldest lot
    await _earn(other, "S4", 10_000, date(2025, 12, 1))  # not yet expired
    assert await loyalty.expiring(member, date(2026, 1, 15)) == [(date(2026, 1, 31), 180), (date(2026, 6, 30), 200)]
    assert await loyalty.expire_points(date(2026, 2, 1)) == 1
    assert await loyalty.expire_points(date(2026, 2, 1)) == 0
    assert await loyalty.balance(member) == 200
    assert await loyalty.balance(other) == 100
    assert await loyalty.expiring(member, date(2026, 2, 1)) == [(date(2026, 6, 30), 200)]
    await _redeem(member, 50, "S5")
    assert await loyalty.expire_points(date(2026, 7, 1)) == 1
    assert await loyalty.balance(member) == 0
    assert await loyalty.expire_points(date(2026, 7, 2)) == 0
    assert await loyalty.check_balances() == []
    statement = await loyalty.statement(member, today=date(2026, 7, 2))
    assert [e["kind"] for e in statement.entries][:2] == ["expire", "redeem"]
    assert statement.balance == 0 and statement.expiring == []


async def test_a_reversed_lot_expires_only_what_is_left() -> None:
    member = await _member()
    await _earn(member, "S1", 30_000, date(2025, 1, 10))
    async with transaction():
        await loyalty.reverse_for_return(member, "S1", "T1", 100, 0, None, None)
    assert await loyalty.expire_points(date(2026, 2, 1)) == 1
    assert await loyalty.balance(member) == 0


# ---------------------------------------------------------------- tiers


async def test_earning_upgrades_the_tier_at_once_from_rolling_spend() -> None:
    member = await _member()
    await past_sale(member, "OLD", 900_000, days_ago=400)  # outside the 12 months
    await past_sale(member, "S1", 150_000, days_ago=30)
    assert await _earn(member, "S1", 150_000, date(2026, 3, 15)) == 1500
    assert await loyalty.tier_of(member) == "regular"
    await past_sale(member, "S2", 60_000)
    assert await _earn(member, "S2", 10_000, date(2026, 3, 15)) == 120  # silver already applies to this sale
    assert await loyalty.tier_of(member) == "silver"
    await past_sale(member, "S3", 1_000)
    assert await _earn(member, "S3", 1_000, date(2026, 4, 2)) == 12  # still silver: the tier's date stays
    assert await _earn(member, "S3", 1_000, date(2026, 4, 2)) == 12  # a retry credits nothing more
    row = (await fetch("SELECT tier_since, balance FROM member_loyalty WHERE member = {}", member))[0]
    assert str(row["tier_since"]) == "2026-03-15" and row["balance"] == 1500 + 120 + 12


async def test_the_yearly_review_downgrades_set_based_and_only_once_a_year() -> None:
    spender, idle = await _member("常客"), await _member("沉睡")
    await past_sale(spender, "S1", 600_000, days_ago=10)
    await _earn(spender, "S1", 1000, date(2026, 3, 15))
    await _earn(idle, "S0", 1000, date(2026, 3, 15))
    last_year = date(2025, 6, 1)
    await fetch("UPDATE member_loyalty SET tier = 'diamond', reviewed_on = {}", last_year)
    today = date(2026, 1, 2)
    assert await loyalty.review_tiers(today) == 2
    tiers = {r["member"]: r["tier"] for r in await fetch("SELECT member, tier FROM member_loyalty")}
    assert tiers == {spender: "gold", idle: "regular"}
    await fetch("UPDATE member_loyalty SET tier = 'diamond' WHERE member = {}", idle)
    assert await loyalty.review_tiers(today) == 0  # already reviewed this year
    assert await loyalty.tier_of(idle) == "diamond"


def test_the_review_date_is_configurable() -> None:
    r = LoyaltyRules(review_month=4, review_day=1)
    assert r.last_review(date(2026, 3, 31)) == date(2025, 4, 1)
    assert r.last_review(date(2026, 4, 1)) == date(2026, 4, 1)


# ---------------------------------------------------------------- the ledger property


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.integers(0, 40_000), st.integers(0, 500)),
        st.tuples(st.just("redeem"), st.integers(1, 600), st.just(0)),
        st.tuples(st.just("return"), st.integers(0, 400), st.integers(0, 400)),
        st.tuples(st.just("expire"), st.integers(0, 500), st.just(0)),
    ),
    max_size=12,
)


@settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
async def test_any_sequence_keeps_balance_equal_to_the_ledger_and_never_negative(ops: list[tuple]) -> None:
    member = await _member("性质")
    start = date(2025, 1, 1)
    sales: list[str] = []
    for n, (op, a, b) in enumerate(ops):
        if op == "earn":
            sales.append(f"P{member}-{n}")
            await _earn(member, sales[-1], a, start + timedelta(days=b))
        elif op == "redeem":
            try:
                await _redeem(member, a, f"P{member}-{n}")
                sales.append(f"P{member}-{n}")
            except ValidationFailed:
                pass
        elif op == "return" and sales:
            async with transaction():
                reversed_, restored = await loyalty.reverse_for_return(
                    member, sales[a % len(sales)], f"T{member}-{n}", a, b, None, None
                )
            assert reversed_ >= 0 and restored >= 0
        elif op == "expire":
            await loyalty.expire_points(start + timedelta(days=a * 2))
        total = await loyalty.balance(member)
        assert total >= 0
        cached = await fetch("SELECT balance FROM member_loyalty WHERE member = {}", member)
        assert not cached or cached[0]["balance"] == total
        # What the member is shown as expiring (same FIFO) accounts for every point of the balance.
        assert sum(p for _d, p in await loyalty.expiring(member, start)) == total
    assert await loyalty.check_balances() == []
